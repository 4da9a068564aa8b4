//! Online backup: a consistent copy of the live database in a new directory, taken while the
//! server keeps serving reads *and* writes, usable as a `--data-dir` as it is.
//!
//! sled has no snapshot, and a copy of its files while it writes can be unusable, so the copy
//! is logical, in three steps:
//! 1. Between two batches, the store writer starts noting every key it writes.
//! 2. Off the writer, every record is copied into a fresh sled database (a "fuzzy" copy: keys
//!    written meanwhile may be copied old or new).
//! 3. Between two batches again, each noted key is copied once more (or removed) from the
//!    live database. Keys nobody wrote during step 2 were copied as they are now, the others
//!    are now too: the copy is exactly the durable state at that moment, whose log head the
//!    backup reports. Writes wait only for step 3, which is as long as step 2's changes.
//!
//! The copy also gets an id counter above every id the source had handed out, since sled's
//! counter lives outside the records. It is built in a hidden sibling directory, fsynced and
//! renamed into place, so a crash never leaves a half backup under the target's name; such a
//! hidden partial directory is removed at the next backup (and at the server's next start).
//! Everything a backup creates is the owner's only (0700 directories, 0600 files): it holds
//! password hashes and order history. A symbolic link as the target is refused before anything
//! is copied.

use super::{fsync, writer, StorageError, Store};
use std::collections::HashSet;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Records per sled batch while copying.
const COPY_BATCH: usize = 10_000;
/// sled 0.34's default `idgen_persist_interval`.
const SLED_IDGEN_STEP: u64 = 1_000_000;
/// The manifest written beside sled's files.
pub const MANIFEST: &str = "BACKUP.json";
/// Modes of what a backup creates: the owner's only.
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
/// In the name of a backup's hidden partial directory: `.{name}.partial-{pid}`.
const PARTIAL: &str = ".partial-";

/// What a backup contains.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backup {
    pub path: PathBuf,
    /// Every event up to this sequence number, and the state after it: every write
    /// acknowledged before the backup began, and some acknowledged while it ran.
    pub head_seq: u64,
    /// Records copied.
    pub records: u64,
    /// Keys written while the copy ran, copied again at the end.
    pub changed_during_copy: u64,
    /// Ids in the copy are below this; the copy hands out only higher ones.
    pub id_floor: u64,
    /// When the backup's state was taken (Unix milliseconds).
    pub taken_at: u64,
}

/// Why a backup target is refused.
fn refuse(msg: String) -> StorageError {
    StorageError::BackupRefused(msg)
}

/// Checks that `to` may receive a backup: absent, or an empty directory, in an existing one;
/// never a symbolic link (dangling or not), which the copy would be renamed onto or through.
fn check_target(to: &Path) -> Result<(), StorageError> {
    if std::fs::symlink_metadata(to).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(refuse(format!(
            "{} is a symbolic link; a backup never writes through one",
            to.display()
        )));
    }
    let parent = to.parent().filter(|p| p.is_dir());
    if parent.is_none() || to.file_name().is_none() {
        return Err(refuse(format!(
            "{} must name a new directory in an existing one",
            to.display()
        )));
    }
    match std::fs::read_dir(to).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(refuse(format!(
            "{} is not empty; a backup never overwrites anything",
            to.display()
        ))),
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(refuse(format!("{}: {e}", to.display()))),
    }
}

/// Copies the live database into the new directory `to` (see the module doc).
pub async fn backup(store: &Store, to: &Path) -> Result<Backup, StorageError> {
    // One backup at a time per process: the writer tracks one set of changed keys.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    check_target(to)?;
    if let Some(parent) = to.parent() {
        remove_partials(parent)?;
    }
    let name = to.file_name().map(|n| n.to_string_lossy().into_owned());
    let partial = to.with_file_name(format!(
        ".{}.partial-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let result = copy_into(store, &partial, to).await;
    if result.is_err() {
        // Stop tracking (if still on) and leave nothing behind.
        let _ = store.between(|b| *b.changed = None).await;
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}

/// Removes the hidden partial directories that backups interrupted by a crash left in `dir`.
/// Only one server may back up into a directory; its own backups take turns.
pub fn remove_partials(dir: &Path) -> Result<usize, StorageError> {
    let failed = |e| StorageError::io("removing a partial backup", e);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(failed(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(failed)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let pid = name.strip_prefix('.').and_then(|n| n.rsplit_once(PARTIAL));
        if !pid.is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(failed)?.is_dir() {
            std::fs::remove_dir_all(&path).map_err(failed)?;
        } else {
            std::fs::remove_file(&path).map_err(failed)?;
        }
        tracing::info!(path = %path.display(), "removed a partial backup an interrupted backup left");
        removed += 1;
    }
    Ok(removed)
}

/// Sets owner-only modes on `dir` and everything in it.
fn owner_only(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            owner_only(&entry.path())?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    Ok(())
}

async fn copy_into(store: &Store, partial: &Path, to: &Path) -> Result<Backup, StorageError> {
    std::fs::DirBuilder::new()
        .mode(DIR_MODE)
        .create(partial)
        .map_err(|e| StorageError::io("creating the backup directory", e))?;
    store.between(|b| *b.changed = Some(HashSet::new())).await?;
    let (source, dir) = (store.inner.db.clone(), partial.to_path_buf());
    let (copy, records) = blocking(move || fuzzy_copy(&source, &dir)).await??;
    let taken_at = store.now();
    let (copy, head_seq, changed, id_floor) = store.between(move |b| patch(b, copy)).await??;
    let backup = Backup {
        path: to.to_path_buf(),
        head_seq,
        records,
        changed_during_copy: changed,
        id_floor,
        taken_at,
    };
    let (dir, to2, manifest) = (
        partial.to_path_buf(),
        to.to_path_buf(),
        serde_json::to_vec_pretty(&backup).unwrap_or_default(),
    );
    blocking(move || finish(copy, &dir, &to2, id_floor, &manifest)).await??;
    Ok(backup)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(format!("backup task: {e}")))
}

fn open(dir: &Path) -> sled::Config {
    sled::Config::new().path(dir).flush_every_ms(None)
}

/// Step 2: every record as it is read, into a new database at `dir`.
fn fuzzy_copy(source: &sled::Db, dir: &Path) -> Result<(sled::Db, u64), StorageError> {
    let copy = open(dir).open()?;
    let mut records = 0;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    for item in source.iter() {
        let (k, v) = item?;
        batch.insert(k, v);
        in_batch += 1;
        records += 1;
        if in_batch == COPY_BATCH {
            copy.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    copy.apply_batch(batch)?;
    Ok((copy, records))
}

type Patched = Result<(sled::Db, u64, u64, u64), StorageError>;

/// Step 3, on the writer between batches: the keys written during the copy, as they are now;
/// tracking stops. Returns the copy, the head, how many keys were patched and the id floor.
fn patch(b: &mut writer::Between<'_>, copy: sled::Db) -> Patched {
    let changed = b.changed.take().unwrap_or_default();
    let mut batch = sled::Batch::default();
    for key in &changed {
        match b.db.get(key)? {
            Some(v) => batch.insert(key.as_slice(), v),
            None => batch.remove(key.as_slice()),
        }
    }
    copy.apply_batch(batch)?;
    // Above every id handed out so far, including to writes still in flight.
    let id_floor = b.db.generate_id()? + 1;
    Ok((copy, b.head, changed.len() as u64, id_floor))
}

/// Makes the copy durable and puts it in place: flush and close it, raise its id counter,
/// fsync every file and directory, then rename it to `to`.
fn finish(
    copy: sled::Db,
    dir: &Path,
    to: &Path,
    id_floor: u64,
    manifest: &[u8],
) -> Result<(), StorageError> {
    copy.flush()?;
    drop(copy);
    super::wait_released(&dir.join("db"), super::RELEASE_TIMEOUT)?;
    // sled keeps its id counter in its own metadata, persisted in steps of its interval and
    // raised by two steps on every reopen: reopened with a step of at least `id_floor`, the
    // counter starts at twice that, and one id taken persists it. The step is a multiple of
    // sled's default one, which sled asserts the persisted counter to be when it next
    // persists it under the default (a server opening the copy).
    let step = id_floor.div_ceil(SLED_IDGEN_STEP).max(1) * SLED_IDGEN_STEP;
    let bump = open(dir).idgen_persist_interval(step).open()?;
    bump.generate_id()?;
    bump.flush()?;
    drop(bump);
    super::wait_released(&dir.join("db"), super::RELEASE_TIMEOUT)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(dir.join(MANIFEST))
        .and_then(|mut f| std::io::Write::write_all(&mut f, manifest))
        .map_err(|e| StorageError::io("manifest", e))?;
    owner_only(dir).map_err(|e| StorageError::io("making the backup owner-only", e))?;
    fsync::sync_tree(dir).map_err(|e| StorageError::io("syncing the backup", e))?;
    std::fs::rename(dir, to).map_err(|e| StorageError::io("renaming the backup", e))?;
    let parent = to.parent().unwrap_or(Path::new("."));
    fsync::sync_tree_dir(parent).map_err(|e| StorageError::io("syncing the backup's parent", e))
}

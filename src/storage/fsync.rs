//! What sled 0.34.7's `flush` leaves out, and the store adds so that "durable" survives a power
//! cut, not only a crash of the process. On Linux sled's flush ends in `sync_file_range` on its
//! data file, which writes no metadata (such as the size of a file that grew) and flushes no
//! device cache; and sled never fsyncs a directory, so the names of the files it creates
//! (`db`, `conf`, `snap.*` renamed into place, `blobs/*`) may vanish with their contents, and
//! `conf` and blobs are never synced at all. tests/power_cut.rs shows both: without this
//! module a power cut loses every acknowledged write.
//!
//! sled's `snap.*` files: sled 0.34.7 writes a snapshot only while opening (its
//! `snapshot_after_ops` is a no-op), `sync_all`s it itself before renaming it into place, and
//! never syncs the directory; [`Durability::open`] syncs every `snap.*` file and the directory
//! before the store takes its first write. A cut before that leaves either the old snapshot
//! or the new one (both complete), or none, from which sled recovers by replaying its log:
//! tests/power_cut.rs cuts power during start-up (`kill_during_start`, then a cut) for this.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// sled's data file, opened by us: fsync works per inode, so our descriptor syncs what sled
/// wrote through its own.
const DATA_FILE: &str = "db";
/// Where sled puts values too large for its log, one file each.
const BLOBS: &str = "blobs";

pub(super) struct Durability {
    data: File,
    blobs: PathBuf,
    /// Blob files already synced with their names.
    synced_blobs: HashSet<OsString>,
}

/// The directories that opening the store at `dir` would create: `dir` and the ancestors
/// above it that do not exist yet. Their entries must be synced once sled has created them.
pub(super) fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect()
}

impl Durability {
    /// Makes durable what sled's `open` left behind in `dir` (its files and their names, and
    /// the directories in `created`, which did not exist before), and opens the data file for
    /// later syncs.
    pub(super) fn open(dir: &Path, created: &[PathBuf]) -> io::Result<Self> {
        let data = File::open(dir.join(DATA_FILE))?;
        data.sync_all()?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_file() && (name == "conf" || name.starts_with("snap.")) {
                File::open(entry.path())?.sync_all()?;
            }
        }
        let mut durability = Durability {
            data,
            blobs: dir.join(BLOBS),
            synced_blobs: HashSet::new(),
        };
        durability.sync_new_blobs()?;
        sync_dir(dir)?;
        // Each created directory's name lives in its parent.
        for d in created {
            match d.parent() {
                Some(p) if p.as_os_str().is_empty() => sync_dir(Path::new("."))?,
                Some(p) => sync_dir(p)?,
                None => {}
            }
        }
        Ok(durability)
    }

    /// Makes durable everything sled's last `flush` wrote: one fdatasync of the data file
    /// (for the whole batch), and any new blob files with their names.
    pub(super) fn sync(&mut self) -> io::Result<()> {
        self.data.sync_data()?;
        self.sync_new_blobs()
    }

    fn sync_new_blobs(&mut self) -> io::Result<()> {
        let mut present = HashSet::new();
        let mut new = false;
        for entry in std::fs::read_dir(&self.blobs)? {
            let name = entry?.file_name();
            if !self.synced_blobs.contains(&name) {
                File::open(self.blobs.join(&name))?.sync_all()?;
                new = true;
            }
            present.insert(name);
        }
        if new {
            sync_dir(&self.blobs)?;
        }
        // Forget removed blobs, so the set stays as small as the directory.
        self.synced_blobs = present;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The entry names of a directory (a new backup's parent), made durable.
pub(super) fn sync_tree_dir(dir: &Path) -> io::Result<()> {
    sync_dir(dir)
}

/// Every file and directory under `dir`, and `dir` itself, synced (a finished backup copy,
/// before it is renamed into place).
pub(super) fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

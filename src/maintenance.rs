//! Online backups, as the admin route (`POST /admin/backup`) asks for them: where a backup
//! may go. The gateway calls this and only translates; the copy is the actors' service API's
//! ([`Actors::backup_into`]), over [`crate::storage::backup`].

use crate::actors::{Actors, Error};
use crate::domain::ValidationError;
use crate::storage::backup::Backup;
use std::path::{Path, PathBuf};

/// Backs the live database up into `to`, a new directory directly inside `--backup-dir`,
/// while the server serves (see [`crate::storage::backup`]). Refused when backups are off or
/// the target exists and is not empty; a path elsewhere is invalid, so that an admin token
/// cannot write anywhere the server may.
pub async fn backup(actors: &Actors, to: &str) -> Result<Backup, Error> {
    let Some(root) = &actors.settings.backup_dir else {
        return Err(Error::BackupRefused(
            "backups are off: start the server with --backup-dir DIR".into(),
        ));
    };
    let to = inside(root, Path::new(to))?;
    actors.backup_into(&to).await
}

/// At start-up: removes the hidden partial directories that backups interrupted by a crash left
/// in `--backup-dir`. A failure is logged; the server starts anyway.
pub fn clear_partial_backups(backup_dir: Option<&Path>) {
    let Some(dir) = backup_dir else {
        return;
    };
    if let Err(e) = crate::storage::backup::remove_partials(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove partial backups");
    }
}

/// `to` if it is an absolute path naming a directory directly inside `root`.
fn inside(root: &Path, to: &Path) -> Result<PathBuf, Error> {
    let invalid = || {
        ValidationError::new(
            "to",
            format!(
                "must be an absolute path directly inside the backup directory {}",
                root.display()
            ),
        )
    };
    let name = match to.file_name() {
        Some(n) if to.is_absolute() && !n.to_string_lossy().starts_with('.') => n,
        _ => return Err(invalid().into()),
    };
    let parent = to.parent().and_then(|p| p.canonicalize().ok());
    let root = root.canonicalize().map_err(|e| {
        Error::BackupRefused(format!("the backup directory {}: {e}", root.display()))
    })?;
    match parent {
        Some(p) if p == root => Ok(root.join(name)),
        _ => Err(invalid().into()),
    }
}

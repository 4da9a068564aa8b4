//! Offline maintenance commands, run on a data dir while the server is stopped (sled allows
//! one process per data dir; a running server makes these fail with a clear message).

use crate::actors::bus;
use crate::storage::{StorageError, Store};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot open {dir}: {source} (is the server running on it?)")]
    Open { dir: String, source: StorageError },
    #[error("refusing to trim events before {before}: subscriber offsets go down to {lowest}, so events after {lowest} are still needed (the most you may pass is --before {max})")]
    StillNeeded { before: u64, lowest: u64, max: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn open(dir: &Path) -> Result<Store, AdminError> {
    Store::open(dir, 64 << 20).map_err(|source| AdminError::Open {
        dir: dir.display().to_string(),
        source,
    })
}

/// Deletes events with sequence numbers below `before`, refusing to remove any event a
/// subscriber has not handled yet. Returns how many were removed.
pub async fn trim_events(dir: &Path, before: u64) -> Result<u64, AdminError> {
    let store = open(dir)?;
    let result = (|| {
        let lowest = bus::lowest_offset(&store)?.unwrap_or(0);
        if before > lowest + 1 {
            return Err(AdminError::StillNeeded {
                before,
                lowest,
                max: lowest + 1,
            });
        }
        Ok(store.trim_events(before)?)
    })();
    store.close().await;
    result
}

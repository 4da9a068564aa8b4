//! What can go wrong below the actors, and how an OS error is classified.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The disk is full (ENOSPC): nothing more can be made durable until space is freed.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("stored record has unknown format version {0}")]
    UnknownFormat(u8),
    /// A uniqueness claim (the index key) is held by someone else.
    #[error("key already claimed")]
    Conflict(Vec<u8>),
    /// The writer has stopped (shutdown) or did not answer.
    #[error("store writer is not running")]
    WriterGone,
    /// A write was not confirmed durable within the store's write timeout; it may still land.
    #[error("store write not confirmed within {0:?}")]
    TimedOut(Duration),
    /// `close` gave up waiting for the data dir to be released.
    #[error("the data directory is still in use after closing: {0}")]
    StillInUse(String),
    /// Events a reader asked for were trimmed from the log; `oldest` is the first one left.
    #[error("events before {oldest} were trimmed from the log")]
    Trimmed { oldest: u64 },
    /// A reader asked for events after a position the log has not reached: made up, or from
    /// before a restore. `head` is the last sequence number appended.
    #[error("position is past the log head {head}")]
    AheadOfLog { head: u64 },
    /// A trim would remove events a subscriber has not handled yet.
    #[error("refusing to trim events before {before}: a subscriber still needs them (the most you may pass is {max_before})")]
    StillNeeded { before: u64, max_before: u64 },
    /// A subscriber's offset lies before the oldest event kept: starting it would build its
    /// state from part of the history.
    #[error("the subscriber `{subscriber}` would start after event {offset}, but the log was trimmed up to event {oldest}: its state would be built from part of the history; restore a backup taken before the trim")]
    PartialHistory {
        subscriber: String,
        offset: u64,
        oldest: u64,
    },
    /// A backup's target is unusable (not empty, or not in an existing directory).
    #[error("backup refused: {0}")]
    BackupRefused(String),
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => io.into(),
            other => StorageError::Io(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::io("I/O", e)
    }
}

impl StorageError {
    /// `e` while `doing` something, a full disk kept apart from other failures.
    pub(crate) fn io(doing: &str, e: std::io::Error) -> Self {
        let text = format!("{doing}: {e}");
        if e.kind() == std::io::ErrorKind::StorageFull {
            StorageError::DiskFull(text)
        } else {
            StorageError::Io(text)
        }
    }
}

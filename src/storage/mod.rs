//! Persistence: one sled tree with a key prefix per kind of record (see [`keys`]), records
//! encoded by [`codec`], and every write going through the group-commit [`writer`].

pub mod codec;
mod fsync;
pub mod keys;
pub mod writer;

pub use writer::{Committed, Op, Unit};

use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
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
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Io(e.to_string())
    }
}

/// A unit handed to the writer; resolves once it is durable (or refused).
pub type Pending = oneshot::Receiver<Result<Committed, StorageError>>;

/// Handle to the database. Cheap to clone; reads go straight to sled, writes to the writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Readable by everyone; written only by the writer thread.
    db: sled::Db,
    /// The writer's queue; a `Stop` ends it.
    tx: mpsc::Sender<writer::Request>,
    /// Joined on close so the final flush has happened before we report shutdown done.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Sequence number of the last durable event; subscribers wait on its changes.
    head: tokio::sync::watch::Receiver<u64>,
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    /// Opens (or creates) the database in `dir` and starts its writer thread.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StorageError> {
        let created = fsync::missing_dirs(dir);
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            // We flush explicitly after every batch; sled's own timer would only add flushes.
            .flush_every_ms(None)
            .open()?;
        let durability = fsync::Durability::open(dir, &created)
            .map_err(|e| StorageError::Io(format!("syncing {}: {e}", dir.display())))?;
        let (tx, rx) = mpsc::channel();
        let (head_tx, head) = tokio::sync::watch::channel(0);
        let writer = writer::Writer::new(db.clone(), durability, rx, now_millis, head_tx)?;
        let thread = std::thread::Builder::new()
            .name("trolley-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StorageError::Io(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tx,
                thread: Mutex::new(Some(thread)),
                head,
            }),
        })
    }

    /// Queues `unit`; the returned receiver resolves when it is durable.
    pub fn submit(&self, unit: Unit) -> Pending {
        let (reply, pending) = oneshot::channel();
        // If the writer is gone the reply sender is dropped with the request, and the waiter
        // sees `WriterGone`.
        let _ = self.inner.tx.send(writer::Request::Write(unit, reply));
        pending
    }

    /// Writes `unit` and waits until it is durable.
    pub async fn write(&self, unit: Unit) -> Result<Committed, StorageError> {
        settle(self.submit(unit)).await
    }

    /// Resolves once everything submitted before it has been applied, so a reader that
    /// follows sees it (used when an actor reloads its state).
    pub async fn barrier(&self) -> Result<(), StorageError> {
        self.write(Unit::default()).await.map(drop)
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.inner.db.get(key)? {
            Some(bytes) => codec::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Decoded records whose keys start with `prefix`, from `start` (inclusive) on, with their
    /// keys, at most `limit` of them.
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, StorageError> {
        let mut out = Vec::new();
        for item in self.inner.db.range(start..) {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), codec::decode(&v)?));
        }
        Ok(out)
    }

    /// Keys in `[start, end)`, at most `limit` of them (for indexes whose values are empty).
    pub fn keys_between(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        self.inner
            .db
            .range(start..end)
            .keys()
            .take(limit)
            .map(|k| Ok(k?.to_vec()))
            .collect()
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StorageError> {
        Ok(self.inner.db.contains_key(key)?)
    }

    pub fn scan_prefix<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StorageError> {
        self.scan(prefix, prefix, usize::MAX)
    }

    /// Follows the log head: the sequence number of the last durable event.
    pub fn head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.head.clone()
    }

    /// Up to `limit` events with sequence numbers above `after`, in order.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::domain::event::EventRecord>, StorageError> {
        let start = keys::event(after.saturating_add(1));
        Ok(self
            .scan(keys::EVENTS, &start, limit)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Removes every event with a sequence number below `before`; returns how many.
    /// (An offline maintenance operation: see `trolley events trim`.)
    pub fn trim_events(&self, before: u64) -> Result<u64, StorageError> {
        let mut removed = 0;
        let mut batch = sled::Batch::default();
        for key in self
            .inner
            .db
            .range(keys::EVENTS.to_vec()..keys::event(before))
            .keys()
        {
            batch.remove(key?);
            removed += 1;
        }
        self.inner.db.apply_batch(batch)?;
        self.inner.db.flush()?;
        Ok(removed)
    }

    /// A fresh positive id, never handed out before, even across crashes.
    pub fn next_id(&self) -> Result<u64, StorageError> {
        Ok(self.inner.db.generate_id()? + 1)
    }

    /// Whether the writer thread is still running.
    pub fn is_writable(&self) -> bool {
        self.inner
            .thread
            .lock()
            .map(|t| t.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false)
    }

    /// Stops the writer after what is queued, and waits for its final flush.
    pub async fn close(&self) {
        let _ = self.inner.tx.send(writer::Request::Stop);
        let handle = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// Waits for a submitted unit.
pub async fn settle(pending: Pending) -> Result<Committed, StorageError> {
    pending.await.unwrap_or(Err(StorageError::WriterGone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, UserId};

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_written_unit_is_readable_and_its_events_get_consecutive_sequences() {
        let (_dir, store) = open();
        let ev = |n| Event::CartCreated {
            cart_id: crate::domain::CartId(n),
            user_id: UserId(1),
        };
        let first = store
            .write(
                Unit::default()
                    .put(b"k1".to_vec(), codec::encode(&7u64))
                    .event(ev(1)),
            )
            .await
            .unwrap();
        let second = store
            .write(Unit::default().event(ev(2)).event(ev(3)))
            .await
            .unwrap();
        assert_eq!(first.last_seq, Some(1));
        assert_eq!(second.last_seq, Some(3));
        assert_eq!(store.get::<u64>(b"k1").unwrap(), Some(7));
        let log = store
            .scan_prefix::<crate::domain::event::EventRecord>(keys::EVENTS)
            .unwrap();
        let seqs: Vec<u64> = log.iter().map(|(_, r)| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test]
    async fn concurrent_claims_on_one_key_grant_exactly_one() {
        let (_dir, store) = open();
        let pendings: Vec<Pending> = (0u64..20)
            .map(|i| {
                store.submit(Unit::default().claim(b"un/alice".to_vec(), i.to_be_bytes().to_vec()))
            })
            .collect();
        let mut granted = 0;
        for p in pendings {
            match settle(p).await {
                Ok(_) => granted += 1,
                Err(StorageError::Conflict(k)) => assert_eq!(k, b"un/alice"),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(granted, 1);
        // The holder may claim its own key again (e.g. saving an unchanged name).
        let holder = store.inner.db.get(b"un/alice").unwrap().unwrap().to_vec();
        assert!(store
            .write(Unit::default().claim(b"un/alice".to_vec(), holder))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_closed_store_refuses_writes_with_writer_gone() {
        let (_dir, store) = open();
        store.close().await;
        assert!(!store.is_writable());
        assert!(matches!(
            store
                .write(Unit::default().put(b"k".to_vec(), vec![1]))
                .await,
            Err(StorageError::WriterGone)
        ));
    }

    #[tokio::test]
    async fn sequences_never_repeat_even_after_the_whole_log_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let ev = Event::CartCreated {
            cart_id: crate::domain::CartId(1),
            user_id: UserId(1),
        };
        {
            let store = Store::open(dir.path(), 16 << 20).unwrap();
            for _ in 0..3 {
                store
                    .write(Unit::default().event(ev.clone()))
                    .await
                    .unwrap();
            }
            assert_eq!(store.trim_events(4).unwrap(), 3);
            assert!(store.events_after(0, 10).unwrap().is_empty());
            store.close().await;
        }
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(*store.head().borrow(), 3);
        let c = store.write(Unit::default().event(ev)).await.unwrap();
        assert_eq!(c.last_seq, Some(4));
    }

    #[tokio::test]
    async fn the_sequence_continues_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ev = Event::CartCreated {
            cart_id: crate::domain::CartId(1),
            user_id: UserId(1),
        };
        {
            let store = Store::open(dir.path(), 16 << 20).unwrap();
            store
                .write(Unit::default().event(ev.clone()))
                .await
                .unwrap();
            store.close().await;
        }
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        let c = store.write(Unit::default().event(ev)).await.unwrap();
        assert_eq!(c.last_seq, Some(2));
    }
}

//! Persistence: one sled tree with a key prefix per kind of record (see [`keys`]), records
//! encoded by [`codec`], and every write going through the group-commit [`writer`].

pub mod codec;
#[cfg(feature = "test-hooks")]
pub mod faults;
mod follow;
mod fsync;
pub mod idempotency;
pub mod keys;
pub mod writer;

pub use writer::{Committed, Op, Unit};

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long [`Store::close`] waits for the data dir's lock to be released. sled lets go of it
/// moments after the last handle drops; anything longer means a handle is still held.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// A unit handed to the writer; resolves once it is durable (or refused).
pub type Pending = oneshot::Receiver<Result<Committed, StorageError>>;

/// Handle to the database. Cheap to clone; reads go straight to sled, writes to the writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Bound on every wait in [`Store::write`] and [`Store::barrier`]: a caller is never held
    /// longer, whatever the disk does (the outcome of a write past it is unknown).
    write_timeout: Duration,
}

/// The write bound of a store opened without [`Store::with_write_timeout`] (offline commands).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

struct Inner {
    /// Readable by everyone; written only by the writer thread.
    db: sled::Db,
    /// The writer's queue; a `Stop` ends it.
    tx: mpsc::Sender<writer::Request>,
    /// Joined on close so the final flush has happened before we report shutdown done.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Sequence number of the last durable event; subscribers wait on its changes.
    head: tokio::sync::watch::Receiver<u64>,
    /// Closed when the writer thread ends (a stop, or a failed flush or sync).
    alive: tokio::sync::watch::Receiver<()>,
    /// The failure that stopped the writer, answered to every later write.
    failure: Arc<OnceLock<StorageError>>,
    /// sled's data file, which carries its exclusive lock: `close` waits until the lock is free.
    lock_file: PathBuf,
    /// How far tests have moved this store's clock forward (see [`Store::advance_clock`]).
    #[cfg(feature = "test-hooks")]
    skew_millis: std::sync::atomic::AtomicU64,
    /// Writes a test wants to fail or hold back (see [`faults`]).
    #[cfg(feature = "test-hooks")]
    faults: faults::Faults,
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
        let failure = Arc::new(OnceLock::new());
        let writer = writer::Writer::new(
            db.clone(),
            durability,
            rx,
            now_millis,
            head_tx,
            failure.clone(),
        )?;
        // Dropped when the writer thread ends, which is how `writer_stopped` hears of it.
        let (alive_tx, alive) = tokio::sync::watch::channel(());
        let thread = std::thread::Builder::new()
            .name("trolley-writer".into())
            .spawn(move || {
                let _alive = alive_tx;
                writer.run()
            })
            .map_err(|e| StorageError::Io(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tx,
                thread: Mutex::new(Some(thread)),
                head,
                alive,
                failure,
                lock_file: dir.join("db"),
                #[cfg(feature = "test-hooks")]
                skew_millis: Default::default(),
                #[cfg(feature = "test-hooks")]
                faults: Default::default(),
            }),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        })
    }

    /// The time by which records are stamped and deadlines (holds, sessions) judged: the wall
    /// clock, which tests may move forward instead of waiting for it.
    pub fn now(&self) -> crate::domain::Millis {
        let now = now_millis();
        #[cfg(feature = "test-hooks")]
        let now = now
            + self
                .inner
                .skew_millis
                .load(std::sync::atomic::Ordering::Relaxed);
        now
    }

    /// Moves this store's clock (and only this store's) forward, so a test can make deadlines
    /// pass at a moment of its choosing instead of racing a short real one.
    #[cfg(feature = "test-hooks")]
    pub fn advance_clock(&self, by: Duration) {
        self.inner
            .skew_millis
            .fetch_add(by.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes the next `times` units that put a key starting with `prefix` fail with an I/O
    /// error, unwritten: a precise way for a test to fail one chosen step of an operation.
    #[cfg(feature = "test-hooks")]
    pub fn fail_writes_putting(&self, prefix: Vec<u8>, times: usize) {
        self.inner.faults.fail(prefix, times);
    }

    /// Stalls the whole disk until the guard is dropped: every unit submitted meanwhile waits,
    /// in order, and none is lost.
    #[cfg(feature = "test-hooks")]
    pub fn stall_disk(&self) -> faults::Stalled<'_> {
        self.inner.faults.stall(&self.inner.tx)
    }

    /// Holds back the next `times` units that put a key starting with `prefix` until the
    /// returned guard is released (or dropped). Later units overtake the held ones, which no
    /// real disk does: use it where only the held write's own fate matters, and
    /// [`Store::stall_disk`] where order does.
    #[cfg(feature = "test-hooks")]
    pub fn hold_writes_putting(&self, prefix: Vec<u8>, times: usize) -> faults::Held {
        self.inner.faults.hold(prefix, times)
    }

    /// Queues `unit`; the returned receiver resolves when it is durable.
    pub fn submit(&self, unit: Unit) -> Pending {
        let (reply, pending) = oneshot::channel();
        if let Some(failure) = self.inner.failure.get() {
            let _ = reply.send(Err(failure.clone()));
            return pending;
        }
        #[cfg(feature = "test-hooks")]
        let Some((unit, reply)) = self.inner.faults.intercept(unit, reply, &self.inner.tx) else {
            return pending;
        };
        // If the writer is gone the reply sender is dropped with the request, and the waiter
        // sees `WriterGone`.
        let _ = self.inner.tx.send(writer::Request::Write(unit, reply));
        pending
    }

    /// This store with every write wait bounded by `timeout` (the app's call timeout).
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Writes `unit` and waits (bounded) until it is durable.
    pub async fn write(&self, unit: Unit) -> Result<Committed, StorageError> {
        self.settle(self.submit(unit)).await
    }

    /// Waits for a submitted unit, at most the store's write timeout.
    pub async fn settle(&self, pending: Pending) -> Result<Committed, StorageError> {
        tokio::time::timeout(self.write_timeout, settle(pending))
            .await
            .unwrap_or(Err(StorageError::TimedOut(self.write_timeout)))
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

    /// Up to `limit` events with sequence numbers above `after`, in order, never past the
    /// durable head: the writer applies a batch before its flush, so the tree may already
    /// hold events that a crash would lose, and no reader may hand those out.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::domain::event::EventRecord>, StorageError> {
        let head = *self.inner.head.borrow();
        if after >= head {
            return Ok(Vec::new());
        }
        self.inner
            .db
            .range(keys::event(after + 1)..=keys::event(head))
            .values()
            .take(limit)
            .map(|v| codec::decode(&v?))
            .collect()
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

    /// Resolves once the writer thread has ended: after `stop_writer`, or on its own after a
    /// failed flush or sync, when the store takes no more writes until a restart.
    pub async fn writer_stopped(&self) {
        let mut alive = self.inner.alive.clone();
        while alive.changed().await.is_ok() {}
    }

    /// Stops the writer after what is queued and waits for its final flush. Writes submitted
    /// afterwards fail with `WriterGone`; reads still work until the last handle is dropped.
    pub async fn stop_writer(&self) {
        let _ = self.inner.tx.send(writer::Request::Stop);
        let handle = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// Closes the database: stops the writer, drops this handle and returns once sled has
    /// released the data dir, so it can be opened again at once (by this process or another).
    ///
    /// Every other clone of this `Store` must be dropped first; a clone still held makes this
    /// wait out [`RELEASE_TIMEOUT`] and fail with `StillInUse`.
    pub async fn close(self) -> Result<(), StorageError> {
        self.stop_writer().await;
        let lock_file = self.inner.lock_file.clone();
        drop(self);
        tokio::task::spawn_blocking(move || wait_released(&lock_file, RELEASE_TIMEOUT))
            .await
            .map_err(|e| StorageError::Io(e.to_string()))?
    }
}

/// Waits until nobody holds sled's lock on `lock_file`. sled takes an exclusive `flock` on its
/// data file and drops it only when the file's last user is gone, which includes its background
/// I/O threads finishing their last write: a few moments *after* the last `Db` handle drops.
/// There is no event to wait on, so this polls the lock itself, backing off, until `within`.
fn wait_released(lock_file: &Path, within: Duration) -> Result<(), StorageError> {
    use fs2::FileExt;
    let file = match std::fs::File::open(lock_file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::Io(e.to_string())),
    };
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_micros(50);
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return file.unlock().map_err(|e| StorageError::Io(e.to_string())),
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                return Err(StorageError::Io(e.to_string()))
            }
            Err(_) if Instant::now() >= deadline => {
                return Err(StorageError::StillInUse(lock_file.display().to_string()))
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
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
        store.stop_writer().await;
        assert!(!store.is_writable());
        assert!(matches!(
            store
                .write(Unit::default().put(b"k".to_vec(), vec![1]))
                .await,
            Err(StorageError::WriterGone)
        ));
    }

    #[tokio::test]
    async fn readers_of_the_log_never_see_events_past_the_durable_head() {
        let (_dir, store) = open();
        let ev = |n| Event::CartCreated {
            cart_id: crate::domain::CartId(n),
            user_id: UserId(1),
        };
        for n in 1..=2 {
            store.write(Unit::default().event(ev(n))).await.unwrap();
        }
        // What the writer leaves between applying a batch and finishing its flush: the
        // event is in the tree, the head has not moved.
        let applied = crate::domain::event::EventRecord {
            seq: 3,
            at: store.now(),
            event: ev(3),
        };
        store
            .inner
            .db
            .insert(keys::event(3), codec::encode(&applied))
            .unwrap();
        assert_eq!(*store.head().borrow(), 2);

        let seqs = |after| -> Vec<u64> {
            let events = store.events_after(after, 100).unwrap();
            events.iter().map(|e| e.seq).collect()
        };
        assert_eq!(seqs(0), [1, 2]);
        assert_eq!(seqs(2), Vec::<u64>::new());
        assert_eq!(seqs(u64::MAX), Vec::<u64>::new());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_read_while_writes_are_in_flight_never_pass_the_head() {
        let (_dir, store) = open();
        let writers: Vec<_> = (0..8u64)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for n in 0..50 {
                        let ev = Event::CartCreated {
                            cart_id: crate::domain::CartId(w * 1000 + n),
                            user_id: UserId(1),
                        };
                        store.write(Unit::default().event(ev)).await.unwrap();
                    }
                })
            })
            .collect();
        let reader = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                while *store.head().borrow() < 400 {
                    let read = store.events_after(0, usize::MAX).unwrap();
                    // The head only grows: read after the events, it bounds what they can be.
                    let head = *store.head().borrow();
                    if let Some(last) = read.last() {
                        assert!(last.seq <= head, "read seq {} past head {head}", last.seq);
                    }
                }
            })
        };
        for w in writers {
            w.await.unwrap();
        }
        reader.await.unwrap();
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
            store.close().await.unwrap();
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
            store.close().await.unwrap();
        }
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        let c = store.write(Unit::default().event(ev)).await.unwrap();
        assert_eq!(c.last_seq, Some(2));
    }

    #[tokio::test]
    async fn a_closed_store_can_be_reopened_at_once_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let ev = Event::CartCreated {
            cart_id: crate::domain::CartId(1),
            user_id: UserId(1),
        };
        // Each round writes (so sled's I/O threads have just worked) and closes; the next
        // open must never find the lock still taken.
        for round in 1..=30u64 {
            let store = Store::open(dir.path(), 16 << 20)
                .unwrap_or_else(|e| panic!("reopen {round} failed: {e}"));
            let c = store
                .write(Unit::default().event(ev.clone()))
                .await
                .unwrap();
            assert_eq!(c.last_seq, Some(round));
            store.close().await.unwrap();
        }
    }

    #[tokio::test]
    async fn opening_a_directory_a_live_store_holds_fails_at_once() {
        let (dir, store) = open();
        let second = Store::open(dir.path(), 16 << 20);
        assert!(second.is_err(), "a second open of a held dir must fail");
        store.close().await.unwrap();
        assert!(Store::open(dir.path(), 16 << 20).is_ok());
    }
}

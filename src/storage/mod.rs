//! Persistence: one sled tree with a key prefix per kind of record (see [`keys`]), records
//! encoded by [`codec`], and every write going through the group-commit [`writer`].

pub mod backup;
pub mod codec;
mod error;
mod fsync;
pub mod idempotency;
pub mod keys;
mod read;
pub mod retention;
pub mod writer;

pub use error::StorageError;
pub use writer::{Committed, Op, Unit};

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long [`Store::close`] waits for the data dir's lock to be released. sled lets go of it
/// moments after the last handle drops; anything longer means a handle is still held.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// What time it is for this store; the writer stamps events with the same clock.
    clock: Clock,
    /// A test's write faults (see [`crate::testing`]).
    #[cfg(feature = "test-hooks")]
    hooks: crate::testing::StoreHooks,
}

/// What the test hooks ([`crate::testing`]) reach of a store.
#[cfg(feature = "test-hooks")]
impl Store {
    pub(crate) fn hooks(&self) -> &crate::testing::StoreHooks {
        &self.inner.hooks
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub(crate) fn writer_queue(&self) -> &mpsc::Sender<writer::Request> {
        &self.inner.tx
    }

    /// How many bytes the value under `key` takes as stored (for tests of record sizes).
    pub fn stored_len(&self, key: &[u8]) -> Result<Option<usize>, StorageError> {
        Ok(self.inner.db.get(key)?.map(|v| v.len()))
    }
}

/// The time by which records are stamped and deadlines (holds, sessions) are judged: the wall
/// clock, which a test may move forward (its skew, shared with the writer thread).
#[derive(Clone, Default)]
pub(crate) struct Clock {
    #[cfg(feature = "test-hooks")]
    skew: Arc<std::sync::atomic::AtomicU64>,
}

impl Clock {
    pub(crate) fn now(&self) -> crate::domain::Millis {
        #[cfg(feature = "test-hooks")]
        return now_millis() + self.skew.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "test-hooks"))]
        now_millis()
    }

    /// Moves this clock forward (tests only).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn advance(&self, by_millis: u64) {
        self.skew
            .fetch_add(by_millis, std::sync::atomic::Ordering::Relaxed);
    }
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
        let clock = Clock::default();
        let failure = Arc::new(OnceLock::new());
        let writer = writer::Writer::new(
            db.clone(),
            durability,
            rx,
            clock.clone(),
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
                clock,
                #[cfg(feature = "test-hooks")]
                hooks: Default::default(),
            }),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        })
    }

    /// The time by which records are stamped and deadlines (holds, sessions) judged: the wall
    /// clock, which tests may move forward instead of waiting for it.
    pub fn now(&self) -> crate::domain::Millis {
        self.inner.clock.now()
    }

    /// Queues `unit`; the returned receiver resolves when it is durable.
    pub fn submit(&self, unit: Unit) -> Pending {
        let (reply, pending) = oneshot::channel();
        if let Some(failure) = self.inner.failure.get() {
            let _ = reply.send(Err(failure.clone()));
            return pending;
        }
        #[cfg(feature = "test-hooks")]
        let Some((unit, reply)) = self.inner.hooks.intercept(unit, reply, &self.inner.tx) else {
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

    /// Runs `job` on the writer thread between two batches (see [`writer::Between`]), bounded
    /// by the write timeout like any write.
    async fn between<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut writer::Between<'_>) -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move |b: &mut writer::Between<'_>| {
            let _ = tx.send(job(b));
        });
        self.inner
            .tx
            .send(writer::Request::Between(job))
            .map_err(|_| StorageError::WriterGone)?;
        match tokio::time::timeout(self.write_timeout, rx).await {
            Ok(answer) => answer.map_err(|_| StorageError::WriterGone),
            Err(_) => Err(StorageError::TimedOut(self.write_timeout)),
        }
    }

    /// Resolves once everything submitted before it has been applied, so a reader that
    /// follows sees it (used when an actor reloads its state).
    pub async fn barrier(&self) -> Result<(), StorageError> {
        self.write(Unit::default()).await.map(drop)
    }

    /// Follows the log head: the sequence number of the last durable event.
    pub fn head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.head.clone()
    }

    /// Removes every event with a sequence number below `before`; returns how many. The
    /// removals go through the writer in atomic, synced chunks, so this is safe while serving;
    /// whether a subscriber still needs them is [`retention::trim`]'s question.
    pub async fn trim_events(&self, before: u64) -> Result<u64, StorageError> {
        /// Removals per unit: small enough that other writers' units get in between.
        const CHUNK: usize = 4096;
        let mut removed = 0;
        loop {
            let keys = self.keys_between(keys::EVENTS, &keys::event(before), CHUNK)?;
            if keys.is_empty() {
                return Ok(removed);
            }
            let n = keys.len() as u64;
            let unit = keys.into_iter().fold(Unit::default(), Unit::remove);
            self.write(unit).await?;
            removed += n;
        }
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
mod tests;

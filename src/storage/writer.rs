//! The store writer: one OS thread that owns every write, so that
//! - one `flush` covers everything queued while the previous one ran (group commit),
//! - each unit (state records + events) lands in one atomic sled `Batch`,
//! - event sequence numbers are assigned in commit order, without gaps,
//! - uniqueness claims (usernames, product names) are decided by a single owner.
//!
//! A unit's waiter is answered only after the flush and the fdatasync that made it durable.

use super::{codec, fsync::Durability, keys, StorageError};
use crate::domain::{event::EventRecord, Event, Millis};
use crate::telemetry::names;
use std::collections::HashMap;
use std::sync::{mpsc, Arc, OnceLock};
use tokio::sync::oneshot;

/// The most units one batch takes, so one slow flush never holds an unbounded queue.
const MAX_UNITS_PER_BATCH: usize = 1024;
/// Under concurrent load (the last batch had company), wait this long for more units before
/// flushing: a flush costs about the same for 1 unit as for 50, so bigger batches mean fewer
/// fsyncs and less CPU per write, for a fraction of a millisecond of latency.
const GATHER_FOR: std::time::Duration = std::time::Duration::from_micros(250);
/// Stop gathering once a batch is this big.
const GATHER_ENOUGH: usize = 64;

/// One change, applied all or nothing.
#[derive(Debug, Default)]
pub struct Unit {
    /// Puts and removes, applied in order.
    pub ops: Vec<Op>,
    /// Index keys this unit must own: each must be absent or already hold the same owner.
    pub claims: Vec<(Vec<u8>, Vec<u8>)>,
    /// Appended to the event log with the next sequence numbers.
    pub events: Vec<Event>,
}

#[derive(Debug)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
}

impl Unit {
    pub fn put(mut self, key: Vec<u8>, value: Vec<u8>) -> Self {
        self.ops.push(Op::Put(key, value));
        self
    }

    pub fn remove(mut self, key: Vec<u8>) -> Self {
        self.ops.push(Op::Remove(key));
        self
    }

    /// Takes `key` for `owner`; the unit fails with `Conflict` if someone else has it.
    pub fn claim(mut self, key: Vec<u8>, owner: Vec<u8>) -> Self {
        self.claims.push((key, owner));
        self
    }

    pub fn event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }

    /// Puts `event` before the unit's other events (a cause before its effects).
    pub fn event_first(mut self, event: Event) -> Self {
        self.events.insert(0, event);
        self
    }
}

/// What a durable unit reports back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Sequence number of the unit's last event (the log head after it), if it had any.
    pub last_seq: Option<u64>,
}

pub(crate) enum Request {
    Write(Unit, Reply),
    /// Run on the writer thread between two batches (see [`Between`]).
    Between(Box<dyn FnOnce(&mut Between<'_>) + Send>),
    Stop,
}

/// What a [`Request::Between`] job sees: the database with every earlier batch applied and
/// durable and no later one begun, so a job that reads it sees one consistent state.
pub(crate) struct Between<'a> {
    pub db: &'a sled::Db,
    /// The log head of that state.
    pub head: u64,
    /// While `Some`, every key a batch writes or removes is added (see `storage::backup`).
    pub changed: &'a mut Option<std::collections::HashSet<Vec<u8>>>,
}

/// Where a unit's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<Committed, StorageError>>;

/// A group commit being put together, then ready to apply.
struct Staged {
    batch: sled::Batch,
    /// Records written (0 for a batch of barriers only).
    writes: usize,
    /// The units in the batch: whom to answer, and what.
    accepted: Vec<(Reply, Committed)>,
    /// Index keys claimed or removed earlier in this batch, which `db.get` cannot see yet.
    /// (Index keys are only ever written through claims, so plain puts need no entry.)
    pending: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// The keys this batch writes, collected only while a backup tracks them.
    touched: Option<Vec<Vec<u8>>>,
}

pub(super) struct Writer {
    db: sled::Db,
    /// sled's `flush` alone does not survive a power cut; this completes it.
    durability: Durability,
    rx: mpsc::Receiver<Request>,
    next_seq: u64,
    /// The store's clock (the one deadlines are judged by), so that an event's `at` and a
    /// hold's deadline never disagree about what time it is.
    clock: super::Clock,
    /// The last durable event's sequence number, for subscribers waiting on new events.
    head: tokio::sync::watch::Sender<u64>,
    /// Set when a flush or fsync failed. What it was writing may be partly on disk, and after a
    /// failed fsync Linux may drop the unwritten pages while later fsyncs succeed, so nothing
    /// can be acknowledged from then on: the writer stops (until the server restarts and sled
    /// recovers from what is really on disk), and every later write gets this error.
    failure: Arc<OnceLock<StorageError>>,
    /// Keys written since a job asked for them to be tracked (a backup in progress).
    changed: Option<std::collections::HashSet<Vec<u8>>>,
}

impl Writer {
    pub(super) fn new(
        db: sled::Db,
        durability: Durability,
        rx: mpsc::Receiver<Request>,
        clock: super::Clock,
        head: tokio::sync::watch::Sender<u64>,
        failure: Arc<OnceLock<StorageError>>,
    ) -> Result<Self, StorageError> {
        let next_seq = last_seq(&db)? + 1;
        head.send_replace(next_seq - 1);
        Ok(Self {
            db,
            durability,
            rx,
            next_seq,
            clock,
            head,
            failure,
            changed: None,
        })
    }

    /// Runs until `Stop` arrives or every sender is gone.
    pub(super) fn run(mut self) {
        let mut stopping = false;
        let mut busy = false;
        while !stopping && self.failure.get().is_none() {
            let Ok(first) = self.rx.recv() else { break };
            let requests = self.gather(first, busy);
            busy = requests.len() > 1;
            let mut units = Vec::with_capacity(requests.len());
            let mut job = None;
            for r in requests {
                match r {
                    Request::Write(unit, reply) => units.push((unit, reply)),
                    Request::Between(f) => job = Some(f),
                    Request::Stop => stopping = true,
                }
            }
            self.commit(units);
            // After a failed commit the state is not durable: the job is dropped unrun, and
            // its caller hears that the writer is gone.
            if let (Some(job), None) = (job, self.failure.get()) {
                job(&mut Between {
                    db: &self.db,
                    head: self.next_seq - 1,
                    changed: &mut self.changed,
                });
            }
        }
        if let Some(failure) = self.failure.get() {
            tracing::error!(error = %failure, "the store stopped taking writes after a failed flush or fsync");
            // Whatever is still queued gets the same answer, not a silent drop.
            while let Ok(request) = self.rx.try_recv() {
                if let Request::Write(_, reply) = request {
                    let _ = reply.send(Err(failure.clone()));
                }
            }
            return;
        }
        if let Err(e) = self.make_durable() {
            tracing::error!(error = %e, "final flush failed");
        }
    }

    /// `first` and the requests that arrive with it, up to a batch: what is queued already
    /// and, while busy, what comes within a short gathering window.
    fn gather(&self, first: Request, busy: bool) -> Vec<Request> {
        let mut requests = vec![first];
        let gather_until = std::time::Instant::now() + GATHER_FOR;
        // A job between batches ends the batch: what came before it is committed first.
        while requests.len() < MAX_UNITS_PER_BATCH
            && !matches!(requests.last(), Some(Request::Between(_)))
        {
            match self.rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(mpsc::TryRecvError::Empty) if busy && requests.len() < GATHER_ENOUGH => {
                    let now = std::time::Instant::now();
                    if now >= gather_until {
                        break;
                    }
                    match self.rx.recv_timeout(gather_until - now) {
                        Ok(r) => requests.push(r),
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        requests
    }

    /// Flushes sled, then syncs what the flush wrote: one fdatasync covers the whole batch.
    fn make_durable(&mut self) -> Result<(), StorageError> {
        self.db.flush()?;
        self.durability
            .sync()
            .map_err(|e| StorageError::io("fsync", e))
    }

    fn commit(&mut self, units: Vec<(Unit, Reply)>) {
        let first_seq = self.next_seq;
        let Staged {
            batch,
            writes,
            accepted,
            ..
        } = self.stage(units);
        // A batch of barriers only has nothing to make durable.
        let outcome = if writes == 0 {
            Ok(())
        } else {
            metrics::histogram!(names::BATCH_UNITS).record(accepted.len() as f64);
            self.apply_durably(batch)
        };
        match outcome {
            Ok(()) => {
                if self.next_seq != first_seq {
                    self.head.send_replace(self.next_seq - 1);
                }
                for (reply, committed) in accepted {
                    let _ = reply.send(Ok(committed));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, units = accepted.len(), "store write failed");
                self.next_seq = first_seq;
                for (reply, _) in accepted {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Applies the batch and makes it durable; a failure is kept for every later write. That
    /// includes a failed apply: sled applies a batch's inserts one by one (atomic only for
    /// recovery), so after an error readers may already see part of it, and nothing written
    /// after it could be trusted either.
    fn apply_durably(&mut self, batch: sled::Batch) -> Result<(), StorageError> {
        let durable = self
            .db
            .apply_batch(batch)
            .map_err(StorageError::from)
            .and_then(|()| {
                let started = std::time::Instant::now();
                let durable = self.make_durable();
                metrics::histogram!(names::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
                durable
            });
        if let Err(e) = &durable {
            let _ = self.failure.set(e.clone());
        }
        durable
    }

    /// One sled batch of every unit that claims nothing already claimed (the others are
    /// answered with a conflict at once), with sequence numbers for their events.
    fn stage(&mut self, units: Vec<(Unit, Reply)>) -> Staged {
        let mut staged = Staged {
            batch: sled::Batch::default(),
            writes: 0,
            accepted: Vec::with_capacity(units.len()),
            pending: HashMap::new(),
            touched: self.changed.is_some().then(Vec::new),
        };
        let first_seq = self.next_seq;
        let at = self.clock.now();
        for (unit, reply) in units {
            if let Some(key) = self.first_conflict(&unit, &staged.pending) {
                let _ = reply.send(Err(StorageError::Conflict(key)));
                continue;
            }
            let committed = self.stage_unit(&mut staged, unit, at);
            staged.accepted.push((reply, committed));
        }
        if self.next_seq != first_seq {
            // Kept beside the log so trimming the log never lets a sequence number repeat.
            let head = codec::encode(&(self.next_seq - 1));
            staged.batch.insert(keys::LOG_HEAD, head);
        }
        if let Some(changed) = self.changed.as_mut() {
            changed.extend(staged.touched.take().into_iter().flatten());
            changed.insert(keys::LOG_HEAD.to_vec());
        }
        staged
    }

    /// Adds one unit's claims, writes and events (numbered from `next_seq`) to the batch.
    fn stage_unit(&mut self, s: &mut Staged, unit: Unit, at: Millis) -> Committed {
        for (key, owner) in unit.claims {
            track(&mut s.touched, &key);
            s.pending.insert(key.clone(), Some(owner.clone()));
            s.batch.insert(key, owner);
            s.writes += 1;
        }
        for op in unit.ops {
            match op {
                Op::Put(k, v) => {
                    track(&mut s.touched, &k);
                    s.batch.insert(k, v);
                }
                Op::Remove(k) => {
                    track(&mut s.touched, &k);
                    s.pending.insert(k.clone(), None);
                    s.batch.remove(k);
                }
            }
            s.writes += 1;
        }
        let mut last_seq = None;
        for event in unit.events {
            let seq = self.next_seq;
            self.next_seq += 1;
            let record = EventRecord { seq, at, event };
            track(&mut s.touched, &keys::event(seq));
            s.batch.insert(keys::event(seq), codec::encode(&record));
            s.writes += 1;
            last_seq = Some(seq);
        }
        Committed { last_seq }
    }

    fn first_conflict(
        &self,
        unit: &Unit,
        pending: &HashMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Option<Vec<u8>> {
        unit.claims.iter().find_map(|(key, owner)| {
            let current = match pending.get(key) {
                Some(v) => v.clone(),
                // A read error counts as taken: refusing is safe, double-granting is not.
                None => match self.db.get(key) {
                    Ok(v) => v.map(|v| v.to_vec()),
                    Err(_) => return Some(key.clone()),
                },
            };
            match current {
                Some(holder) if holder != *owner => Some(key.clone()),
                _ => None,
            }
        })
    }
}

/// The sequence number of the last event ever appended (0 if none), even if trimmed since.
pub(super) fn last_seq(db: &sled::Db) -> Result<u64, StorageError> {
    let in_log = match db.scan_prefix(keys::EVENTS).keys().next_back() {
        Some(last) => keys::id_of(&last?).unwrap_or(0),
        None => 0,
    };
    let recorded = match db.get(keys::LOG_HEAD)? {
        Some(v) => codec::decode::<u64>(&v)?,
        None => 0,
    };
    Ok(in_log.max(recorded))
}

/// Notes `key` as written by this batch, if keys are being tracked.
fn track(touched: &mut Option<Vec<Vec<u8>>>, key: &[u8]) {
    if let Some(t) = touched {
        t.push(key.to_vec());
    }
}

//! Event-log retention: trimming the oldest events while the server runs, and telling a reader
//! who asks for a trimmed position so, instead of handing it a silent gap.
//!
//! The log is gap-free from sequence 1 and only ever trimmed from the front, so "the first
//! event after `after` is not `after + 1`" means exactly "events after `after` were trimmed".
//! Trims go through the store writer like every other write (in chunks, each one atomic and
//! synced), so they interleave with live traffic and need no lock. They never remove an event
//! an in-process subscriber (`sub/` offsets) has not handled yet; the sequence continues after
//! the old head however much is trimmed (`meta/log-head`).

use super::{keys, StorageError, Store};
use crate::domain::event::EventRecord;
use crate::domain::Millis;
use std::time::Duration;

/// Events decoded per page while looking for the first one young enough to keep.
const AGE_SCAN_PAGE: usize = 256;
/// Most events one policy run removes, so one run never holds the writer for long; the next
/// run goes on from there.
const MAX_PER_RUN: u64 = 100_000;

/// How much of the log to keep (`--events-retain`, `--events-retain-count`). An event goes
/// once it is older than `max_age` or more than `max_events` newer events follow it, and
/// every subscriber has handled it. The default keeps everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub max_age: Option<Duration>,
    pub max_events: Option<u64>,
}

impl Policy {
    pub fn keeps_everything(&self) -> bool {
        self.max_age.is_none() && self.max_events.is_none()
    }
}

/// What a trim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Trimmed {
    /// Events removed by this trim.
    pub removed: u64,
    /// The oldest sequence number still in the log (`head_seq + 1` when the log is empty).
    pub oldest_seq: u64,
    /// The last sequence number ever appended.
    pub head_seq: u64,
}

/// The oldest sequence number still in the log; `head + 1` if it is empty.
pub fn oldest(store: &Store) -> Result<u64, StorageError> {
    let head = *store.head().borrow();
    let first = store.keys_between(keys::EVENTS, &keys::event(u64::MAX), 1)?;
    Ok(first
        .first()
        .and_then(|k| keys::id_of(k))
        .unwrap_or(head + 1))
}

/// The lowest offset of all in-process subscribers (`None` if there are none): events at or
/// below it have been handled by every one of them.
pub fn lowest_subscriber_offset(store: &Store) -> Result<Option<u64>, StorageError> {
    let subs = store.scan_prefix::<u64>(keys::SUBSCRIBERS)?;
    Ok(subs.into_iter().map(|(_, offset)| offset).min())
}

/// Like [`Store::events_after`], but `Trimmed` when events after `after` are gone, so the
/// caller can tell its client instead of skipping them.
pub fn read_after(
    store: &Store,
    after: u64,
    limit: usize,
) -> Result<Vec<EventRecord>, StorageError> {
    // Read before the events: the head only grows, so an event at or below it existed.
    let head = *store.head().borrow();
    let events = store.events_after(after, limit)?;
    let gap = match events.first() {
        Some(first) => first.seq != after + 1,
        None => after < head,
    };
    if gap {
        let oldest = events
            .first()
            .map_or_else(|| oldest(store), |e| Ok(e.seq))?;
        return Err(StorageError::Trimmed { oldest });
    }
    Ok(events)
}

/// Deletes the events below `before`, refusing (`StillNeeded`) if a subscriber has not
/// handled all of them. Safe while serving: subscriber offsets only grow.
pub async fn trim(store: &Store, before: u64) -> Result<Trimmed, StorageError> {
    let lowest = lowest_subscriber_offset(store)?.unwrap_or(0);
    if before > lowest + 1 {
        return Err(StorageError::StillNeeded {
            before,
            max_before: lowest + 1,
        });
    }
    let removed = store.trim_events(before).await?;
    summary(store, removed)
}

/// Applies `policy` now: trims what it lets go, as far as every subscriber has read (at most
/// [`MAX_PER_RUN`] events per call).
pub async fn apply(store: &Store, policy: &Policy, now: Millis) -> Result<Trimmed, StorageError> {
    let from = oldest(store)?;
    let wanted = cut(store, policy, now, from)?;
    let needed = lowest_subscriber_offset(store)?.map_or(u64::MAX, |low| low + 1);
    let before = wanted.min(needed).min(from.saturating_add(MAX_PER_RUN));
    let removed = if before > from {
        store.trim_events(before).await?
    } else {
        0
    };
    summary(store, removed)
}

fn summary(store: &Store, removed: u64) -> Result<Trimmed, StorageError> {
    metrics::counter!(crate::telemetry::names::EVENTS_TRIMMED).increment(removed);
    Ok(Trimmed {
        removed,
        oldest_seq: oldest(store)?,
        head_seq: *store.head().borrow(),
    })
}

/// The first sequence number `policy` keeps (everything below it may go), looking at the log
/// from `from` (its oldest event).
fn cut(store: &Store, policy: &Policy, now: Millis, from: u64) -> Result<u64, StorageError> {
    let head = *store.head().borrow();
    let mut before = 0;
    if let Some(n) = policy.max_events {
        before = before.max((head + 1).saturating_sub(n));
    }
    if let Some(age) = policy.max_age {
        let threshold = now.saturating_sub(age.as_millis() as u64);
        before = before.max(first_at_or_after(store, threshold, from, head)?);
    }
    Ok(before)
}

/// The sequence number of the first event stamped at or after `threshold` (`head + 1` if
/// none is). Stamps follow sequence order, so this scans only the events that may go.
fn first_at_or_after(
    store: &Store,
    threshold: Millis,
    from: u64,
    head: u64,
) -> Result<u64, StorageError> {
    let mut start = from;
    while start <= head {
        let page = store.scan::<EventRecord>(keys::EVENTS, &keys::event(start), AGE_SCAN_PAGE)?;
        let Some(last) = page.last().map(|(_, e)| e.seq) else {
            break;
        };
        if let Some((_, young)) = page.iter().find(|(_, e)| e.at >= threshold) {
            return Ok(young.seq);
        }
        start = last + 1;
    }
    Ok(head + 1)
}

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
/// caller can tell its client instead of skipping them, and `AheadOfLog` when `after` is past
/// the durable head (a made-up position, or one from before a restore).
///
/// A page is handed out only if it is whole: it starts at `after + 1` and every event follows
/// the one before it. A trim racing the read removes a prefix of the log while the read walks
/// it, so the read can see part of it (`…20751` then `21001…`); that page is refused as
/// `Trimmed`, naming the oldest event left once the read is done.
pub fn read_after(
    store: &Store,
    after: u64,
    limit: usize,
) -> Result<Vec<EventRecord>, StorageError> {
    // Read before the events: the head only grows, so an event at or below it existed.
    let head = *store.head().borrow();
    if after > head {
        return Err(StorageError::AheadOfLog { head });
    }
    let events = store.events_after(after, limit)?;
    let whole = match events.first() {
        Some(_) => events.iter().zip(after + 1..).all(|(e, seq)| e.seq == seq),
        None => after == head,
    };
    if !whole {
        return Err(StorageError::Trimmed {
            oldest: oldest(store)?,
        });
    }
    Ok(events)
}

/// Up to `limit` events from the oldest one in the log, whole as [`read_after`] makes sure.
/// A trim that moves the front while reading makes it start again from the new front.
pub fn read_from_oldest(store: &Store, limit: usize) -> Result<Vec<EventRecord>, StorageError> {
    /// Trims run in bounded chunks, so a reader overtaken this often is being starved.
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        let from = oldest(store)?;
        match read_after(store, from - 1, limit) {
            Err(StorageError::Trimmed { .. }) if attempt + 1 < ATTEMPTS => attempt += 1,
            read => return read,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, Event, UserId};
    use crate::storage::Unit;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A store whose log holds events 1..=`n`, written in units of 1,000.
    async fn log_of(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 64 << 20).unwrap();
        for unit in 0..n / 1000 {
            let events = (0..1000).map(|i| Event::CartCreated {
                cart_id: CartId(unit * 1000 + i),
                user_id: UserId(1),
            });
            store
                .write(events.fold(Unit::default(), Unit::event))
                .await
                .unwrap();
        }
        (dir, store)
    }

    /// Pages from the front of the log, again and again until `done`: (pages with a hole,
    /// pages refused as trimmed).
    fn page_from_the_front(store: &Store, done: &AtomicBool) -> (Vec<String>, u64) {
        let (mut holes, mut trimmed) = (Vec::new(), 0);
        while !done.load(Ordering::Relaxed) {
            let after = oldest(store).unwrap() - 1;
            match read_after(store, after, 1000) {
                Ok(page) => {
                    let seqs: Vec<u64> = page.iter().map(|e| e.seq).collect();
                    if seqs.iter().zip(after + 1..).any(|(s, want)| *s != want) {
                        let jump = seqs.windows(2).find(|w| w[1] != w[0] + 1);
                        holes.push(format!(
                            "after={after}: first {:?}, jump {jump:?}",
                            seqs.first()
                        ));
                    }
                }
                Err(StorageError::Trimmed { oldest }) => {
                    assert!(oldest > after + 1, "410 must name a later oldest");
                    trimmed += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        (holes, trimmed)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_read_while_trims_advance_are_whole_or_refused_as_trimmed() {
        let (_dir, store) = log_of(40_000).await;
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, done) = (store.clone(), done.clone());
                tokio::task::spawn_blocking(move || page_from_the_front(&store, &done))
            })
            .collect();
        // Trims chase the readers: each removes the next 250 events from the front.
        for before in (251..=40_000).step_by(250) {
            store.trim_events(before).await.unwrap();
        }
        done.store(true, Ordering::Relaxed);
        let mut holes = Vec::new();
        for reader in readers {
            let (h, trimmed) = reader.await.unwrap();
            eprintln!("a reader was refused {trimmed} pages as trimmed");
            holes.extend(h);
        }
        assert!(holes.is_empty(), "pages with a hole: {holes:#?}");
    }

    #[tokio::test]
    async fn a_position_past_the_head_is_refused_naming_the_head() {
        let (_dir, store) = log_of(1000).await;
        assert_eq!(read_after(&store, 1000, 10).unwrap().len(), 0);
        assert!(matches!(
            read_after(&store, 1001, 10),
            Err(StorageError::AheadOfLog { head: 1000 })
        ));
        assert_eq!(read_from_oldest(&store, 5).unwrap()[0].seq, 1);
    }
}

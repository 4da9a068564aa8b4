//! Following the durable event log from a position: the log after it, then every event as it
//! becomes durable. The gateway's SSE stream is built on it.
//!
//! The follower reads the log itself, in pages, and waits on the log head when it has caught
//! up. A slow reader therefore only falls behind in the log: it holds at most one page in
//! memory and never slows the actors or the writer.

use crate::domain::event::EventRecord;
use crate::storage::{retention, StorageError, Store};
use futures_util::Stream;
use std::collections::VecDeque;

/// Events read from the log per page.
const PAGE: usize = 256;

/// Where a follower is in the log.
struct Cursor {
    store: Store,
    /// The sequence number of the last event handed out.
    after: u64,
    page: VecDeque<EventRecord>,
    head: tokio::sync::watch::Receiver<u64>,
}

/// The log after `after`, then every event as it becomes durable. The stream ends when the
/// store closes, when retention trims the log past it (a reader resuming then hears that it
/// missed events), or (logged) when the log cannot be read.
pub fn follow(store: Store, after: u64) -> impl Stream<Item = EventRecord> + Send + 'static {
    let cursor = Cursor {
        head: store.head(),
        store,
        after,
        page: VecDeque::new(),
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(record) = c.page.pop_front() {
                c.after = record.seq;
                return Some((record, c));
            }
            match retention::read_after(&c.store, c.after, PAGE) {
                Ok(page) if !page.is_empty() => c.page = page.into(),
                Ok(_) => {
                    // Caught up: wait for the head to move (ends when the store closes).
                    c.head.mark_unchanged();
                    if *c.head.borrow() > c.after {
                        continue;
                    }
                    c.head.changed().await.ok()?;
                }
                Err(StorageError::Trimmed { oldest }) => {
                    tracing::warn!(
                        after = c.after,
                        oldest,
                        "a log follower fell behind the trimmed log"
                    );
                    return None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a log follower cannot read the log");
                    return None;
                }
            }
        }
    })
}

//! Following the durable event log from a position: the log after it, page by page, then each
//! new page as the durable head moves. The one log reader behind `GET /events/stream` and
//! `GET /products/stream`.
//!
//! The follower reads the log itself, in pages, and waits on the log head when it has caught
//! up. A slow reader therefore only falls behind in the log: it holds at most one page in
//! memory and never slows the actors or the writer. It never passes the durable head, so it
//! never hands out an event that a crash could lose.

use crate::domain::event::EventRecord;
use crate::storage::{retention, StorageError, Store};
use futures_util::{Stream, StreamExt};

/// Events read from the log per page.
pub const PAGE: usize = 256;

/// Where a follower is in the log.
struct Cursor {
    store: Store,
    /// The sequence number of the last event handed out.
    after: u64,
    head: tokio::sync::watch::Receiver<u64>,
    /// A read failed: that error was the last item.
    failed: bool,
}

/// The events after `after` in pages of up to [`PAGE`] (never empty), then each new page as it
/// becomes durable. Ends when the store closes; a failed read (for instance `Trimmed`, when
/// retention overtook a slow reader) is the last item.
pub fn pages(
    store: Store,
    after: u64,
) -> impl Stream<Item = Result<Vec<EventRecord>, StorageError>> + Send + 'static {
    let cursor = Cursor {
        head: store.head(),
        store,
        after,
        failed: false,
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        if c.failed {
            return None;
        }
        loop {
            match retention::read_after(&c.store, c.after, PAGE) {
                Ok(page) if !page.is_empty() => {
                    c.after = page.last().map_or(c.after, |e| e.seq);
                    return Some((Ok(page), c));
                }
                Ok(_) => {
                    // Caught up: wait for the head to move (ends when the store closes).
                    c.head.mark_unchanged();
                    if *c.head.borrow() > c.after {
                        continue;
                    }
                    c.head.changed().await.ok()?;
                }
                Err(e) => {
                    c.failed = true;
                    return Some((Err(e), c));
                }
            }
        }
    })
}

/// [`pages`], one event at a time; a failed read ends the stream (logged), so that a client
/// reconnects with its position and hears why.
pub fn follow(store: Store, after: u64) -> impl Stream<Item = EventRecord> + Send + 'static {
    pages(store, after)
        .take_while(|page| {
            match page {
                Err(StorageError::Trimmed { oldest }) => {
                    tracing::warn!(oldest, "a log follower fell behind the trimmed log")
                }
                Err(e) => tracing::error!(error = %e, "a log follower cannot read the log"),
                Ok(_) => {}
            }
            std::future::ready(page.is_ok())
        })
        .flat_map(|page| futures_util::stream::iter(page.unwrap_or_default()))
}

//! Following the durable event log: every event after a position, page by page, then each new
//! page as the durable head moves. The one log reader behind `GET /events/stream` and
//! `GET /products/stream`.
//!
//! A follower reads the log itself (never a copy in memory), so a slow one only falls behind in
//! the log: it holds at most one page and never slows the actors or the writer. It never
//! passes the durable head, so it never hands out an event that a crash could lose.

use super::{StorageError, Store};
use crate::domain::event::EventRecord;
use futures_util::Stream;

/// Events read from the log per page.
pub const PAGE: usize = 256;

impl Store {
    /// The events after `after`, in pages of up to [`PAGE`] (never empty), then each new page as
    /// it becomes durable. Ends when the store closes; a failed read is the last item.
    pub fn follow(
        &self,
        after: u64,
    ) -> impl Stream<Item = Result<Vec<EventRecord>, StorageError>> + Send + 'static {
        struct Cursor {
            store: Store,
            after: u64,
            head: tokio::sync::watch::Receiver<u64>,
            failed: bool,
        }
        let cursor = Cursor {
            head: self.head(),
            store: self.clone(),
            after,
            failed: false,
        };
        futures_util::stream::unfold(cursor, |mut c| async move {
            if c.failed {
                return None;
            }
            loop {
                match c.store.events_after(c.after, PAGE) {
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
}

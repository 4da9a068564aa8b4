//! What every Server-Sent Events stream goes through: a cap on how many are open at once
//! (`--max-streams`, less what the descriptor reserve asks), so that streams cannot take the
//! descriptors the rest of the API needs, and an end for all of them when shutdown begins, so
//! that graceful shutdown does not wait on them.

use super::error::ApiError;
use crate::actors::follow::{Feeds, Page};
use crate::actors::Actors;
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use warp::sse;

/// Seconds a client refused for want of a stream slot is asked to wait.
const RETRY_AFTER_SECS: u64 = 5;

/// The streams' shared followers, their cap and their end. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    /// The shared followers the streams listen to.
    pub feeds: Feeds,
    /// One permit per open stream.
    permits: Arc<Semaphore>,
    /// Turns true when shutdown begins: every stream and follower ends.
    closing: Arc<watch::Sender<bool>>,
    /// The followers' tasks, awaited by [`Streams::close`].
    followers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// A slot for one open stream: the stream holds it until it ends.
pub struct Slot {
    permit: OwnedSemaphorePermit,
    closing: watch::Receiver<bool>,
}

impl Streams {
    /// Starts the feeds' followers; at most `cap` streams may be open at once.
    pub fn start(actors: &Actors, cap: usize) -> Self {
        let (closing, watching) = watch::channel(false);
        let (feeds, followers) = Feeds::start(actors, &watching);
        Self {
            feeds,
            permits: Arc::new(Semaphore::new(cap)),
            closing: Arc::new(closing),
            followers: Arc::new(Mutex::new(followers)),
        }
    }

    /// A slot for a new stream, or 503 with `Retry-After` when all are taken (or shutdown
    /// has begun).
    pub fn slot(&self) -> Result<Slot, ApiError> {
        let closing = self.closing.subscribe();
        if *closing.borrow() {
            return Err(ApiError::too_many_streams(RETRY_AFTER_SECS));
        }
        let permit = self.permits.clone().try_acquire_owned();
        let permit = permit.map_err(|_| ApiError::too_many_streams(RETRY_AFTER_SECS))?;
        Ok(Slot { permit, closing })
    }

    /// Ends every open stream and the followers, and waits for the followers to stop.
    pub async fn close(&self) {
        self.closing.send_replace(true);
        let followers =
            std::mem::take(&mut *self.followers.lock().unwrap_or_else(|e| e.into_inner()));
        for follower in followers {
            let _ = follower.await;
        }
    }
}

impl Slot {
    /// `stream`, ending when shutdown begins; the slot is free again once it ends or its
    /// client goes.
    pub fn hold<S: Stream + Send + 'static>(self, stream: S) -> impl Stream<Item = S::Item> + Send {
        let Slot {
            permit,
            mut closing,
        } = self;
        stream.take_until(async move {
            let _permit = permit;
            let _ = closing.wait_for(|c| *c).await;
        })
    }
}

/// A feed's pages as SSE, each page's frames rendered by `frame` once for all its listeners.
///
/// warp sends one `sse::Event` per item, so a page goes out as one: an empty comment line,
/// then the page's frames as warp formats them. A listener thus costs one copy and one write
/// per page, not a serialisation and a write per frame.
pub fn frames<T: Send + Sync + 'static>(
    pages: impl Stream<Item = Arc<Page<T>>> + Send + 'static,
    frame: fn(&T) -> sse::Event,
) -> impl Stream<Item = Result<sse::Event, Infallible>> + Send + 'static {
    pages.map(move |page| {
        let text = page.rendered(|items| {
            let mut text = String::from("\n");
            for item in items {
                text.push_str(&frame(item).to_string());
            }
            // warp ends the comment, and then the event, with a newline each.
            text.truncate(text.trim_end_matches('\n').len());
            text
        });
        Ok(sse::Event::default().comment(text.to_owned()))
    })
}

//! Following the durable event log, shared: one follower per feed reads each new page of the
//! log once, turns it into the feed's items once (for the stock feed, that is the inventory
//! calls and the store barrier), and broadcasts the result. A listener of
//! `GET /events/stream` or `GET /products/stream` costs a cursor and a socket.
//!
//! A listener never skips silently. It checks that each broadcast page starts where it is;
//! when it does not — it joined behind the follower, or fell more than [`BACKLOG`] pages
//! behind — it reads the log itself (paying for its own items) until it has caught up, and a
//! read the log refuses (`Trimmed`) ends it. Nobody ever passes the durable head, so no item
//! shows an event a crash could lose. With no listener the follower reads nothing.

use super::Error;
use crate::domain::event::EventRecord;
use crate::storage::{retention, StorageError, Store};
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Events read from the log per page.
pub const PAGE: usize = 256;
/// Events per page of the shared follower: a product changed twice in a page is sent once.
const SHARED_PAGE: usize = 4 * PAGE;
/// The follower's wait after a page that reached the head: under load a listener gets a few
/// full pages a second, not one per group commit (a write per page is what it costs).
const PACE: std::time::Duration = std::time::Duration::from_millis(100);
/// Pages the broadcast keeps for a listener slow to take them; one further behind catches up
/// by reading the log itself.
const BACKLOG: usize = 64;

/// What a feed makes of the log.
pub trait Source: Send + Sync + 'static {
    type Item: Clone + Send + Sync + 'static;
    /// The items one page of the log's events becomes.
    fn items(
        &self,
        events: &[EventRecord],
    ) -> impl Future<Output = Result<Vec<Self::Item>, Error>> + Send;
}

/// What the log's events `after + 1 ..= last` became, shared by every listener.
pub struct Page<T> {
    after: u64,
    last: u64,
    /// `None` if the follower could not make them into items: each listener then reads
    /// them itself (and hears the error).
    items: Option<Vec<T>>,
    /// The items as their listeners send them, made by the first listener that asks.
    rendered: OnceLock<String>,
}

impl<T> Page<T> {
    fn new(after: u64, last: u64, items: Option<Vec<T>>) -> Arc<Self> {
        let rendered = OnceLock::new();
        Arc::new(Self {
            after,
            last,
            items,
            rendered,
        })
    }

    pub fn items(&self) -> &[T] {
        self.items.as_deref().unwrap_or_default()
    }

    /// The items rendered by `render`, once for all listeners of this page.
    pub fn rendered(&self, render: impl FnOnce(&[T]) -> String) -> &str {
        self.rendered.get_or_init(|| render(self.items()))
    }
}

/// One feed: its follower's broadcast, and what a listener needs to read the log itself.
pub struct Feed<S: Source> {
    shared: Arc<Shared<S>>,
}

impl<S: Source> Clone for Feed<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<S: Source> {
    store: Store,
    source: S,
    pages: broadcast::Sender<Arc<Page<S::Item>>>,
}

impl<S: Source> Feed<S> {
    /// Starts the feed's follower, which runs until `closing` turns true (or its sender goes)
    /// or the store closes. Listeners then end too.
    pub fn start(
        store: Store,
        source: S,
        closing: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let (pages, _) = broadcast::channel(BACKLOG);
        let shared = Arc::new(Shared {
            store,
            source,
            pages,
        });
        let follower = {
            let shared = shared.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = closed(closing) => {}
                    () = follow(&shared) => {}
                }
            })
        };
        (Self { shared }, follower)
    }

    /// The items after log position `after` (`None`: the live end), as they become durable;
    /// up front `EventsTrimmed` if the log no longer reaches `after`, or `PositionAheadOfLog`
    /// if it has not reached it. A failed read (logged) ends it, so that its client reconnects
    /// with its position and hears why.
    pub fn listen(
        &self,
        after: Option<u64>,
    ) -> Result<impl Stream<Item = Arc<Page<S::Item>>> + Send + 'static, Error> {
        // Subscribe before reading: nothing can fall between the reads and the broadcast.
        let pages = self.shared.pages.subscribe();
        let pos = after.unwrap_or_else(|| *self.shared.store.head().borrow());
        let behind = !retention::read_after(&self.shared.store, pos, 1)?.is_empty();
        let listener = Listener {
            shared: self.shared.clone(),
            pages,
            pos,
            catching_up: behind,
            failed: false,
        };
        let pages = futures_util::stream::unfold(listener, |mut l| async move {
            let next = l.next().await?;
            Some((next, l))
        });
        Ok(pages
            .take_while(|page| {
                if let Err(e) = page {
                    tracing::warn!(error = %e, "a feed's listener stops; its client resumes");
                }
                std::future::ready(page.is_ok())
            })
            .filter_map(|page| std::future::ready(page.ok().filter(|p| !p.items().is_empty()))))
    }
}

/// Resolves once `closing` turns true or its sender is gone.
async fn closed(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

/// The follower: each new page of the log, made into items once and broadcast, while anyone
/// listens. Ends when the store closes.
async fn follow<S: Source>(shared: &Shared<S>) {
    let mut head = shared.store.head();
    let mut after = *head.borrow_and_update();
    loop {
        let now = *head.borrow_and_update();
        if shared.pages.receiver_count() == 0 {
            // Nobody listens: skip what is there; a new listener catches up by itself.
            after = now;
        } else {
            match retention::read_after(&shared.store, after, SHARED_PAGE) {
                Ok(events) if !events.is_empty() => {
                    let last = events.last().map_or(after, |e| e.seq);
                    let items = shared.source.items(&events).await;
                    if let Err(e) = &items {
                        tracing::warn!(error = %e, "a feed's follower could not build a page");
                    }
                    let _ = shared.pages.send(Page::new(after, last, items.ok()));
                    after = last;
                    if events.len() < SHARED_PAGE {
                        tokio::time::sleep(PACE).await;
                    }
                    continue;
                }
                Ok(_) => {}
                // Retention overtook the follower: go on from the oldest event left; the gap
                // makes every listener behind it read the log, and hear the 410.
                Err(StorageError::Trimmed { oldest }) => {
                    after = oldest - 1;
                    continue;
                }
                Err(e) => tracing::warn!(error = %e, "a feed's follower cannot read the log"),
            }
        }
        if head.changed().await.is_err() {
            return;
        }
    }
}

/// One listener's cursor.
struct Listener<S: Source> {
    shared: Arc<Shared<S>>,
    pages: broadcast::Receiver<Arc<Page<S::Item>>>,
    /// The last log position whose items were handed out.
    pos: u64,
    /// Reading the log itself until it reaches the head.
    catching_up: bool,
    /// A read failed: that error was the last item.
    failed: bool,
}

impl<S: Source> Listener<S> {
    async fn next(&mut self) -> Option<Result<Arc<Page<S::Item>>, Error>> {
        if self.failed {
            return None;
        }
        loop {
            if self.catching_up {
                match self.read_itself().await {
                    Some(Ok(page)) => return Some(Ok(page)),
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                    None => self.catching_up = false,
                }
            }
            match self.pages.recv().await {
                Ok(page) if page.last <= self.pos => {}
                Ok(page) if page.after == self.pos => {
                    if page.items.is_some() {
                        self.pos = page.last;
                        return Some(Ok(page));
                    }
                    self.catching_up = true;
                }
                // A gap before the page, or the broadcast dropped pages: read the log.
                Ok(_) | Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next page after `pos` read from the log by this listener; `None` at the head.
    async fn read_itself(&mut self) -> Option<Result<Arc<Page<S::Item>>, Error>> {
        let events = match retention::read_after(&self.shared.store, self.pos, PAGE) {
            Ok(events) if events.is_empty() => return None,
            Ok(events) => events,
            Err(e) => return Some(Err(e.into())),
        };
        let items = match self.shared.source.items(&events).await {
            Ok(items) => items,
            Err(e) => return Some(Err(e)),
        };
        let (after, last) = (self.pos, events.last().map_or(self.pos, |e| e.seq));
        self.pos = last;
        Some(Ok(Page::new(after, last, Some(items))))
    }
}

/// The whole log as it is: the admin's event feed.
pub struct LogEvents;

impl Source for LogEvents {
    type Item = EventRecord;

    async fn items(&self, events: &[EventRecord]) -> Result<Vec<EventRecord>, Error> {
        Ok(events.to_vec())
    }
}

/// The app's feeds, each with its one follower.
#[derive(Clone)]
pub struct Feeds {
    /// Every event (`GET /events/stream`).
    pub events: Feed<LogEvents>,
    /// Stock changes (`GET /products/stream`).
    pub stock: Feed<super::stock_feed::StockChanges>,
}

impl Feeds {
    /// Starts both followers; they end when `closing` turns true.
    pub fn start(
        actors: &super::Actors,
        closing: &watch::Receiver<bool>,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let store = actors.store.clone();
        let (events, a) = Feed::start(store.clone(), LogEvents, closing.clone());
        let stock_source = super::stock_feed::StockChanges(actors.clone());
        let (stock, b) = Feed::start(store, stock_source, closing.clone());
        (Self { events, stock }, vec![a, b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, Event, UserId};
    use crate::storage::Unit;
    use futures_util::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The log's sequence numbers, counting how often a page is made into items; fails
    /// once when told to.
    struct Counted(Arc<AtomicUsize>, Arc<std::sync::atomic::AtomicBool>);

    impl Source for Counted {
        type Item = u64;

        async fn items(&self, events: &[EventRecord]) -> Result<Vec<u64>, Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if self.1.swap(false, Ordering::SeqCst) {
                return Err(Error::Unavailable("told to fail".into()));
            }
            Ok(events.iter().map(|e| e.seq).collect())
        }
    }

    async fn append(store: &Store, n: u64) {
        let event = Event::CartCreated {
            cart_id: CartId(n),
            user_id: UserId(1),
        };
        store.write(Unit::default().event(event)).await.unwrap();
    }

    /// The feed's items one by one.
    fn items(feed: &Feed<Counted>, after: Option<u64>) -> impl Stream<Item = u64> {
        let pages = feed.listen(after).unwrap();
        pages.flat_map(|page| futures_util::stream::iter(page.items().to_vec()))
    }

    async fn next(stream: &mut (impl Stream<Item = u64> + Unpin)) -> u64 {
        let wait = std::time::Duration::from_secs(60);
        let item = tokio::time::timeout(wait, stream.next()).await;
        item.expect("an item in time").expect("the feed goes on")
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        /// Kept: the follower ends when it goes.
        _closing: watch::Sender<bool>,
        store: Store,
        feed: Feed<Counted>,
        /// How many pages were made into items.
        built: Arc<AtomicUsize>,
        /// Makes the next page fail to become items.
        fail_once: Arc<std::sync::atomic::AtomicBool>,
    }

    fn feed() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        let built = Arc::new(AtomicUsize::new(0));
        let (closing, watching) = watch::channel(false);
        let fail_once = Arc::default();
        let source = Counted(built.clone(), Arc::clone(&fail_once));
        let (feed, _) = Feed::start(store.clone(), source, watching);
        Fixture {
            _dir: dir,
            _closing: closing,
            store,
            feed,
            built,
            fail_once,
        }
    }

    #[tokio::test]
    async fn listeners_share_one_follower_that_builds_each_page_once() {
        let f = feed();
        let (store, feed, built) = (&f.store, &f.feed, &f.built);
        let mut listeners: Vec<_> = (0..20).map(|_| Box::pin(items(feed, None))).collect();
        for n in 1..=10 {
            append(store, n).await;
            for l in &mut listeners {
                assert_eq!(next(l).await, n);
            }
        }
        // One page per append at most, whatever the number of listeners.
        let built = built.load(Ordering::SeqCst);
        assert!(built <= 10, "pages built {built} times for 10 appends");
    }

    #[tokio::test]
    async fn a_listener_past_the_backlog_reads_the_log_itself_and_skips_nothing() {
        let f = feed();
        let (store, feed, built) = (&f.store, &f.feed, &f.built);
        let mut keeping_up = Box::pin(items(feed, None));
        let mut lagging = Box::pin(items(feed, None));
        append(store, 1).await;
        assert_eq!(next(&mut keeping_up).await, 1);
        assert_eq!(next(&mut lagging).await, 1);
        // Parked on the broadcast, then not polled while more pages than it keeps go by.
        assert!(lagging.next().now_or_never().is_none());
        let last = 2 + BACKLOG as u64 + 10;
        for n in 2..=last {
            append(store, n).await;
            assert_eq!(next(&mut keeping_up).await, n);
        }
        let before = built.load(Ordering::SeqCst);
        for n in 2..=last {
            assert_eq!(
                next(&mut lagging).await,
                n,
                "nothing skipped, nothing repeated"
            );
        }
        assert!(
            built.load(Ordering::SeqCst) > before,
            "it read the log itself"
        );
    }

    #[tokio::test]
    async fn a_page_the_follower_could_not_build_is_read_by_the_listener_itself() {
        let f = feed();
        let mut listener = Box::pin(items(&f.feed, None));
        f.fail_once.store(true, Ordering::SeqCst);
        append(&f.store, 1).await;
        assert_eq!(
            next(&mut listener).await,
            1,
            "the failed page is not skipped"
        );
        append(&f.store, 2).await;
        assert_eq!(next(&mut listener).await, 2);
    }

    #[tokio::test]
    async fn a_listener_behind_the_follower_catches_up_from_its_position() {
        let f = feed();
        let (store, feed) = (&f.store, &f.feed);
        let mut live = Box::pin(items(feed, None));
        for n in 1..=5 {
            append(store, n).await;
            assert_eq!(next(&mut live).await, n);
        }
        let mut resumed = Box::pin(items(feed, Some(2)));
        append(store, 6).await;
        for n in 3..=6 {
            assert_eq!(next(&mut resumed).await, n);
        }
        assert!(matches!(
            feed.listen(Some(7)).err(),
            Some(Error::PositionAheadOfLog { head: 6 })
        ));
    }
}

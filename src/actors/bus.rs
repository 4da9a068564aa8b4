//! The event bus: in-process subscribers that follow the durable event log.
//!
//! A [`Subscriber`] actor reads the log after its stored offset, hands each batch to its
//! [`Projection`], and writes the projection's changes together with the new offset in one
//! atomic unit. Delivery is therefore in sequence order and effectively once; after a restart
//! (of the actor or the process) it resumes from the stored offset. It is woken by the log
//! head moving, so an idle subscriber costs nothing. A projection that fails makes the actor
//! fail; its supervisor restarts it and it retries the same batch.

use crate::domain::event::EventRecord;
use crate::storage::{codec, keys, StorageError, Store, Unit};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

/// Events handed to a projection at once.
const BATCH: usize = 512;

/// A consumer of the event log: turns events into writes of its own state.
pub trait Projection: Clone + Send + Sync + 'static {
    /// Names the stored offset (`sub/{NAME}`); must be unique per projection.
    const NAME: &'static str;

    /// Adds to `unit` what `events` change in the projection's state. Called with events in
    /// sequence order, each exactly once unless a write failed (then the batch is retried).
    fn apply(
        &self,
        store: &Store,
        events: &[EventRecord],
        unit: Unit,
    ) -> Result<Unit, ActorProcessingErr>;
}

/// The offset a projection has handled up to (0: nothing yet).
pub fn offset_of(store: &Store, name: &str) -> Result<u64, StorageError> {
    Ok(store.get::<u64>(&keys::subscriber(name))?.unwrap_or(0))
}

/// The lowest offset of all subscribers: events at or below it may be trimmed.
pub fn lowest_offset(store: &Store) -> Result<Option<u64>, StorageError> {
    crate::storage::retention::lowest_subscriber_offset(store)
}

/// A subscriber whose offset lies before the oldest event kept (a new projection, or one whose
/// offset was deleted, on a trimmed log) would build its state from part of the history and
/// show wrong figures as if they were right. It refuses to start instead, which stops the
/// server from starting, with this error: the operator restores a backup taken before the trim
/// (docs/operations.md, "Retention").
fn refuse_partial_history(store: &Store, name: &str, offset: u64) -> Result<(), StorageError> {
    let oldest = crate::storage::retention::oldest(store)?;
    if offset + 1 < oldest {
        return Err(StorageError::PartialHistory {
            subscriber: name.to_string(),
            offset,
            oldest,
        });
    }
    Ok(())
}

pub struct Subscriber<P: Projection> {
    pub store: Store,
    pub projection: P,
}

impl<P: Projection> Clone for Subscriber<P> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            projection: self.projection.clone(),
        }
    }
}

pub enum SubscriberMsg {
    /// New events may be in the log.
    Poll,
}

pub struct SubscriberState {
    /// Last sequence number handled.
    offset: u64,
    /// Casts `Poll` whenever the log head moves; aborted when the actor stops.
    waker: Option<JoinHandle<()>>,
}

impl<P: Projection> Actor for Subscriber<P> {
    type Msg = SubscriberMsg;
    type State = SubscriberState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        let offset = offset_of(&self.store, P::NAME)?;
        refuse_partial_history(&self.store, P::NAME, offset)?;
        Ok(SubscriberState {
            offset,
            waker: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let mut head = self.store.head();
        let me = myself.clone();
        state.waker = Some(tokio::spawn(async move {
            loop {
                if me.cast(SubscriberMsg::Poll).is_err() {
                    break;
                }
                if head.changed().await.is_err() {
                    break;
                }
            }
        }));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(waker) = state.waker.take() {
            waker.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SubscriberMsg::Poll = message;
        loop {
            let events = self.store.events_after(state.offset, BATCH)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(());
            };
            let unit = Unit::default().put(keys::subscriber(P::NAME), codec::encode(&last));
            let unit = self.projection.apply(&self.store, &events, unit)?;
            self.store.write(unit).await?;
            state.offset = last;
        }
    }
}

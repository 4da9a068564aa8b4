//! What every entity actor (user, product inventory, cart) shares, written once: an
//! [`Entity`] says how to load its state and handle its messages; the [`Shell`] makes it a
//! ractor actor that waits for the store writer before loading, reports a missing record as
//! [`Missing`], and waits for its own queued writes before it stops.

use super::{Error, Missing};
use crate::storage::Store;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::future::Future;

/// What an entity actor is started with.
#[derive(Debug, Clone, Copy)]
pub struct Spawn {
    pub id: u64,
    /// The previous actor of this id failed: writes it queued may not have landed yet, so
    /// the new one waits for the store writer before loading. (An actor that stops normally
    /// waits for its own writes in `post_stop`, and a successor starts only after that.)
    pub after_failure: bool,
}

/// An entity kind a directory can manage, cloned from a prototype that carries what every
/// actor of the kind needs (store, other handles, settings).
pub trait Entity: Clone + Send + Sync + 'static {
    /// Shown in errors and logs ("cart", "product", "user").
    const KIND: &'static str;
    /// Whether every start waits for the store writer, not only a start after a failure. A
    /// kind whose changes can land after its actor gave up waiting for them (a cart's, whose
    /// writes the inventory submits) must never load before they have.
    const ALWAYS_AWAIT_WRITER: bool = false;

    type Msg: ractor::Message;
    type State: ractor::State;

    fn store(&self) -> &Store;

    /// The stored state of `id`, or `None` if it does not exist.
    fn load(&self, id: u64) -> impl Future<Output = Result<Option<Self::State>, Error>> + Send;

    /// Runs once after loading, before any message (a cart resumes an interrupted checkout).
    fn resume(
        &self,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        async { Ok(()) }
    }

    fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send;
}

/// The ractor actor of an [`Entity`].
#[derive(Clone)]
pub struct Shell<E>(pub E);

impl<E: Entity> Actor for Shell<E> {
    type Msg = E::Msg;
    type State = E::State;
    type Arguments = Spawn;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        Spawn { id, after_failure }: Spawn,
    ) -> Result<Self::State, ActorProcessingErr> {
        #[cfg(feature = "test-hooks")]
        crate::testing::actors::starting(self.0.store(), E::KIND, id).await;
        // If the disk is still stalled, the start fails (503) rather than load stale state.
        if after_failure || E::ALWAYS_AWAIT_WRITER {
            self.0.store().barrier().await?;
        }
        match self.0.load(id).await? {
            Some(state) => Ok(state),
            None => Err(Missing.into()),
        }
    }

    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.0.resume(state).await
    }

    /// Writes queued without waiting (or whose wait ran out) must land before a successor
    /// loads; successors start only once this has returned.
    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.0.store().barrier().await?;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.0.handle(myself, message, state).await
    }

    /// Entity actors supervise nothing; only tests link children under them, to poke them.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        _event: SupervisionEvent,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(feature = "test-hooks")]
        return crate::testing::actors::poked(_myself.get_id()).await;
        #[cfg(not(feature = "test-hooks"))]
        Ok(())
    }
}

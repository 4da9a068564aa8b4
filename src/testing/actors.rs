//! Making an entity actor fail or hang, without a test variant in its message type.
//!
//! A test registers what should happen to an actor, then links a short-lived child under it:
//! the child's supervision event reaches the actor's shell (entity actors have no children of
//! their own), which looks up the registration and fails or hangs right there, inside the
//! actor's own task, exactly as a failing or stuck handler would.

use crate::actors::{Entity, Error, Handle};
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long [`Handle::fail_and_await_restart`] waits for the directory to restart the actor.
const RESTART_PATIENCE: Duration = Duration::from_secs(60);

/// What an actor does when poked.
enum Poke {
    Fail,
    /// Hang until `until` resolves; `stuck` says the hang has begun.
    Stall {
        until: oneshot::Receiver<()>,
        stuck: oneshot::Sender<()>,
    },
}

/// Registrations by actor; actor ids are unique in the process, so tests never meet here.
fn pokes() -> &'static Mutex<HashMap<ActorId, Poke>> {
    static POKES: OnceLock<Mutex<HashMap<ActorId, Poke>>> = OnceLock::new();
    POKES.get_or_init(Default::default)
}

/// Called by an entity shell on every supervision event: acts on a registration for it.
pub(crate) async fn poked(actor: ActorId) -> Result<(), ActorProcessingErr> {
    let poke = match pokes().lock() {
        Ok(mut p) => p.remove(&actor),
        Err(poisoned) => poisoned.into_inner().remove(&actor),
    };
    match poke {
        Some(Poke::Fail) => Err("failure injected by a test".into()),
        Some(Poke::Stall { until, stuck }) => {
            let _ = stuck.send(());
            let _ = until.await;
            Ok(())
        }
        None => Ok(()),
    }
}

/// Called for each directory between its spawn and its adoption by the root supervisor: if
/// the test asked, fails the directory there and returns once it has stopped, so that its
/// failure reaches the supervisor before the `Adopt` message does.
pub(crate) async fn before_adoption(store: &crate::storage::Store, kind: &str, dir: &ActorCell) {
    if !store.take_failure_before_adoption(kind) {
        return;
    }
    if poke(dir.clone(), Poke::Fail).await.is_err() {
        return;
    }
    // Polled: the supervisor is told before the status turns `Stopped`.
    while dir.get_status() != ractor::ActorStatus::Stopped {
        tokio::task::yield_now().await;
    }
}

/// A start held up by a test: it signals `stuck` once it hangs, and goes on when `until`
/// resolves (or is dropped).
pub struct Stall {
    until: oneshot::Receiver<()>,
    stuck: oneshot::Sender<()>,
}

impl crate::storage::Store {
    /// Makes the next start of the `kind` actor of `id` on this store hang (before it loads)
    /// until `until` resolves; the returned receiver resolves once it hangs.
    pub fn stall_start(
        &self,
        kind: &'static str,
        id: u64,
        until: oneshot::Receiver<()>,
    ) -> oneshot::Receiver<()> {
        let (stuck, hanging) = oneshot::channel();
        if let Ok(mut s) = self.hooks().stalled_starts.lock() {
            s.insert((kind, id), Stall { until, stuck });
        }
        hanging
    }
}

/// Called by an entity shell as it starts: hangs there if the test asked.
pub(crate) async fn starting(store: &crate::storage::Store, kind: &'static str, id: u64) {
    let stall = match store.hooks().stalled_starts.lock() {
        Ok(mut s) => s.remove(&(kind, id)),
        Err(_) => None,
    };
    if let Some(Stall { until, stuck }) = stall {
        let _ = stuck.send(());
        let _ = until.await;
    }
}

/// A child that stops as soon as it has started, to deliver a supervision event.
struct Poker;

impl Actor for Poker {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn post_start(&self, myself: ActorRef<()>, _: &mut ()) -> Result<(), ActorProcessingErr> {
        myself.stop(None);
        Ok(())
    }
}

async fn poke(actor: ActorCell, what: Poke) -> Result<(), Error> {
    if let Ok(mut p) = pokes().lock() {
        p.insert(actor.get_id(), what);
    }
    Actor::spawn_linked(None, Poker, (), actor)
        .await
        .map(drop)
        .map_err(|e| Error::Unavailable(format!("poking an actor: {e}")))
}

impl<A: Entity> Handle<A> {
    /// Makes the actor of `id` fail and waits (bounded) until a new actor serves `id`;
    /// returns that actor's id, or `None` if none was started in time (e.g. quarantined).
    pub async fn fail_and_await_restart(&self, id: u64) -> Result<Option<ActorId>, Error> {
        let old = self.actor(id).await?.get_cell();
        let old_id = old.get_id();
        poke(old, Poke::Fail).await?;
        let deadline = tokio::time::Instant::now() + RESTART_PATIENCE;
        while tokio::time::Instant::now() < deadline {
            match self.live_actor_id(id) {
                Some(new) if new != old_id => return Ok(Some(new)),
                // Polled: the directory announces restarts to nobody (no test hooks in it).
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        Ok(None)
    }

    /// Makes the actor of `id` hang until `until` resolves (or is dropped); returns the actor
    /// once it hangs.
    pub async fn stall(
        &self,
        id: u64,
        until: oneshot::Receiver<()>,
    ) -> Result<ActorRef<A::Msg>, Error> {
        let actor = self.actor(id).await?;
        let (stuck, hanging) = oneshot::channel();
        poke(actor.get_cell(), Poke::Stall { until, stuck }).await?;
        hanging
            .await
            .map_err(|_| Error::Unavailable(format!("{} did not hang", A::KIND)))?;
        Ok(actor)
    }
}

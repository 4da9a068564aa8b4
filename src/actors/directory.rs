//! A directory owns the actors of one entity kind: it spawns the actor of an id on first use
//! (the actor loads its state in `pre_start`), restarts a failed one from its stored state,
//! and passivates actors idle longer than the idle timeout: it unlists them, then lets them
//! drain (finish what is queued) and stop. An id is never served by two actors at once: a new
//! actor for an id is spawned only after the previous one has fully stopped.
//!
//! Restart policy: a failed actor is restarted at once; one that failed more than
//! [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] is left stopped and its id answers
//! `unavailable` until the window has passed, so one poisoned record cannot spin the system.

use super::{Error, Missing};
use crate::storage::now_millis;
use crate::telemetry::names;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

pub const MAX_FAILURES: usize = 5;
/// Passivating at least this many actors in one sweep is worth returning memory to the OS.
const TRIM_AFTER: usize = 256;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// What an entity actor is started with.
#[derive(Debug, Clone, Copy)]
pub struct Spawn {
    pub id: u64,
    /// The previous actor of this id failed: writes it queued may not have landed yet, so
    /// the new one waits for the store writer before loading. (An actor that stops normally
    /// waits for its own writes in `post_stop`, and a successor starts only after that.)
    pub after_failure: bool,
}

/// An actor kind a directory can manage: spawned with its id, cloned from a prototype that
/// carries what every actor of the kind needs (store, other handles, settings).
pub trait Entity: Actor<Arguments = Spawn> + Clone {
    /// Shown in errors and logs ("cart", "product", "user").
    const KIND: &'static str;

    /// A message that makes the actor fail, for supervision tests.
    #[cfg(feature = "test-hooks")]
    fn fail_message() -> Self::Msg;
}

/// A listed actor and when a caller last looked it up (milliseconds since the epoch).
pub struct Listed<M> {
    actor: ActorRef<M>,
    last_used: Arc<AtomicU64>,
}

impl<M> Clone for Listed<M> {
    fn clone(&self) -> Self {
        Self {
            actor: self.actor.clone(),
            last_used: self.last_used.clone(),
        }
    }
}

/// Live actors by id, shared with every [`Handle`] so lookups skip the directory's mailbox.
/// Only the directory writes it.
type Live<M> = Arc<RwLock<HashMap<u64, Listed<M>>>>;

/// The current directory actor; replaced when the root supervisor restarts it.
type Slot<M> = Arc<RwLock<ActorRef<DirectoryMsg<M>>>>;

pub enum DirectoryMsg<M> {
    /// The live actor of `id`, spawned from storage if needed; `None` if `id` does not exist.
    Get {
        id: u64,
        reply: RpcReplyPort<Result<Option<ActorRef<M>>, String>>,
    },
    /// Number of live actors of this kind.
    LiveCount { reply: RpcReplyPort<usize> },
    /// Passivate actors idle longer than the idle timeout (sent by the directory's timer).
    Sweep,
    /// Makes the actor of `id` fail and answers once it has been restarted, with the new
    /// actor's id.
    #[cfg(feature = "test-hooks")]
    FailChild {
        id: u64,
        reply: RpcReplyPort<Option<ActorId>>,
    },
}

pub struct Directory<A: Entity> {
    proto: A,
    live: Live<A::Msg>,
    /// Actors unused for this long are passivated.
    idle_timeout: Duration,
    /// Bound on waiting for a previous actor of an id to stop.
    timeout: Duration,
}

pub struct DirectoryState {
    /// Which entity id each child actor serves, to act on supervision events.
    by_actor: HashMap<ActorId, u64>,
    /// The task of the latest actor of each id, awaited before spawning a successor.
    tasks: HashMap<u64, (ActorId, JoinHandle<()>)>,
    /// Actors passivated by the last sweep; their memory is trimmed at the next one, once
    /// they have stopped.
    passivated: usize,
    /// Recent failure times per id, for the restart policy.
    failures: HashMap<u64, Vec<Instant>>,
    #[cfg(feature = "test-hooks")]
    awaiting_restart: HashMap<u64, RpcReplyPort<Option<ActorId>>>,
}

fn is_alive(cell: &ActorCell) -> bool {
    matches!(
        cell.get_status(),
        ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading
    )
}

/// How often a directory looks for idle actors.
fn sweep_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
}

impl<A: Entity> Directory<A> {
    /// Spawns the directory under `supervisor`, returning its reference.
    pub async fn start(
        proto: A,
        live: Live<A::Msg>,
        supervisor: ActorCell,
        idle_timeout: Duration,
        timeout: Duration,
    ) -> Result<ActorRef<DirectoryMsg<A::Msg>>, SpawnErr> {
        let dir = Directory {
            proto,
            live,
            idle_timeout,
            timeout,
        };
        let (dir, _) = Actor::spawn_linked(None, dir, (), supervisor).await?;
        Ok(dir)
    }

    async fn spawn_child(
        &self,
        myself: &ActorRef<DirectoryMsg<A::Msg>>,
        state: &mut DirectoryState,
        id: u64,
        after_failure: bool,
    ) -> Result<Option<ActorRef<A::Msg>>, String> {
        // A passivated or failed predecessor may still be finishing its queue. Until it has
        // stopped, its task stays on record: giving up on the wait must not let the next
        // request start a second actor for the id beside it.
        if let Some((_, task)) = state.tasks.get_mut(&id) {
            if tokio::time::timeout(self.timeout, task).await.is_err() {
                return Err(format!("{} {id} is still stopping", A::KIND));
            }
            state.tasks.remove(&id);
        }
        let args = Spawn { id, after_failure };
        match Actor::spawn_linked(None, self.proto.clone(), args, myself.get_cell()).await {
            Ok((actor, task)) => {
                state.by_actor.insert(actor.get_id(), id);
                state.tasks.insert(id, (actor.get_id(), task));
                if let Ok(mut live) = self.live.write() {
                    let listed = Listed {
                        actor: actor.clone(),
                        last_used: Arc::new(AtomicU64::new(now_millis())),
                    };
                    live.insert(id, listed);
                }
                Ok(Some(actor))
            }
            Err(SpawnErr::StartupFailed(e)) if e.downcast_ref::<Missing>().is_some() => Ok(None),
            Err(e) => {
                tracing::warn!(kind = A::KIND, id, error = %e, "actor failed to start");
                Err(e.to_string())
            }
        }
    }

    fn forget(&self, state: &mut DirectoryState, id: u64, actor: ActorId) {
        if let Ok(mut live) = self.live.write() {
            if live.get(&id).is_some_and(|l| l.actor.get_id() == actor) {
                live.remove(&id);
            }
        }
        if state.tasks.get(&id).is_some_and(|(a, _)| *a == actor) {
            state.tasks.remove(&id);
        }
    }

    fn live_actor(&self, id: u64) -> Option<ActorRef<A::Msg>> {
        let live = self.live.read().ok()?;
        live.get(&id)
            .filter(|l| is_alive(&l.actor.get_cell()))
            .map(|l| l.actor.clone())
    }

    /// Unlists actors idle past the timeout and lets each drain and stop; returns how many.
    fn passivate_idle(&self) -> usize {
        let cutoff = now_millis().saturating_sub(self.idle_timeout.as_millis() as u64);
        let idle: Vec<ActorRef<A::Msg>> = match self.live.write() {
            Ok(mut live) => {
                let ids: Vec<u64> = live
                    .iter()
                    .filter(|(_, l)| l.last_used.load(Ordering::Relaxed) < cutoff)
                    .map(|(id, _)| *id)
                    .collect();
                ids.iter()
                    .filter_map(|id| live.remove(id))
                    .map(|l| l.actor)
                    .collect()
            }
            Err(_) => return 0,
        };
        let count = idle.len();
        if count > 0 {
            tracing::debug!(kind = A::KIND, count, "passivating idle actors");
        }
        for actor in idle {
            // Messages already queued are handled; later sends fail and callers come back
            // to the directory, which waits for this actor to stop before starting another.
            let _ = actor.drain();
        }
        count
    }

    /// Records a failure of `id`; true if it may be restarted.
    fn note_failure(state: &mut DirectoryState, id: u64) -> bool {
        let now = Instant::now();
        let times = state.failures.entry(id).or_default();
        times.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        times.push(now);
        times.len() <= MAX_FAILURES
    }

    fn quarantined(state: &mut DirectoryState, id: u64) -> bool {
        let Some(times) = state.failures.get_mut(&id) else {
            return false;
        };
        let now = Instant::now();
        times.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        if times.is_empty() {
            state.failures.remove(&id);
            return false;
        }
        times.len() > MAX_FAILURES
    }
}

impl<A: Entity> Actor for Directory<A> {
    type Msg = DirectoryMsg<A::Msg>;
    type State = DirectoryState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(DirectoryState {
            by_actor: HashMap::new(),
            tasks: HashMap::new(),
            passivated: 0,
            failures: HashMap::new(),
            #[cfg(feature = "test-hooks")]
            awaiting_restart: HashMap::new(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        myself.send_interval(sweep_interval(self.idle_timeout), || DirectoryMsg::Sweep);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DirectoryMsg::Sweep => {
                if state.passivated >= TRIM_AFTER {
                    crate::memory::release_freed();
                }
                state.passivated = self.passivate_idle();
                metrics::counter!(names::PASSIVATED, "kind" => A::KIND)
                    .increment(state.passivated as u64);
                metrics::gauge!(names::LIVE_ACTORS, "kind" => A::KIND)
                    .set(state.by_actor.len() as f64);
            }
            DirectoryMsg::Get { id, reply } => {
                let answer = if let Some(actor) = self.live_actor(id) {
                    Ok(Some(actor))
                } else if Self::quarantined(state, id) {
                    Err(format!("{} {id} is failing repeatedly", A::KIND))
                } else {
                    self.spawn_child(&myself, state, id, false).await
                };
                let _ = reply.send(answer);
            }
            DirectoryMsg::LiveCount { reply } => {
                let _ = reply.send(state.by_actor.len());
            }
            #[cfg(feature = "test-hooks")]
            DirectoryMsg::FailChild { id, reply } => match self.live_actor(id) {
                Some(actor) => {
                    state.awaiting_restart.insert(id, reply);
                    let _ = actor.cast(A::fail_message());
                }
                None => {
                    let _ = reply.send(None);
                }
            },
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let Some(id) = state.by_actor.remove(&cell.get_id()) else {
                    return Ok(());
                };
                self.forget(state, id, cell.get_id());
                let restarted = if let Some(already) = self.live_actor(id) {
                    // A request got here first and started a fresh actor: keep that one, never
                    // run two actors for one entity.
                    Some(already)
                } else if Self::note_failure(state, id) {
                    tracing::error!(kind = A::KIND, id, %error, "actor failed; restarting it from storage");
                    metrics::counter!(names::RESTARTS, "kind" => A::KIND).increment(1);
                    self.spawn_child(&myself, state, id, true)
                        .await
                        .ok()
                        .flatten()
                } else {
                    tracing::error!(
                        kind = A::KIND, id, %error,
                        "actor failed more than {MAX_FAILURES} times in {FAILURE_WINDOW:?}; not restarting it"
                    );
                    None
                };
                #[cfg(feature = "test-hooks")]
                if let Some(reply) = state.awaiting_restart.remove(&id) {
                    let _ = reply.send(restarted.as_ref().map(|a| a.get_id()));
                }
                drop(restarted);
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = state.by_actor.remove(&cell.get_id()) {
                    self.forget(state, id, cell.get_id());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// How callers reach the actors of one kind.
pub struct Handle<A: Entity> {
    slot: Slot<A::Msg>,
    live: Live<A::Msg>,
    /// Bound on every call, so a dead or stuck actor costs a 503, never a hung request.
    timeout: Duration,
    /// Passed to restarted directories.
    idle_timeout: Duration,
}

impl<A: Entity> Clone for Handle<A> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
            live: self.live.clone(),
            timeout: self.timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

impl<A: Entity> Handle<A> {
    /// Starts the directory of this kind under `supervisor`.
    pub async fn start(
        proto: A,
        supervisor: ActorCell,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, SpawnErr> {
        let live: Live<A::Msg> = Arc::default();
        let dir = Directory::start(proto, live.clone(), supervisor, idle_timeout, timeout).await?;
        Ok(Self {
            slot: Arc::new(RwLock::new(dir)),
            live,
            timeout,
            idle_timeout,
        })
    }

    /// Restarts a failed directory, keeping the map of live actors.
    pub async fn restart(&self, proto: A, supervisor: ActorCell) -> Result<ActorCell, SpawnErr> {
        let live = self.live.clone();
        let dir =
            Directory::start(proto, live, supervisor, self.idle_timeout, self.timeout).await?;
        let cell = dir.get_cell();
        if let Ok(mut slot) = self.slot.write() {
            *slot = dir;
        }
        Ok(cell)
    }

    pub fn directory_cell(&self) -> Option<ActorCell> {
        self.slot.read().ok().map(|d| d.get_cell())
    }

    fn directory(&self) -> Result<ActorRef<DirectoryMsg<A::Msg>>, Error> {
        self.slot
            .read()
            .map(|d| d.clone())
            .map_err(|_| Error::Unavailable(format!("{} directory", A::KIND)))
    }

    /// The live actor of `id`, started if needed.
    pub async fn actor(&self, id: u64) -> Result<ActorRef<A::Msg>, Error> {
        let cached = self
            .live
            .read()
            .ok()
            .and_then(|live| live.get(&id).cloned());
        if let Some(listed) = cached.filter(|l| is_alive(&l.actor.get_cell())) {
            listed.last_used.store(now_millis(), Ordering::Relaxed);
            return Ok(listed.actor);
        }
        let dir = self.directory()?;
        match ask(
            &dir,
            |reply| DirectoryMsg::Get { id, reply },
            self.timeout,
            A::KIND,
        )
        .await?
        {
            Ok(Some(actor)) => Ok(actor),
            Ok(None) => Err(Error::NotFound(A::KIND)),
            Err(reason) => Err(Error::Unavailable(reason)),
        }
    }

    /// Sends a request to the actor of `id` and waits (bounded) for its answer. If the actor
    /// stopped accepting messages (passivated, or failed) before the request got in, the
    /// request — never delivered — goes to its successor instead.
    pub async fn call<R: Send + 'static>(
        &self,
        id: u64,
        msg: impl FnOnce(RpcReplyPort<R>) -> A::Msg,
    ) -> Result<R, Error> {
        let (tx, rx) = ractor::concurrency::oneshot();
        self.send(id, msg(tx.into())).await?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(Error::Unavailable(format!("{} stopped", A::KIND))),
            Err(_) => Err(Error::Unavailable(format!("{} timed out", A::KIND))),
        }
    }

    /// Delivers `msg` to the actor of `id`, starting it from storage if it is not running
    /// (passivated, or never started), without waiting for it to be handled. A message the
    /// actor refused because it had begun stopping goes to its successor instead.
    pub async fn send(&self, id: u64, mut msg: A::Msg) -> Result<(), Error> {
        let mut attempts = 0;
        loop {
            let actor = self.actor(id).await?;
            match actor.send_message(msg) {
                Ok(()) => return Ok(()),
                Err(ractor::MessagingErr::SendErr(undelivered)) if attempts < 3 => {
                    attempts += 1;
                    msg = undelivered;
                }
                Err(_) => return Err(Error::Unavailable(format!("{} is not running", A::KIND))),
            }
        }
    }

    /// Sends without waiting; a stopped actor simply misses it.
    pub fn cast_if_live(&self, id: u64, msg: A::Msg) {
        if let Some(listed) = self.live.read().ok().and_then(|l| l.get(&id).cloned()) {
            let _ = listed.actor.cast(msg);
        }
    }

    /// The actor listed for `id` right now, if any, without starting one.
    pub fn live_actor_id(&self, id: u64) -> Option<ActorId> {
        let live = self.live.read().ok()?;
        live.get(&id).map(|l| l.actor.get_id())
    }

    pub async fn live_count(&self) -> Result<usize, Error> {
        let dir = self.directory()?;
        ask(
            &dir,
            |reply| DirectoryMsg::LiveCount { reply },
            self.timeout,
            A::KIND,
        )
        .await
    }

    /// Makes the actor of `id` fail and waits until the directory has restarted it.
    #[cfg(feature = "test-hooks")]
    pub async fn fail_and_await_restart(&self, id: u64) -> Result<Option<ActorId>, Error> {
        let dir = self.directory()?;
        ask(
            &dir,
            |reply| DirectoryMsg::FailChild { id, reply },
            self.timeout,
            A::KIND,
        )
        .await
    }
}

/// A call with a timeout; every way it can fail becomes `Unavailable`.
pub async fn ask<M: ractor::Message, R: Send + 'static>(
    actor: &ActorRef<M>,
    msg: impl FnOnce(RpcReplyPort<R>) -> M,
    timeout: Duration,
    what: &str,
) -> Result<R, Error> {
    use ractor::rpc::CallResult;
    match actor.call(msg, Some(timeout)).await {
        Ok(CallResult::Success(r)) => Ok(r),
        Ok(CallResult::Timeout) => Err(Error::Unavailable(format!("{what} timed out"))),
        Ok(CallResult::SenderError) => Err(Error::Unavailable(format!("{what} stopped"))),
        Err(_) => Err(Error::Unavailable(format!("{what} is not running"))),
    }
}

//! A directory owns the actors of one entity kind: it spawns the actor of an id on first use
//! (the actor loads its state in `pre_start`), restarts a failed one from its stored state,
//! and passivates actors idle longer than the idle timeout: it unlists them, then lets them
//! drain (finish what is queued) and stop. An id is never served by two actors at once: a new
//! actor for an id is spawned only after the previous one has fully stopped.
//!
//! Restart policy ([`super::restarts`]): a failed actor is restarted at once; one that keeps
//! failing is left stopped and its id answers `unavailable` until its failures are old enough.

use super::entity::{Entity, Shell, Spawn};
use super::restarts::Failures;
use super::Missing;
use crate::storage::now_millis;
use crate::telemetry::names;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

pub use super::restarts::{FAILURE_WINDOW, MAX_FAILURES};
/// Passivating at least this many actors in one sweep is worth returning memory to the OS.
const TRIM_AFTER: usize = 256;

/// A listed actor and when a caller last looked it up (milliseconds since the epoch).
pub struct Listed<M> {
    pub(super) actor: ActorRef<M>,
    /// Passivation picks actors by it; every lookup through a handle refreshes it.
    pub(super) last_used: Arc<AtomicU64>,
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
pub(super) type Live<M> = Arc<RwLock<HashMap<u64, Listed<M>>>>;

/// The current directory actor; replaced when the root supervisor restarts it.
pub(super) type Slot<M> = Arc<RwLock<ActorRef<DirectoryMsg<M>>>>;

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
    /// A start begun outside the mailbox (so starts run side by side) has ended.
    Started { id: u64, outcome: Outcome<M> },
}

/// How a start ended.
pub enum Outcome<M> {
    Started(ActorRef<M>, JoinHandle<()>),
    /// `id` has no stored record.
    Missing,
    Failed(String),
    /// The predecessor did not stop in time; its task is handed back to be kept on record.
    StillStopping(ActorId, JoinHandle<()>),
}

/// Who waits for the start of an id.
type Waiters<M> = Vec<RpcReplyPort<Result<Option<ActorRef<M>>, String>>>;

pub struct Directory<A: Entity> {
    proto: A,
    live: Live<A::Msg>,
    /// Actors unused for this long are passivated.
    idle_timeout: Duration,
    /// Bound on waiting for a previous actor of an id to stop.
    timeout: Duration,
}

pub struct DirectoryState<M> {
    /// Which entity id each child actor serves, to act on supervision events.
    by_actor: HashMap<ActorId, u64>,
    /// The task of the latest actor of each id, awaited before spawning a successor.
    tasks: HashMap<u64, (ActorId, JoinHandle<()>)>,
    /// Actors passivated by the last sweep; their memory is trimmed at the next one, once
    /// they have stopped.
    passivated: usize,
    /// Recent failures per id, for the restart policy.
    failures: HashMap<u64, Failures>,
    /// Ids whose actor is being started, with the requests waiting for it: at most one start
    /// per id at a time, and any number of ids at once.
    starting: HashMap<u64, Waiters<M>>,
    /// Actors that failed before their start was recorded (supervision events overtake the
    /// `Started` message), by actor.
    failed_early: HashSet<ActorId>,
}

pub(super) fn is_alive(cell: &ActorCell) -> bool {
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

    /// Starts the actor of `id` on a task of its own, so one slow start (a load, a wait for
    /// the writer, a resumed checkout) holds up no other id; the task reports back with
    /// [`DirectoryMsg::Started`]. Callers make sure no other start of `id` is under way.
    fn begin_start(
        &self,
        myself: &ActorRef<DirectoryMsg<A::Msg>>,
        state: &mut DirectoryState<A::Msg>,
        id: u64,
        after_failure: bool,
        waiters: Waiters<A::Msg>,
    ) {
        state.starting.insert(id, waiters);
        // A passivated or failed predecessor may still be finishing its queue: the new actor
        // waits for it to stop, and for its writes to land (as after a failure).
        let predecessor = state.tasks.remove(&id);
        let after_failure = after_failure || predecessor.is_some();
        let (proto, timeout, myself) = (self.proto.clone(), self.timeout, myself.clone());
        tokio::spawn(async move {
            let outcome = start(proto, &myself, id, after_failure, predecessor, timeout).await;
            let _ = myself.cast(DirectoryMsg::Started { id, outcome });
        });
    }

    /// Records how the start of `id` ended and answers whoever waits for it.
    fn on_started(
        &self,
        myself: &ActorRef<DirectoryMsg<A::Msg>>,
        state: &mut DirectoryState<A::Msg>,
        id: u64,
        outcome: Outcome<A::Msg>,
    ) {
        let waiters = state.starting.remove(&id).unwrap_or_default();
        let answer = match outcome {
            Outcome::Started(actor, task) => {
                let failed = state.failed_early.remove(&actor.get_id());
                state.tasks.insert(id, (actor.get_id(), task));
                if failed && Self::note_failure(state, id) {
                    // Its restart serves the same waiters.
                    return self.begin_start(myself, state, id, true, waiters);
                }
                if failed || !is_alive(&actor.get_cell()) {
                    Err(format!("{} {id} stopped as it started", A::KIND))
                } else {
                    state.by_actor.insert(actor.get_id(), id);
                    if let Ok(mut live) = self.live.write() {
                        let listed = Listed {
                            actor: actor.clone(),
                            last_used: Arc::new(AtomicU64::new(now_millis())),
                        };
                        live.insert(id, listed);
                    }
                    Ok(Some(actor))
                }
            }
            Outcome::Missing => Ok(None),
            Outcome::Failed(e) => {
                tracing::warn!(kind = A::KIND, id, error = %e, "actor failed to start");
                Err(e)
            }
            Outcome::StillStopping(actor, task) => {
                // Kept on record: giving up on the wait must not let the next request start
                // a second actor for the id beside it.
                state.tasks.insert(id, (actor, task));
                Err(format!("{} {id} is still stopping", A::KIND))
            }
        };
        for reply in waiters {
            let _ = reply.send(answer.clone());
        }
    }

    fn forget(&self, state: &mut DirectoryState<A::Msg>, id: u64, actor: ActorId) {
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
    fn note_failure(state: &mut DirectoryState<A::Msg>, id: u64) -> bool {
        state.failures.entry(id).or_default().record(Instant::now())
    }

    fn quarantined(state: &mut DirectoryState<A::Msg>, id: u64) -> bool {
        let Some(failures) = state.failures.get_mut(&id) else {
            return false;
        };
        let quarantined = failures.quarantined(Instant::now());
        if failures.is_clear() {
            state.failures.remove(&id);
        }
        quarantined
    }
}

/// One actor start, off the directory's mailbox: waits (bounded) for the predecessor to
/// stop, then spawns the actor under the directory, which loads its state.
async fn start<A: Entity>(
    proto: A,
    directory: &ActorRef<DirectoryMsg<A::Msg>>,
    id: u64,
    after_failure: bool,
    predecessor: Option<(ActorId, JoinHandle<()>)>,
    timeout: Duration,
) -> Outcome<A::Msg> {
    if let Some((actor, mut task)) = predecessor {
        if tokio::time::timeout(timeout, &mut task).await.is_err() {
            return Outcome::StillStopping(actor, task);
        }
    }
    let args = Spawn { id, after_failure };
    match Actor::spawn_linked(None, Shell(proto), args, directory.get_cell()).await {
        Ok((actor, task)) => Outcome::Started(actor, task),
        Err(SpawnErr::StartupFailed(e)) if e.downcast_ref::<Missing>().is_some() => {
            Outcome::Missing
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

impl<A: Entity> Actor for Directory<A> {
    type Msg = DirectoryMsg<A::Msg>;
    type State = DirectoryState<A::Msg>;
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
            starting: HashMap::new(),
            failed_early: HashSet::new(),
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
                    crate::memory::request_release();
                }
                state.passivated = self.passivate_idle();
                metrics::counter!(names::PASSIVATED, "kind" => A::KIND)
                    .increment(state.passivated as u64);
                metrics::gauge!(names::LIVE_ACTORS, "kind" => A::KIND)
                    .set(state.by_actor.len() as f64);
            }
            DirectoryMsg::Get { id, reply } => {
                if let Some(actor) = self.live_actor(id) {
                    let _ = reply.send(Ok(Some(actor)));
                } else if let Some(waiters) = state.starting.get_mut(&id) {
                    waiters.push(reply);
                } else if Self::quarantined(state, id) {
                    let _ = reply.send(Err(format!("{} {id} is failing repeatedly", A::KIND)));
                } else {
                    self.begin_start(&myself, state, id, false, vec![reply]);
                }
            }
            DirectoryMsg::Started { id, outcome } => self.on_started(&myself, state, id, outcome),
            DirectoryMsg::LiveCount { reply } => {
                let _ = reply.send(state.by_actor.len());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(feature = "test-hooks")]
        crate::testing::actors::poked(myself.get_id()).await?;
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let Some(id) = state.by_actor.remove(&cell.get_id()) else {
                    // Not recorded yet: its start's `Started` is on the way.
                    state.failed_early.insert(cell.get_id());
                    return Ok(());
                };
                self.forget(state, id, cell.get_id());
                if self.live_actor(id).is_some() || state.starting.contains_key(&id) {
                    // A request got here first and started (or is starting) a fresh actor:
                    // keep that one, never run two actors for one entity.
                } else if Self::note_failure(state, id) {
                    tracing::error!(kind = A::KIND, id, %error, "actor failed; restarting it from storage");
                    metrics::counter!(names::RESTARTS, "kind" => A::KIND).increment(1);
                    // A failed restart leaves the id unlisted: the next request tries again.
                    self.begin_start(&myself, state, id, true, Vec::new());
                } else {
                    tracing::error!(
                        kind = A::KIND, id, %error,
                        "actor failed more than {MAX_FAILURES} times in {FAILURE_WINDOW:?}; not restarting it"
                    );
                }
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

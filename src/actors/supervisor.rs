//! The root of the actor tree. It starts one directory per entity kind and restarts a directory
//! that fails; the directories supervise the entity actors themselves.

use super::bus::Subscriber;
use super::catalog::Catalog;
use super::restarts::Failures;
use super::stats::SalesStats;
use super::{CartActor, CartMsg, Entity, Handle, InventoryActor, UserActor};
use crate::storage::Store;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Tunables the actors need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A request's deadline ([`super::Deadline`]), from its start across every hop.
    pub call_timeout: Duration,
    /// How long a login token stays valid.
    pub token_ttl: Duration,
    /// How long a hold lasts while its cart is idle.
    pub hold_ttl: Duration,
    /// Entity actors unused this long are stopped (and restarted from storage when needed).
    pub idle_timeout: Duration,
    /// How much of the event log to keep; the reaper trims the rest as it goes.
    pub retention: crate::storage::retention::Policy,
    /// Where `POST /admin/backup` may write (`--backup-dir`); `None`: backups are off.
    pub backup_dir: Option<std::path::PathBuf>,
    /// What one account may make the server hold.
    pub quotas: super::quotas::Quotas,
}

type RestartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;
/// Starts a replacement for a failed directory under the given supervisor.
type Restart = Arc<dyn Fn(ActorCell) -> RestartFuture + Send + Sync>;

pub enum SupervisorMsg {
    /// Supervise `cell`, restarting it with `restart` when it fails.
    Adopt { cell: ActorCell, restart: Restart },
}

pub struct Supervisor;

/// A supervised child: how to restart it, and when it failed lately.
pub struct Child {
    restart: Restart,
    failures: Failures,
}

/// What the root supervisor keeps.
#[derive(Default)]
pub struct SupervisorState {
    /// Adopted children by actor.
    children: HashMap<ActorId, Child>,
    /// Children that failed before their `Adopt` arrived (supervision events overtake
    /// messages): restarted when it does, never left dead.
    failed_early: HashSet<ActorId>,
}

impl Supervisor {
    /// Restarts `child` unless it keeps failing, keeping it under the new actor's id.
    async fn restart(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState, child: Child) {
        let mut child = child;
        // The same policy as for entity actors: a child that keeps failing is left stopped,
        // not spun.
        if !child.failures.record(std::time::Instant::now()) {
            tracing::error!("a supervised actor keeps failing; not restarting it");
            return;
        }
        tracing::error!("a supervised actor failed; restarting it");
        match (child.restart)(myself.get_cell()).await {
            Ok(new_cell) => {
                state.children.insert(new_cell.get_id(), child);
            }
            Err(e) => tracing::error!(error = %e, "could not restart a supervised actor"),
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState::default())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Adopt { cell, restart } = message;
        let child = Child {
            restart,
            failures: Failures::default(),
        };
        if state.failed_early.remove(&cell.get_id()) {
            Self::restart(&myself, state, child).await;
        } else {
            state.children.insert(cell.get_id(), child);
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
                tracing::error!(%error, "a supervised actor failed");
                match state.children.remove(&cell.get_id()) {
                    Some(child) => Self::restart(&myself, state, child).await,
                    // Every child is adopted right after it is spawned: its `Adopt` is on the
                    // way.
                    None => {
                        state.failed_early.insert(cell.get_id());
                    }
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.children.remove(&cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}

/// The running actor system, as the gateway and tests use it. Cheap to clone (one `Arc`):
/// the gateway clones it into every request.
///
/// It does not hand out the store: the gateway (`src/http`), which holds only this, cannot
/// read or write the database past the actors. Naming the store through it does not compile:
///
/// ```compile_fail,E0616
/// fn reach_past(actors: &trolley::actors::Actors) {
///     let _ = actors.store.head();
/// }
/// ```
///
/// while what the gateway is meant to use does:
///
/// ```
/// fn ask(actors: &trolley::actors::Actors) {
///     let _ = (actors.log_head(), &actors.settings, actors.carts.clone());
/// }
/// ```
#[derive(Clone)]
pub struct Actors(Arc<System>);

impl std::ops::Deref for Actors {
    type Target = System;

    fn deref(&self) -> &System {
        &self.0
    }
}

/// How many entity actors of each kind are running (not passivated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveCounts {
    pub users: usize,
    pub products: usize,
    pub carts: usize,
}

/// What [`Actors`] shares.
pub struct System {
    pub users: Handle<UserActor>,
    pub inventory: Handle<InventoryActor>,
    pub carts: Handle<CartActor>,
    /// Only this layer's: the gateway holds an [`Actors`] and must not reach the store through
    /// it (see [`Actors`]). Tests and the app's shutdown use `RunningApp::store`.
    pub(super) store: Store,
    pub settings: Settings,
    /// Sessions by bearer token, so most requests authenticate without reading the store.
    pub(super) sessions: super::sessions::SessionCache,
    /// This app's password hashing (its own queue, not the process's).
    pub(super) hasher: super::passwords::Hasher,
    /// The maintenance jobs (hold expiry, purges, retention), each on its own task.
    pub(super) jobs: super::jobs::Jobs,
    /// Every loaded product as its actor last decided it: list pages read it, starting no actor.
    pub(super) catalog: Catalog,
    root: ActorRef<SupervisorMsg>,
}

impl Actors {
    pub async fn start(store: Store, settings: Settings) -> Result<Self, SpawnErr> {
        let (root, _) = Actor::spawn(None, Supervisor, ()).await?;
        let timeout = settings.call_timeout;
        let idle = settings.idle_timeout;

        let sessions = super::sessions::SessionCache::default();
        let hasher = super::passwords::Hasher::default();
        let user_proto = UserActor::new(
            store.clone(),
            settings.token_ttl,
            settings.quotas,
            sessions.clone(),
            hasher.clone(),
        );
        let users = supervise(&root, user_proto, timeout, idle).await?;
        let catalog = Catalog::default();
        let inventory_proto =
            InventoryActor::new(store.clone(), settings.hold_ttl, catalog.clone());
        let inventory = supervise(&root, inventory_proto, timeout, idle).await?;
        let cart_proto = CartActor::new(
            store.clone(),
            inventory.clone(),
            catalog.clone(),
            timeout,
            settings.hold_ttl,
        );
        let carts = supervise(&root, cart_proto, timeout, idle).await?;

        let every = super::reaper::interval_for(settings.hold_ttl);
        let jobs = super::reaper::start(&store, &inventory, &carts, settings.retention, every);
        let subscriber = Subscriber {
            store: store.clone(),
            projection: SalesStats,
        };
        supervise_singleton(&root, subscriber).await?;

        Ok(Self(Arc::new(System {
            users,
            inventory,
            carts,
            store,
            settings,
            sessions,
            hasher,
            jobs,
            catalog,
            root,
        })))
    }

    /// Finishes every checkout a crash interrupted, before the app serves requests. Each
    /// marked cart's actor resumes its checkout when it starts, before it handles anything:
    /// asking it for its status waits until it has.
    pub async fn recover_checkouts(&self) -> Result<usize, super::Error> {
        let carts = super::cart::interrupted_checkouts(&self.store)?;
        for cart in &carts {
            self.carts
                .call(cart.0, |reply| CartMsg::Status { reply })
                .await?;
        }
        Ok(carts.len())
    }

    /// Live entity actors per kind.
    pub async fn live_counts(&self) -> Result<LiveCounts, super::Error> {
        Ok(LiveCounts {
            users: self.users.live_count().await?,
            products: self.inventory.live_count().await?,
            carts: self.carts.live_count().await?,
        })
    }

    /// Whether the whole tree is up: the root and every directory.
    pub fn is_running(&self) -> bool {
        let up = |cell: Option<ActorCell>| {
            cell.is_some_and(|c| c.get_status() == ractor::ActorStatus::Running)
        };
        up(Some(self.root.get_cell()))
            && up(self.users.directory_cell())
            && up(self.inventory.directory_cell())
            && up(self.carts.directory_cell())
    }

    /// Stops the tree from the leaves up; each actor finishes the message it is handling.
    pub async fn stop(&self, timeout: Duration) {
        self.jobs.stop().await;
        for cell in [
            self.carts.directory_cell(),
            self.inventory.directory_cell(),
            self.users.directory_cell(),
        ]
        .into_iter()
        .flatten()
        {
            // Drain: every request already queued to an entity is answered first.
            cell.drain_children_and_wait(Some(timeout)).await;
        }
        let _ = self.root.stop_children_and_wait(None, Some(timeout)).await;
        let _ = self.root.stop_and_wait(None, Some(timeout)).await;
    }
}

async fn supervise<A: Entity>(
    root: &ActorRef<SupervisorMsg>,
    proto: A,
    timeout: Duration,
    idle_timeout: Duration,
) -> Result<Handle<A>, SpawnErr> {
    let handle = Handle::start(proto.clone(), root.get_cell(), timeout, idle_timeout).await?;
    #[cfg(feature = "test-hooks")]
    if let Some(cell) = handle.directory_cell() {
        crate::testing::actors::before_adoption(proto.store(), A::KIND, &cell).await;
    }
    let for_restart = handle.clone();
    let restart: Restart = Arc::new(move |sup| {
        let handle = for_restart.clone();
        let proto = proto.clone();
        Box::pin(async move { handle.restart(proto, sup).await })
    });
    if let Some(cell) = handle.directory_cell() {
        let _ = root.cast(SupervisorMsg::Adopt { cell, restart });
    }
    Ok(handle)
}

/// Starts a one-of-a-kind actor under the root, restarted (from its prototype) if it fails.
async fn supervise_singleton<A>(root: &ActorRef<SupervisorMsg>, proto: A) -> Result<(), SpawnErr>
where
    A: Actor<Arguments = ()> + Clone,
{
    let (actor, _) = Actor::spawn_linked(None, proto.clone(), (), root.get_cell()).await?;
    let restart: Restart = Arc::new(move |sup| {
        let proto = proto.clone();
        Box::pin(async move {
            let (actor, _) = Actor::spawn_linked(None, proto, (), sup).await?;
            Ok(actor.get_cell())
        })
    });
    let _ = root.cast(SupervisorMsg::Adopt {
        cell: actor.get_cell(),
        restart,
    });
    Ok(())
}

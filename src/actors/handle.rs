//! How callers reach the actors of one kind: a [`Handle`] looks the live actor of an id up
//! without a hop through the directory, starts it through the directory when needed, and
//! bounds every call by one [`Deadline`] for all its hops.

use super::directory::{is_alive, Directory, DirectoryMsg, Live, Slot};
use super::{Deadline, Entity, Error};
use crate::storage::now_millis;
use ractor::{ActorCell, ActorId, ActorRef, RpcReplyPort, SpawnErr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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

    /// A deadline one call timeout from now, for a request to carry down its hops.
    pub fn deadline(&self) -> Deadline {
        Deadline::after(self.timeout)
    }

    /// The live actor of `id`, started if needed.
    pub async fn actor(&self, id: u64) -> Result<ActorRef<A::Msg>, Error> {
        self.actor_by(self.deadline(), id).await
    }

    /// [`Self::actor`], by `deadline`.
    pub async fn actor_by(&self, deadline: Deadline, id: u64) -> Result<ActorRef<A::Msg>, Error> {
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
        let get = |reply| DirectoryMsg::Get { id, reply };
        match ask(&dir, get, deadline.remaining(), A::KIND).await? {
            Ok(Some(actor)) => Ok(actor),
            Ok(None) => Err(Error::NotFound(A::KIND)),
            Err(reason) => Err(Error::Unavailable(reason)),
        }
    }

    /// Sends a request to the actor of `id` and waits for its answer, within one call
    /// timeout for every hop. If the actor stopped accepting messages (passivated, or
    /// failed) before the request got in, the request — never delivered — goes to its
    /// successor instead.
    pub async fn call<R: Send + 'static>(
        &self,
        id: u64,
        msg: impl FnOnce(RpcReplyPort<R>) -> A::Msg,
    ) -> Result<R, Error> {
        self.call_by(self.deadline(), id, msg).await
    }

    /// [`Self::call`], by a request's `deadline` (which the message may carry on).
    pub async fn call_by<R: Send + 'static>(
        &self,
        deadline: Deadline,
        id: u64,
        msg: impl FnOnce(RpcReplyPort<R>) -> A::Msg,
    ) -> Result<R, Error> {
        let (tx, rx) = ractor::concurrency::oneshot();
        self.send_by(deadline, id, msg(tx.into())).await?;
        match deadline.bound(A::KIND, rx).await? {
            Ok(r) => Ok(r),
            Err(_) => Err(Error::Unavailable(format!("{} stopped", A::KIND))),
        }
    }

    /// Delivers `msg` to the actor of `id`, starting it from storage if it is not running
    /// (passivated, or never started), without waiting for it to be handled. A message the
    /// actor refused because it had begun stopping goes to its successor instead.
    pub async fn send(&self, id: u64, msg: A::Msg) -> Result<(), Error> {
        self.send_by(self.deadline(), id, msg).await
    }

    /// [`Self::send`], every lookup and retry by `deadline`.
    pub async fn send_by(&self, deadline: Deadline, id: u64, mut msg: A::Msg) -> Result<(), Error> {
        let mut attempts = 0;
        loop {
            let actor = self.actor_by(deadline, id).await?;
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

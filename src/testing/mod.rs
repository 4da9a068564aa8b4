//! Failure injection for tests, compiled only for this crate's own tests (the feature gate is
//! on this module's declaration in `lib.rs`; a release build never has it). Everything a test can break lives here:
//!
//! - the store's clock, moved forward instead of waited for ([`Store::advance_clock`]);
//! - writes failed, held back, or the whole disk stalled ([`faults`]);
//! - an entity actor made to fail or to hang, or its start held up; a directory failed
//!   before the root supervisor adopts it ([`actors`]);
//! - a checkout made to crash between its commit steps ([`Store::crash_checkout`]).
//!
//! Production code reaches it through a few one-line injection points: the store's clock and
//! front door (`storage/mod.rs`), the entity shell (`actors/entity.rs`), the directory
//! (`actors/directory.rs`), the adoption of a directory (`actors/supervisor.rs`) and the
//! checkout's commit loop (`actors/cart/checkout.rs`).

pub mod actors;
pub mod faults;

use crate::storage::{writer::Request, Committed, StorageError, Store, Unit};
use std::sync::{mpsc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// What a test has set up for one store (so tests running side by side never meet).
#[derive(Default)]
pub struct StoreHooks {
    /// Writes to fail or hold back.
    faults: faults::Faults,
    /// Checkouts to crash after some of their lines are sold.
    crash_checkout: Mutex<Option<CrashPlan>>,
    /// The entity kind whose directory fails before the root supervisor adopts it.
    fail_before_adoption: Mutex<Option<&'static str>>,
    /// Entity starts to hold up, by kind and id (see [`actors::Stall`]).
    stalled_starts: Mutex<std::collections::HashMap<(&'static str, u64), actors::Stall>>,
}

/// Where a checkout crashes, and how often.
#[derive(Debug, Clone, Copy)]
pub struct CrashPlan {
    /// Lines committed before the crash.
    pub after_commits: usize,
    /// How many more times to crash there (restarts resume the checkout and meet it again).
    pub times: u32,
}

impl StoreHooks {
    /// Takes over `unit` if a fault plan matches it; otherwise gives it back to be written.
    pub(crate) fn intercept(
        &self,
        unit: Unit,
        reply: oneshot::Sender<Result<Committed, StorageError>>,
        writer: &mpsc::Sender<Request>,
    ) -> Option<(Unit, oneshot::Sender<Result<Committed, StorageError>>)> {
        self.faults.intercept(unit, reply, writer)
    }

    fn crash_plan(&self) -> std::sync::MutexGuard<'_, Option<CrashPlan>> {
        match self.crash_checkout.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Store {
    /// Moves this store's clock (and only this store's) forward, so a test can make deadlines
    /// pass at a moment of its choosing instead of racing a short real one.
    pub fn advance_clock(&self, by: Duration) {
        self.clock().advance(by.as_millis() as u64);
    }

    /// Makes the next `times` units that put a key starting with `prefix` fail with an I/O
    /// error, unwritten: a precise way for a test to fail one chosen step of an operation.
    pub fn fail_writes_putting(&self, prefix: Vec<u8>, times: usize) {
        self.hooks().faults.fail(prefix, times);
    }

    /// Makes the next `times` units that remove a key starting with `prefix` fail with an I/O
    /// error, unwritten (a purge, say, which only removes).
    pub fn fail_writes_removing(&self, prefix: Vec<u8>, times: usize) {
        self.hooks().faults.fail_removing(prefix, times);
    }

    /// Units the fail and hold plans have still to intercept (0: every planned fault was met).
    pub fn faults_left(&self) -> usize {
        self.hooks().faults.left()
    }

    /// Stalls the whole disk until the guard is dropped: every unit submitted meanwhile waits,
    /// in order, and none is lost.
    pub fn stall_disk(&self) -> faults::Stalled<'_> {
        self.hooks().faults.stall(self.writer_queue())
    }

    /// Holds back the next `times` units that put a key starting with `prefix` until the
    /// returned guard is released (or dropped). Later units overtake the held ones, which no
    /// real disk does: use it where only the held write's own fate matters, and
    /// [`Store::stall_disk`] where order does.
    pub fn hold_writes_putting(&self, prefix: Vec<u8>, times: usize) -> faults::Held {
        self.hooks().faults.hold(prefix, times)
    }

    /// Makes checkouts on this store fail their cart actor (a panic, as in a crash) after
    /// committing `plan.after_commits` lines, `plan.times` times.
    pub fn crash_checkout(&self, plan: CrashPlan) {
        *self.hooks().crash_plan() = Some(plan);
    }

    /// Makes the directory of `kind` fail right after it is spawned, before the root
    /// supervisor has adopted it, when actors are started on this store.
    pub fn fail_directory_before_adoption(&self, kind: &'static str) {
        if let Ok(mut k) = self.hooks().fail_before_adoption.lock() {
            *k = Some(kind);
        }
    }

    /// Whether the directory of `kind` is to fail before adoption (asked once).
    pub(crate) fn take_failure_before_adoption(&self, kind: &str) -> bool {
        let Ok(mut k) = self.hooks().fail_before_adoption.lock() else {
            return false;
        };
        k.take_if(|k| *k == kind).is_some()
    }

    /// Checkout crashes still to come.
    pub fn checkout_crashes_left(&self) -> u32 {
        self.hooks().crash_plan().map_or(0, |p| p.times)
    }
}

/// Panics (the cart actor fails, as on a crash) if the test asked for it at this point of a
/// checkout: after `committed` lines were sold.
pub(crate) fn checkout_commit_point(store: &Store, committed: usize) {
    let mut plan = store.hooks().crash_plan();
    if let Some(p) = plan
        .as_mut()
        .filter(|p| p.after_commits == committed && p.times > 0)
    {
        p.times -= 1;
        drop(plan);
        panic!("crash injected by a test after {committed} commits");
    }
}

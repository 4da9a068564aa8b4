//! Fault injection at the store's front door: fail or
//! hold back the units that put (or fail those that remove) a key with a chosen prefix, so a test can break exactly one
//! step of a multi-step operation; or stall the whole disk, queueing every unit in order until
//! released, as a slow disk does (nothing overtakes anything).

use crate::storage::{writer::Request, Committed, Op, StorageError, Unit};
use std::sync::{mpsc, Mutex};
use tokio::sync::{oneshot, watch};

/// What happens to a matching unit.
enum Action {
    /// Answered at once with an I/O error, unwritten.
    Fail,
    /// Handed to the writer only once the test releases it; `caught` counts the units held.
    Hold {
        released: watch::Receiver<bool>,
        caught: watch::Sender<usize>,
    },
}

struct Plan {
    prefix: Vec<u8>,
    /// Match units that remove such a key, instead of those that put one.
    removing: bool,
    /// Matching units still to intercept.
    times: usize,
    action: Action,
}

/// The plans in force; a unit meets the first one that matches it.
#[derive(Default)]
pub(super) struct Faults {
    plans: Mutex<Vec<Plan>>,
    /// While the disk is stalled (`Some`), every unit waits here in arrival order.
    stalled: Mutex<Option<Vec<Request>>>,
}

/// Ends a whole-disk stall ([`crate::storage::Store::stall_disk`]) when dropped: the queued units go to
/// the writer in the order they came, before any unit submitted after.
pub struct Stalled<'a> {
    faults: &'a Faults,
    writer: mpsc::Sender<Request>,
}

impl Drop for Stalled<'_> {
    fn drop(&mut self) {
        let mut stalled = match self.faults.stalled.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        for request in stalled.take().unwrap_or_default() {
            let _ = self.writer.send(request);
        }
    }
}

/// Releases the units held back by [`crate::storage::Store::hold_writes_putting`], when told or dropped.
pub struct Held {
    release: watch::Sender<bool>,
    caught: watch::Receiver<usize>,
}

impl Held {
    pub fn release(self) {}

    /// Waits until `n` units have been held back (the writes a test wants in flight are).
    pub async fn caught(&mut self, n: usize) {
        let _ = self.caught.wait_for(|c| *c >= n).await;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release.send_replace(true);
    }
}

impl Faults {
    pub(super) fn stall(&self, writer: &mpsc::Sender<Request>) -> Stalled<'_> {
        if let Ok(mut stalled) = self.stalled.lock() {
            stalled.get_or_insert_with(Vec::new);
        }
        Stalled {
            faults: self,
            writer: writer.clone(),
        }
    }

    /// Matching units the plans in force have still to intercept.
    pub(super) fn left(&self) -> usize {
        let plans = match self.plans.lock() {
            Ok(plans) => plans,
            Err(poisoned) => poisoned.into_inner(),
        };
        plans.iter().fold(0, |n, p| n.saturating_add(p.times))
    }

    pub(super) fn fail(&self, prefix: Vec<u8>, times: usize) {
        self.set(prefix, false, times, Action::Fail);
    }

    pub(super) fn fail_removing(&self, prefix: Vec<u8>, times: usize) {
        self.set(prefix, true, times, Action::Fail);
    }

    pub(super) fn hold(&self, prefix: Vec<u8>, times: usize) -> Held {
        let (release, released) = watch::channel(false);
        let (caught_tx, caught) = watch::channel(0);
        let action = Action::Hold {
            released,
            caught: caught_tx,
        };
        self.set(prefix, false, times, action);
        Held { release, caught }
    }

    fn set(&self, prefix: Vec<u8>, removing: bool, times: usize, action: Action) {
        if let Ok(mut plans) = self.plans.lock() {
            plans.retain(|p| p.times > 0);
            plans.push(Plan {
                prefix,
                removing,
                times,
                action,
            });
        }
    }

    /// Takes over `unit` if a plan matches it; otherwise gives it back to be written.
    pub(super) fn intercept(
        &self,
        unit: Unit,
        reply: oneshot::Sender<Result<Committed, StorageError>>,
        writer: &mpsc::Sender<Request>,
    ) -> Option<(Unit, oneshot::Sender<Result<Committed, StorageError>>)> {
        if let Ok(mut stalled) = self.stalled.lock() {
            if let Some(queue) = stalled.as_mut() {
                queue.push(Request::Write(unit, reply));
                return None;
            }
        }
        let action = {
            let Ok(mut plans) = self.plans.lock() else {
                return Some((unit, reply));
            };
            let Some(p) = plans.iter_mut().find(|p| p.times > 0 && matches(&unit, p)) else {
                return Some((unit, reply));
            };
            p.times -= 1;
            match &p.action {
                Action::Fail => None,
                Action::Hold { released, caught } => {
                    caught.send_modify(|c| *c += 1);
                    Some(released.clone())
                }
            }
        };
        match action {
            None => {
                let _ = reply.send(Err(StorageError::Io("failure injected by a test".into())));
            }
            Some(mut released) => {
                let writer = writer.clone();
                tokio::spawn(async move {
                    let _ = released.wait_for(|r| *r).await;
                    let _ = writer.send(Request::Write(unit, reply));
                });
            }
        }
        None
    }
}

fn matches(unit: &Unit, plan: &Plan) -> bool {
    unit.ops.iter().any(|op| match op {
        Op::Put(k, _) => !plan.removing && k.starts_with(&plan.prefix),
        Op::Remove(k) => plan.removing && k.starts_with(&plan.prefix),
    })
}

//! The maintenance jobs, each on its own task ([`super::jobs`]), so one that fails never stops
//! the others:
//!
//! - [`HoldExpiry`] finds holds whose deadline has passed (a range scan of the expiry index)
//!   and tells each product's inventory actor to release them. The inventory actor does the
//!   release itself, so a product's holds keep a single writer; the job only makes sure the
//!   actor runs, even for products nobody has touched since a restart.
//! - [`CheckoutResume`] makes sure every cart with an unfinished checkout has a running actor:
//!   a cart actor resumes its pending checkout when it starts, so a checkout whose actor failed
//!   (and perhaps was left stopped after too many failures) is finished within a sweep or so of
//!   becoming possible, instead of pinning its holds until somebody touches the cart.
//! - [`SessionPurge`] deletes expired login sessions, a slice of the session records per tick.
//! - [`IdempotencySweep`] purges idempotency records past their retention.
//! - [`LogRetention`] trims the event log as `--events-retain` allows.

use super::jobs::{Job, Jobs};
use super::{CartActor, Handle, InventoryActor, InventoryMsg};
use crate::domain::Session;
use crate::storage::{keys, retention, Store, Unit};
use ractor::ActorProcessingErr;
use std::collections::BTreeSet;
use std::time::Duration;

/// Most index entries looked at per tick; the rest wait for the next one.
const MAX_PER_TICK: usize = 10_000;
/// Session records looked at per tick. Sessions are keyed by token hash, not by age, so the
/// purge walks all of them a slice at a time (a million sessions: one pass per 1,000 ticks).
const SESSIONS_PER_TICK: usize = 1_000;

/// A sweep interval fine enough for `hold_ttl`: a tenth of it, between 50 ms and 5 s.
pub fn interval_for(hold_ttl: Duration) -> Duration {
    (hold_ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// Starts every maintenance job, each sweeping every `every`.
pub fn start(
    store: &Store,
    inventory: &Handle<InventoryActor>,
    carts: &Handle<CartActor>,
    retention: retention::Policy,
    every: Duration,
) -> Jobs {
    let jobs = Jobs::default();
    let hold_expiry = HoldExpiry {
        store: store.clone(),
        inventory: inventory.clone(),
    };
    jobs.spawn(hold_expiry, every);
    let resume = CheckoutResume {
        store: store.clone(),
        carts: carts.clone(),
    };
    jobs.spawn(resume, every);
    let sessions = SessionPurge {
        store: store.clone(),
        from: None,
    };
    jobs.spawn(sessions, every);
    jobs.spawn(IdempotencySweep(store.clone()), every);
    let store = store.clone();
    jobs.spawn(LogRetention { store, retention }, every);
    jobs
}

/// Has the inventory actors of products with lapsed holds release them.
#[derive(Clone)]
pub struct HoldExpiry {
    store: Store,
    inventory: Handle<InventoryActor>,
}

impl Job for HoldExpiry {
    const NAME: &'static str = "hold_expiry";

    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        let due = self.store.keys_between(
            keys::EXPIRY,
            &keys::expiry_due_before(self.store.now()),
            MAX_PER_TICK,
        )?;
        let products: BTreeSet<_> = due
            .iter()
            .filter_map(|k| keys::product_of_expiry(k))
            .collect();
        for product in products {
            match self.inventory.actor(product.0).await {
                Ok(actor) => {
                    let _ = actor.cast(InventoryMsg::ExpireHolds);
                }
                Err(e) => {
                    tracing::warn!(%product, error = %e, "cannot reach inventory to expire holds")
                }
            }
        }
        Ok(())
    }
}

/// Starts the actor of every cart whose checkout is unfinished (a no-op for live ones).
#[derive(Clone)]
pub struct CheckoutResume {
    store: Store,
    /// Started for carts with an unfinished checkout, which they resume on start.
    carts: Handle<CartActor>,
}

impl Job for CheckoutResume {
    const NAME: &'static str = "checkout_resume";

    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        for cart in super::cart::interrupted_checkouts(&self.store)? {
            if let Err(e) = self.carts.actor(cart.0).await {
                tracing::warn!(%cart, error = %e, "cannot start a cart to resume its checkout");
            }
        }
        Ok(())
    }
}

/// Deletes expired sessions, a slice of the session records per run.
#[derive(Clone)]
pub struct SessionPurge {
    store: Store,
    /// Where the next slice starts (`None`: from the beginning again).
    from: Option<Vec<u8>>,
}

impl Job for SessionPurge {
    const NAME: &'static str = "session_purge";

    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        let start = self.from.take().unwrap_or_else(|| keys::SESSIONS.to_vec());
        let slice = self.store.keys_between(
            &start,
            &keys::prefix_end(keys::SESSIONS),
            SESSIONS_PER_TICK,
        )?;
        let now = self.store.now();
        let mut unit = Unit::default();
        for key in &slice {
            match self.store.get::<Session>(key) {
                Ok(Some(s)) if s.is_expired(now) => {
                    unit = unit.remove(key.clone());
                    // And its entry in the user's session index (`--max-sessions`).
                    if let Some(hash) = keys::token_hash_at_end(key) {
                        unit = unit.remove(keys::user_session(s.user_id, &hash));
                    }
                }
                // Live, or logged out meanwhile.
                Ok(_) => {}
                // Left for a person to look at rather than deleted unread.
                Err(e) => tracing::warn!(error = %e, "unreadable session record"),
            }
        }
        if !unit.ops.is_empty() {
            self.store.write(unit).await?;
        }
        self.from = match slice.last() {
            // Just past the last key seen.
            Some(last) if slice.len() == SESSIONS_PER_TICK => {
                Some([last.as_slice(), &[0]].concat())
            }
            _ => None,
        };
        Ok(())
    }
}

/// Deletes idempotency records older than their retention, with their time-index entries.
#[derive(Clone)]
pub struct IdempotencySweep(Store);

impl Job for IdempotencySweep {
    const NAME: &'static str = "idempotency_sweep";

    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        crate::idempotency::Records::new(self.0.clone())
            .sweep_expired(MAX_PER_TICK)
            .await?;
        Ok(())
    }
}

/// Trims the event log as the retention policy allows (never past a subscriber).
#[derive(Clone)]
pub struct LogRetention {
    store: Store,
    retention: retention::Policy,
}

impl Job for LogRetention {
    const NAME: &'static str = "log_retention";

    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        if self.retention.keeps_everything() {
            return Ok(());
        }
        let done = retention::apply(&self.store, &self.retention, self.store.now()).await?;
        if done.removed > 0 {
            tracing::info!(
                removed = done.removed,
                oldest = done.oldest_seq,
                "trimmed the event log"
            );
        }
        Ok(())
    }
}

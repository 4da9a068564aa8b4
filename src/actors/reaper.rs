//! The reaper: on a timer, trims the event log as `--events-retain` allows, purges
//! idempotency records past their retention, and finds holds whose deadline has passed (a range scan of the
//! expiry index) and tells each product's inventory actor to release them. The inventory actor
//! does the release itself, so a product's holds keep a single writer; the reaper only makes
//! sure the actor runs, even for products nobody has touched since a restart. It also deletes
//! expired login sessions, a slice of the session records per tick.
//!
//! It also makes sure every cart with an unfinished checkout has a running actor: a cart actor
//! resumes its pending checkout when it starts, so a checkout whose actor failed (and perhaps
//! was left stopped after too many failures) is finished within a sweep or so of becoming
//! possible, instead of pinning its holds until somebody touches the cart.

use super::{CartActor, Handle, InventoryActor, InventoryMsg};
use crate::domain::Session;
use crate::storage::{keys, retention, Store, Unit};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::BTreeSet;
use std::time::Duration;

/// Most index entries looked at per tick; the rest wait for the next one.
const MAX_PER_TICK: usize = 10_000;
/// Session records looked at per tick. Sessions are keyed by token hash, not by age, so the
/// purge walks all of them a slice at a time (a million sessions: one pass per 1,000 ticks).
const SESSIONS_PER_TICK: usize = 1_000;

#[derive(Clone)]
pub struct HoldReaper {
    pub store: Store,
    pub inventory: Handle<InventoryActor>,
    /// Started for carts with an unfinished checkout, which they resume on start.
    pub carts: Handle<CartActor>,
    /// Time between sweeps.
    pub every: Duration,
    /// How much of the event log to keep.
    pub retention: retention::Policy,
}

pub enum ReaperMsg {
    Sweep,
}

impl HoldReaper {
    /// A sweep interval fine enough for `hold_ttl`: a tenth of it, between 50 ms and 5 s.
    pub fn interval_for(hold_ttl: Duration) -> Duration {
        (hold_ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    /// Deletes idempotency records older than their retention, with their time-index entries.
    async fn purge_idempotency(&self) -> Result<(), ActorProcessingErr> {
        crate::idempotency::Records::new(self.store.clone())
            .sweep_expired(MAX_PER_TICK)
            .await?;
        Ok(())
    }

    /// Starts the actor of every cart whose checkout is unfinished (a no-op for live ones).
    async fn resume_checkouts(&self) -> Result<(), ActorProcessingErr> {
        for cart in super::cart::interrupted_checkouts(&self.store)? {
            if let Err(e) = self.carts.actor(cart.0).await {
                tracing::warn!(%cart, error = %e, "cannot start a cart to resume its checkout");
            }
        }
        Ok(())
    }

    /// Deletes the expired sessions among the next slice of session records after `cursor`;
    /// returns where the next slice starts (`None`: from the beginning again).
    async fn purge_sessions(
        &self,
        cursor: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, ActorProcessingErr> {
        let start = cursor.unwrap_or_else(|| keys::SESSIONS.to_vec());
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
        Ok(match slice.last() {
            // Just past the last key seen.
            Some(last) if slice.len() == SESSIONS_PER_TICK => {
                Some([last.as_slice(), &[0]].concat())
            }
            _ => None,
        })
    }

    async fn sweep(&self, state: &mut ReaperState) -> Result<(), ActorProcessingErr> {
        self.purge_idempotency().await?;
        self.resume_checkouts().await?;
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
        state.sessions_from = self.purge_sessions(state.sessions_from.take()).await?;
        self.trim_log().await
    }

    /// Trims the event log as the retention policy allows (never past a subscriber).
    async fn trim_log(&self) -> Result<(), ActorProcessingErr> {
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

/// Where the session purge resumes.
#[derive(Default)]
pub struct ReaperState {
    sessions_from: Option<Vec<u8>>,
}

impl Actor for HoldReaper {
    type Msg = ReaperMsg;
    type State = ReaperState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<ReaperMsg>,
        _: (),
    ) -> Result<ReaperState, ActorProcessingErr> {
        Ok(ReaperState::default())
    }

    async fn post_start(
        &self,
        myself: ActorRef<ReaperMsg>,
        _: &mut ReaperState,
    ) -> Result<(), ActorProcessingErr> {
        // The timer task ends by itself when this actor stops.
        myself.send_interval(self.every, || ReaperMsg::Sweep);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<ReaperMsg>,
        message: ReaperMsg,
        state: &mut ReaperState,
    ) -> Result<(), ActorProcessingErr> {
        let ReaperMsg::Sweep = message;
        self.sweep(state).await
    }
}

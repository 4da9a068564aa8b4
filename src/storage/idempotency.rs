//! The durable side of `Idempotency-Key`, shared by the gateway (which reads and records
//! answers) and the actors (which put a key's [`Mark`] into the very unit that does the work).
//!
//! A mark says "the work of this key is done, on this resource", atomically with the work
//! itself: if the answer is then lost (a timeout inside the server, a crash before the answer
//! was recorded), a retry finds the mark and answers from the resource's current state instead
//! of doing the work again. The mark is a uniqueness claim carrying a per-attempt nonce, so two
//! attempts of one key racing into the store cannot both land: the second is refused.

use super::{codec, keys, Unit};
use crate::domain::{Millis, UserId};
use serde::{Deserialize, Serialize};

/// What a mark records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Of the request (method, path, body) that did the work.
    pub fingerprint: [u8; 32],
    /// The id of what the work created or changed (the cart, the product).
    pub resource: u64,
    /// Tells attempts apart, so a second attempt's claim conflicts with the first's.
    pub attempt: u64,
}

/// A key's mark, ready to go into the unit of its work.
#[derive(Debug, Clone)]
pub struct Mark {
    key: Vec<u8>,
    fingerprint: [u8; 32],
    attempt: u64,
    at: Millis,
}

impl Mark {
    pub fn new(user: UserId, key: &str, fingerprint: [u8; 32], attempt: u64, at: Millis) -> Self {
        Self {
            key: keys::idempotency_applied(user, key),
            fingerprint,
            attempt,
            at,
        }
    }

    /// The key the mark is stored under: present once an attempt's work has landed.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// `unit` with `mark` (if the request had a key) claimed in it, for work on `resource`.
    pub fn apply_to(mark: Option<Mark>, unit: Unit, resource: u64) -> Unit {
        match mark {
            Some(mark) => mark.apply(unit, resource),
            None => unit,
        }
    }

    /// `unit` with this mark claimed in it, for work on `resource`. The time index entry
    /// lets the reaper purge a mark whose answer was never recorded.
    pub fn apply(self, unit: Unit, resource: u64) -> Unit {
        let applied = Applied {
            fingerprint: self.fingerprint,
            resource,
            attempt: self.attempt,
        };
        let by_time = keys::idempotency_by_time(self.at, &self.key);
        unit.claim(self.key, codec::encode(&applied))
            .put(by_time, Vec::new())
    }
}

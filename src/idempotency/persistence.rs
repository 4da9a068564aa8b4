//! Reading, recording and sweeping a key's stored answer, and minting its mark.

use super::Error;
use super::{Applied, Mark};
use crate::domain::{Millis, UserId};
use crate::storage::{codec, keys, Store, Unit};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long an `Idempotency-Key` and its answer are remembered.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What identifies a request: a retry with the same key must carry the same fingerprint.
pub type Fingerprint = [u8; 32];

/// The fingerprint of a request: its method and path (`target`) and its body.
pub fn fingerprint(target: &str, body: &[u8]) -> Fingerprint {
    Blake2s256::new()
        .chain_update(target.as_bytes())
        .chain_update([0])
        .chain_update(body)
        .finalize()
        .into()
}

/// The stored outcome of the first request with a key. (The field order is the stored
/// format: do not reorder.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub fingerprint: Fingerprint,
    pub status: u16,
    /// The JSON body sent, or empty for a bodiless response.
    pub body: Vec<u8>,
    pub created_at: Millis,
}

/// The idempotency records of a store. Cheap to clone.
#[derive(Clone)]
pub struct Records {
    store: Store,
}

impl Records {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// The recorded answer of `user`'s `key`, if one was recorded.
    pub fn recorded(&self, user: UserId, key: &str) -> Result<Option<Record>, Error> {
        Ok(self.store.get(&keys::idempotency(user, key))?)
    }

    /// How many answers `user` has recorded, counting up to `up_to`.
    pub fn recorded_count(&self, user: UserId, up_to: usize) -> Result<usize, Error> {
        let (start, end) = keys::user_range(keys::IDEMPOTENCY, user);
        Ok(self.store.keys_between(&start, &end, up_to)?.len())
    }

    /// The mark of `user`'s `key`, if its work landed and no answer superseded the mark.
    pub fn applied(&self, user: UserId, key: &str) -> Result<Option<Applied>, Error> {
        Ok(self.store.get(&keys::idempotency_applied(user, key))?)
    }

    /// A fresh mark for one attempt of `user`'s `key`: its nonce tells it from every other
    /// attempt's, so two attempts racing into the store cannot both land.
    pub fn mark(&self, user: UserId, key: &str, fingerprint: Fingerprint) -> Mark {
        Mark::new(user, key, fingerprint, OsRng.next_u64(), self.store.now())
    }

    /// Records `user`'s `key`'s answer durably, superseding its mark, and returns the record.
    pub async fn save(
        &self,
        user: UserId,
        key: &str,
        fingerprint: Fingerprint,
        status: u16,
        body: Vec<u8>,
    ) -> Result<Record, Error> {
        let record_key = keys::idempotency(user, key);
        let record = Record {
            fingerprint,
            status,
            body,
            created_at: self.store.now(),
        };
        let by_time = keys::idempotency_by_time(record.created_at, &record_key);
        let unit = Unit::default()
            // Deflated: a cart's JSON view shrinks about tenfold, and it is kept for a day.
            .put(record_key, codec::encode_compact(&record))
            .put(by_time, Vec::new())
            .remove(keys::idempotency_applied(user, key));
        self.store.write(unit).await?;
        Ok(record)
    }

    /// Deletes up to `max` records and marks older than [`RETENTION`], with their time-index
    /// entries; returns how many index entries it went through.
    pub async fn sweep_expired(&self, max: usize) -> Result<usize, Error> {
        let cutoff = self
            .store
            .now()
            .saturating_sub(RETENTION.as_millis() as u64);
        let old = self.store.keys_between(
            keys::IDEMPOTENCY_BY_TIME,
            &keys::idempotency_by_time(cutoff, &[]),
            max,
        )?;
        let swept = old.len();
        if swept == 0 {
            return Ok(0);
        }
        let mut unit = Unit::default();
        for k in old {
            if let Some(record) = keys::record_of_idempotency_time(&k) {
                unit = unit.remove(record.to_vec());
            }
            unit = unit.remove(k);
        }
        self.store.write(unit).await?;
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn the_fingerprint_tells_target_from_body() {
        assert_eq!(
            fingerprint("POST /carts", b"{}"),
            fingerprint("POST /carts", b"{}")
        );
        assert_ne!(
            fingerprint("POST /carts", b"{}"),
            fingerprint("POST /carts", b"{ }")
        );
        // The separator keeps a target's end from passing for the body's start.
        assert_ne!(fingerprint("POST /a", b"b"), fingerprint("POST /ab", b""));
    }
}

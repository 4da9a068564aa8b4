//! Login sessions beyond their stored records: the bounded cache behind
//! `Actors::authenticate`, and each user's index of sessions that `--max-sessions` counts.
//!
//! The cache (quick_cache: bounded, evicting the least useful entries one at a time) lets most
//! requests authenticate with a map lookup instead of a sled read and a decode. Correctness
//! rests on three rules:
//! - a cached session is checked for expiry on every use, exactly as a stored one is (expired
//!   sessions are only ever removed from the store by the reaper, after they expired);
//! - a revocation (logout, or a login past the quota) removes the token from the cache after
//!   its removal from the store is durable, and bumps `revocations`: a lookup that read the
//!   store before that bump drops what it cached, so a revocation can never be undone by a
//!   lookup racing it;
//! - it holds at most about [`CAPACITY`] tokens (the store is the truth, so forgetting is
//!   always safe).

use crate::domain::{Millis, Session, UserId};
use crate::storage::{codec, keys, Store, Unit};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The most tokens cached (~100 bytes each with the map's overhead: about 10 MiB).
pub const CAPACITY: usize = 100_000;

/// What the store and the cache know a token by: its Blake2s-256 hash.
pub type TokenHash = [u8; 32];

#[derive(Clone)]
pub struct SessionCache(Arc<Cached>);

struct Cached {
    by_token: quick_cache::sync::Cache<TokenHash, Session>,
    /// Revocations so far: a lookup keeps what it cached only if none happened in between.
    revocations: AtomicU64,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

/// Where a lookup stands: the revocations it saw before reading the store.
pub struct Miss(u64);

impl SessionCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(Cached {
            by_token: quick_cache::sync::Cache::new(capacity),
            revocations: AtomicU64::new(0),
        }))
    }

    /// The cached live session of `token`, or the [`Miss`] to pass to [`Self::fill`] with what
    /// the store says.
    pub fn get(&self, token: &TokenHash, now: Millis) -> Result<Option<Session>, Miss> {
        let miss = Miss(self.0.revocations.load(Ordering::SeqCst));
        match self.0.by_token.get(token) {
            Some(s) if s.is_expired(now) => Ok(None),
            Some(s) => Ok(Some(s)),
            None => Err(miss),
        }
    }

    /// Caches `session` (read from the store after `miss`) unless a revocation happened since.
    /// Checked again after the insert: a revocation between the check and the insert has
    /// bumped the count by then, and one after the second check removes the entry itself.
    pub fn fill(&self, token: TokenHash, session: Session, miss: Miss) {
        let unchanged = || self.0.revocations.load(Ordering::SeqCst) == miss.0;
        if !unchanged() {
            return;
        }
        self.0.by_token.insert(token, session);
        if !unchanged() {
            self.0.by_token.remove(&token);
        }
    }

    /// Forgets `token`; called once its session is gone from the store.
    pub fn revoke(&self, token: &TokenHash) {
        self.0.revocations.fetch_add(1, Ordering::SeqCst);
        self.0.by_token.remove(token);
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.0.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A session's entry in its user's index. (The field order is the stored format.)
#[derive(Serialize, Deserialize)]
struct Indexed {
    expires_at: Millis,
    /// Increasing with each login in this process: tells apart sessions that expire in the
    /// same millisecond (a restart takes longer than one).
    order: u64,
}

/// The next [`Indexed::order`]. (Not an id from the store: those are the ids clients see.)
static LOGINS: AtomicU64 = AtomicU64::new(0);

/// Indexes a new session of `user` in `unit`, and removes from it the sessions the quota no
/// longer allows: the expired ones, and the oldest live ones so that with the new one at most
/// `max` remain. Returns the tokens removed, to revoke from the cache once `unit` is durable.
/// Callers serialise the logins of one user (the user's actor), so the bound is exact.
pub fn admit(
    store: &Store,
    user: UserId,
    token: &TokenHash,
    expires_at: Millis,
    max: u32,
    mut unit: Unit,
) -> Result<(Unit, Vec<TokenHash>), super::Error> {
    let (mine, _) = keys::user_range(keys::USER_SESSIONS, user);
    let now = store.now();
    let mut live = Vec::new();
    let mut dropped = Vec::new();
    for (key, entry) in store.scan::<Indexed>(&mine, &mine, usize::MAX)? {
        let Some(hash) = keys::token_hash_at_end(&key) else {
            continue;
        };
        if entry.expires_at <= now {
            dropped.push(hash);
        } else {
            live.push(((entry.expires_at, entry.order), hash));
        }
    }
    live.sort_unstable();
    let excess = (live.len() + 1).saturating_sub(max as usize);
    dropped.extend(live.into_iter().take(excess).map(|(_, hash)| hash));
    for hash in &dropped {
        unit = unit
            .remove(keys::token(hash))
            .remove(keys::user_session(user, hash));
    }
    let entry = Indexed {
        expires_at,
        order: LOGINS.fetch_add(1, Ordering::Relaxed),
    };
    let unit = unit.put(keys::user_session(user, token), codec::encode(&entry));
    Ok((unit, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: Millis) -> Session {
        Session {
            user_id: UserId(1),
            is_admin: false,
            expires_at,
        }
    }

    const T: TokenHash = [7; 32];

    #[test]
    fn a_cached_session_answers_until_it_expires() {
        let cache = SessionCache::default();
        let miss = cache.get(&T, 0).unwrap_err();
        cache.fill(T, session(10), miss);
        assert_eq!(cache.get(&T, 9).ok().flatten(), Some(session(10)));
        assert_eq!(cache.get(&T, 10).ok(), Some(None));
    }

    #[test]
    fn a_lookup_that_raced_a_logout_caches_nothing() {
        let cache = SessionCache::default();
        let miss = cache.get(&T, 0).unwrap_err();
        // The lookup read the session from the store; then the logout completed.
        cache.revoke(&T);
        cache.fill(T, session(10), miss);
        assert!(
            cache.get(&T, 0).is_err(),
            "revoked token must not be cached"
        );
    }

    #[test]
    fn logout_forgets_the_token() {
        let cache = SessionCache::default();
        let miss = cache.get(&T, 0).unwrap_err();
        cache.fill(T, session(10), miss);
        cache.revoke(&T);
        assert!(cache.get(&T, 0).is_err());
    }

    #[test]
    fn a_full_cache_evicts_a_few_entries_not_all_of_them() {
        let cache = SessionCache::with_capacity(1_000);
        for i in 0..1_001u32 {
            let mut token = [0; 32];
            token[..4].copy_from_slice(&i.to_be_bytes());
            let miss = cache.get(&token, 0).unwrap_err();
            cache.fill(token, session(10), miss);
        }
        assert!(cache.len() <= 1_000, "{} cached", cache.len());
        assert!(cache.len() >= 900, "only {} cached", cache.len());
    }
}

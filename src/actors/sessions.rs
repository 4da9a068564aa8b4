//! A bounded in-memory cache of the sessions bearer tokens stand for, so authenticating a
//! request costs a map lookup instead of a hash, a sled read and a decode.
//!
//! Correctness rests on three rules:
//! - a cached session is checked for expiry on every use, exactly as a stored one is (expired
//!   sessions are only ever removed from the store by the reaper, after they expired);
//! - logout removes the token from the cache after its removal from the store is durable, and
//!   bumps `revocations`: a lookup that read the store before that bump does not cache what it
//!   read, so a logout can never be undone by a lookup racing it;
//! - it holds at most [`CAPACITY`] tokens, and when full it starts over empty (the store is the
//!   truth, so forgetting is always safe).

use crate::domain::{Millis, Session};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most tokens cached (~100 bytes each with the map's overhead: about 10 MiB).
pub const CAPACITY: usize = 100_000;

#[derive(Clone, Default)]
pub struct SessionCache(Arc<Mutex<Cached>>);

#[derive(Default)]
struct Cached {
    by_token: HashMap<Box<str>, Session>,
    /// Logouts so far: a lookup caches what it read only if none completed in between.
    revocations: u64,
}

/// Where a lookup stands: the revocations it saw before reading the store.
pub struct Miss(u64);

impl SessionCache {
    /// The cached live session of `token`, or the [`Miss`] to pass to [`Self::fill`] with what
    /// the store says.
    pub fn get(&self, token: &str, now: Millis) -> Result<Option<Session>, Miss> {
        let cached = self.lock();
        match cached.by_token.get(token) {
            Some(s) if s.is_expired(now) => Ok(None),
            Some(s) => Ok(Some(s.clone())),
            None => Err(Miss(cached.revocations)),
        }
    }

    /// Caches `session` (read from the store after `miss`) unless a logout completed since.
    pub fn fill(&self, token: &str, session: Session, miss: Miss) {
        let mut cached = self.lock();
        if cached.revocations != miss.0 {
            return;
        }
        if cached.by_token.len() >= CAPACITY {
            cached.by_token.clear();
        }
        cached.by_token.insert(token.into(), session);
    }

    /// Forgets `token`; called once its session is gone from the store.
    pub fn revoke(&self, token: &str) {
        let mut cached = self.lock();
        cached.revocations += 1;
        cached.by_token.remove(token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn session(expires_at: Millis) -> Session {
        Session {
            user_id: UserId(1),
            is_admin: false,
            expires_at,
        }
    }

    #[test]
    fn a_cached_session_answers_until_it_expires() {
        let cache = SessionCache::default();
        let miss = cache.get("t", 0).unwrap_err();
        cache.fill("t", session(10), miss);
        assert_eq!(cache.get("t", 9).ok().flatten(), Some(session(10)));
        assert_eq!(cache.get("t", 10).ok(), Some(None));
    }

    #[test]
    fn a_lookup_that_raced_a_logout_caches_nothing() {
        let cache = SessionCache::default();
        let miss = cache.get("t", 0).unwrap_err();
        // The lookup read the session from the store; then the logout completed.
        cache.revoke("t");
        cache.fill("t", session(10), miss);
        assert!(
            cache.get("t", 0).is_err(),
            "revoked token must not be cached"
        );
    }

    #[test]
    fn logout_forgets_the_token() {
        let cache = SessionCache::default();
        let miss = cache.get("t", 0).unwrap_err();
        cache.fill("t", session(10), miss);
        cache.revoke("t");
        assert!(cache.get("t", 0).is_err());
    }
}

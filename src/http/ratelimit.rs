//! Login throttling in fixed windows, counted *before* the password is checked: an attempt
//! takes a slot from every key it counts against (atomically, under one lock), and a login
//! that succeeds gives its slots back. So however many wrong passwords arrive at once, at most
//! the limit of them reach the (expensive) password check per window, and a user who knows
//! their password is never throttled by their own successful logins.
//!
//! Policy (documented in docs/api.md):
//! - per username *and* client address: [`PER_USERNAME_AND_ADDRESS`] failures per window. An
//!   attacker guessing from one address throttles only that address for that name, never the
//!   real owner logging in from elsewhere.
//! - per client address, any username: [`PER_ADDRESS`].
//! - per username from all addresses together: [`PER_USERNAME`], a looser bound against
//!   guessing spread over many addresses. It can delay the owner for one window at most; it
//!   never locks an account beyond the window.
//!
//! Registrations are counted by the same limiter, per client address ([`LoginKeys::registration`],
//! `--max-registrations-per-minute`): every registration that passes validation takes a slot,
//! and none is given back.
//!
//! Memory stays bounded: keys are stored as 16-byte hashes (never the raw username), and
//! windows that have ended are swept out once per window.

use blake2::{Blake2s256, Digest};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed logins allowed per username from one client address per window.
pub const PER_USERNAME_AND_ADDRESS: u32 = 5;
/// Failed logins allowed per client address (any usernames) per window.
pub const PER_ADDRESS: u32 = 20;
/// Failed logins allowed per username from all addresses together per window.
pub const PER_USERNAME: u32 = 100;
pub const WINDOW: Duration = Duration::from_secs(60);

/// A hashed limiter key: what a window is kept under.
type KeyHash = [u8; 16];

#[derive(Clone)]
pub struct LoginLimiter {
    state: Arc<Mutex<Windows>>,
}

struct Windows {
    /// Key → (window start, attempts counted in it).
    counts: HashMap<KeyHash, (Instant, u32)>,
    /// When ended windows were last swept out.
    swept_at: Instant,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(Windows {
                counts: HashMap::new(),
                swept_at: Instant::now(),
            })),
        }
    }
}

/// The keys one login attempt counts against, with their limits.
#[derive(Debug, Clone)]
pub struct LoginKeys(Vec<(KeyHash, u32)>);

impl LoginKeys {
    pub fn new(username: &str, addr: Option<IpAddr>) -> Self {
        let name = username.to_lowercase();
        let mut keys = vec![(hash(&["user", &name]), PER_USERNAME)];
        if let Some(ip) = addr {
            let ip = ip.to_string();
            keys.push((hash(&["user+addr", &name, &ip]), PER_USERNAME_AND_ADDRESS));
            keys.push((hash(&["addr", &ip]), PER_ADDRESS));
        }
        Self(keys)
    }

    /// The key a registration from `addr` counts against, `limit` per window. A request
    /// without a known address (an in-process test) is not counted.
    pub fn registration(addr: Option<IpAddr>, limit: u32) -> Self {
        let keys = addr.map(|ip| (hash(&["register", &ip.to_string()]), limit));
        Self(keys.into_iter().collect())
    }
}

fn hash(parts: &[&str]) -> KeyHash {
    let mut h = Blake2s256::new();
    for p in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let full: [u8; 32] = h.finalize().into();
    let mut key = [0; 16];
    key.copy_from_slice(&full[..16]);
    key
}

impl LoginLimiter {
    /// Counts an attempt against every key, or, if any key is at its limit, counts nothing
    /// and returns the seconds until that key frees up.
    pub fn try_acquire(&self, keys: &LoginKeys) -> Result<(), u64> {
        self.try_acquire_at(keys, Instant::now())
    }

    /// Gives back the attempt of a login that succeeded.
    pub fn release(&self, keys: &LoginKeys) {
        let Ok(mut w) = self.state.lock() else {
            return;
        };
        for (key, _) in &keys.0 {
            if let Some((_, n)) = w.counts.get_mut(key) {
                *n = n.saturating_sub(1);
            }
        }
    }

    fn try_acquire_at(&self, keys: &LoginKeys, now: Instant) -> Result<(), u64> {
        let Ok(mut w) = self.state.lock() else {
            // A poisoned lock means a panic elsewhere; refusing logins would lock everyone out.
            return Ok(());
        };
        w.sweep(now);
        let mut wait = None;
        for (key, limit) in &keys.0 {
            if let Some((start, n)) = w.counts.get(key) {
                let elapsed = now.duration_since(*start);
                if elapsed < WINDOW && n >= limit {
                    let left = (WINDOW - elapsed).as_secs().max(1);
                    wait = Some(wait.map_or(left, |w: u64| w.max(left)));
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, _) in &keys.0 {
            let entry = w.counts.entry(*key).or_insert((now, 0));
            if now.duration_since(entry.0) >= WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
        Ok(())
    }

    /// How many keys are tracked (for tests of the memory bound).
    pub fn tracked(&self) -> usize {
        self.state.lock().map_or(0, |w| w.counts.len())
    }
}

impl Windows {
    /// Drops ended windows, at most once per window, so memory follows recent traffic only.
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.swept_at) < WINDOW {
            return;
        }
        self.counts
            .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        self.swept_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn attempts_past_the_limit_are_refused_until_the_window_ends() {
        let l = LoginLimiter::default();
        let keys = LoginKeys::new("Alice", ip("10.0.0.1"));
        for _ in 0..PER_USERNAME_AND_ADDRESS {
            assert!(l.try_acquire(&keys).is_ok());
        }
        let wait = l.try_acquire(&keys).unwrap_err();
        assert!((1..=60).contains(&wait));
        // Usernames are counted case-insensitively; other names are unaffected.
        assert!(l
            .try_acquire(&LoginKeys::new("alice", ip("10.0.0.1")))
            .is_err());
        assert!(l
            .try_acquire(&LoginKeys::new("bob", ip("10.0.0.1")))
            .is_ok());
        // The window ends and the name may try again.
        let later = Instant::now() + WINDOW;
        assert!(l.try_acquire_at(&keys, later).is_ok());
    }

    #[test]
    fn a_throttled_name_still_lets_its_owner_in_from_another_address() {
        let l = LoginLimiter::default();
        let attacker = LoginKeys::new("alice", ip("10.0.0.66"));
        while l.try_acquire(&attacker).is_ok() {}
        assert!(l
            .try_acquire(&LoginKeys::new("alice", ip("10.0.0.1")))
            .is_ok());
    }

    #[test]
    fn a_successful_login_gives_its_attempt_back() {
        let l = LoginLimiter::default();
        let keys = LoginKeys::new("alice", ip("10.0.0.1"));
        for _ in 0..10 * PER_USERNAME_AND_ADDRESS {
            assert!(l.try_acquire(&keys).is_ok());
            l.release(&keys);
        }
    }

    #[test]
    fn registrations_are_counted_per_address_apart_from_logins() {
        let l = LoginLimiter::default();
        let here = LoginKeys::registration(ip("10.0.0.1"), 2);
        assert!(l.try_acquire(&here).is_ok());
        assert!(l.try_acquire(&here).is_ok());
        assert!(l.try_acquire(&here).is_err());
        assert!(l
            .try_acquire(&LoginKeys::registration(ip("10.0.0.2"), 2))
            .is_ok());
        assert!(l
            .try_acquire(&LoginKeys::new("alice", ip("10.0.0.1")))
            .is_ok());
    }

    #[test]
    fn ended_windows_are_swept_so_memory_follows_recent_traffic() {
        let l = LoginLimiter::default();
        let start = Instant::now();
        for i in 0..1000 {
            let keys = LoginKeys::new(&format!("user{i}"), None);
            l.try_acquire_at(&keys, start).unwrap();
        }
        assert_eq!(l.tracked(), 1000);
        let keys = LoginKeys::new("late", None);
        l.try_acquire_at(&keys, start + WINDOW + Duration::from_secs(1))
            .unwrap();
        assert_eq!(l.tracked(), 1);
    }
}

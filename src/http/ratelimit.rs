//! Login throttling: failed logins are counted per username and per client address in fixed
//! windows; past the limit, logins for that name or from that address get 429 with
//! `Retry-After` until the window ends. Successful logins are not counted, so a user who
//! knows their password is never locked out by their own traffic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed logins allowed per username per window.
pub const PER_USERNAME: u32 = 5;
/// Failed logins allowed per client address per window.
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked keys, expired windows are swept out.
const SWEEP_AT: usize = 10_000;

#[derive(Clone, Default)]
pub struct LoginLimiter {
    /// Key → (window start, failures in it).
    windows: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl LoginLimiter {
    /// `Err(seconds)` if any key is over its limit, with the time until it frees up.
    pub fn check(&self, keys: &[(String, u32)]) -> Result<(), u64> {
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let mut wait = None;
        for (key, limit) in keys {
            if let Some((start, failures)) = windows.get(key) {
                let elapsed = now.duration_since(*start);
                if elapsed < WINDOW && failures >= limit {
                    let left = (WINDOW - elapsed).as_secs().max(1);
                    wait = Some(wait.map_or(left, |w: u64| w.max(left)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, keys: &[(String, u32)]) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        let now = Instant::now();
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        for (key, _) in keys {
            let entry = windows.entry(key.clone()).or_insert((now, 0));
            if now.duration_since(entry.0) >= WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }
}

/// The keys a login attempt counts against.
pub fn login_keys(username: &str, addr: Option<std::net::SocketAddr>) -> Vec<(String, u32)> {
    let mut keys = vec![(
        format!("user:{}", username.to_ascii_lowercase()),
        PER_USERNAME,
    )];
    if let Some(addr) = addr {
        keys.push((format!("addr:{}", addr.ip()), PER_ADDRESS));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_block_until_the_window_ends() {
        let l = LoginLimiter::default();
        let keys = login_keys("Alice", None);
        for _ in 0..PER_USERNAME {
            assert!(l.check(&keys).is_ok());
            l.record_failure(&keys);
        }
        let wait = l.check(&keys).unwrap_err();
        assert!((1..=60).contains(&wait));
        // Usernames are counted case-insensitively; other names are unaffected.
        assert!(l.check(&login_keys("alice", None)).is_err());
        assert!(l.check(&login_keys("bob", None)).is_ok());
    }
}

//! How long a hold lasts, and when a cart's activity keeps its holds alive.

use super::{CartStatus, Millis};
use std::time::Duration;

/// The hold rules, from the configured time-to-live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    /// How long a hold lasts while its cart is idle, in milliseconds.
    ttl: Millis,
}

impl HoldPolicy {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// When a hold made or renewed at `now` lapses.
    pub fn deadline(&self, now: Millis) -> Millis {
        now.saturating_add(self.ttl)
    }

    /// The deadline of a hold changed at `now` whose deadline was `current`: `current` while
    /// it is still within a twentieth of the TTL of a fresh one, else a fresh one. So a hold
    /// lapses between 95 % and 100 % of the TTL after its cart's last change (the bound
    /// [`Self::renewal_due`] gives the other lines), and a busy cart's adds do not move the
    /// hold's expiry-index entry (a remove and a put in the store) on every change.
    pub fn deadline_after(&self, now: Millis, current: Option<Millis>) -> Millis {
        let fresh = self.deadline(now);
        match current {
            Some(c) if c <= fresh && fresh - c < self.ttl / 20 => c,
            _ => fresh,
        }
    }

    /// Whether activity at `now` pushes back the cart's other holds, last pushed back at
    /// `renewed_at`. At most every twentieth of the TTL: holds lapse between 95% and 100% of
    /// the TTL after the last activity, and a busy cart does not rewrite all its holds on every
    /// change.
    pub fn renewal_due(&self, now: Millis, renewed_at: Millis) -> bool {
        now.saturating_sub(renewed_at) >= self.ttl / 20
    }

    /// Whether a cart line shows as reserved: its cart is open and its hold has not lapsed
    /// (a lapsed hold is released by the reaper, moments later).
    pub fn is_reserved(status: CartStatus, held_until: Option<Millis>, now: Millis) -> bool {
        status == CartStatus::Open && held_until.is_some_and(|until| until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_renews_holds_at_most_every_twentieth_of_the_ttl() {
        let p = HoldPolicy::new(Duration::from_secs(20));
        assert_eq!(p.deadline(5_000), 25_000);
        assert!(!p.renewal_due(1_999, 1_000));
        assert!(p.renewal_due(2_000, 1_000));
        assert_eq!(HoldPolicy::new(Duration::MAX).deadline(1), u64::MAX);
    }

    #[test]
    fn a_change_keeps_a_deadline_within_a_twentieth_of_the_ttl_of_a_fresh_one() {
        let p = HoldPolicy::new(Duration::from_secs(20));
        assert_eq!(p.deadline_after(5_000, None), 25_000);
        assert_eq!(p.deadline_after(5_000, Some(24_001)), 24_001);
        assert_eq!(p.deadline_after(5_000, Some(23_000)), 25_000);
        // A deadline beyond a fresh one (a longer TTL before a restart) is not kept.
        assert_eq!(p.deadline_after(5_000, Some(26_000)), 25_000);
    }

    #[test]
    fn only_an_open_cart_with_a_live_hold_shows_its_line_reserved() {
        let open = CartStatus::Open;
        assert!(HoldPolicy::is_reserved(open, Some(11), 10));
        assert!(!HoldPolicy::is_reserved(open, Some(10), 10));
        assert!(!HoldPolicy::is_reserved(open, None, 10));
        assert!(!HoldPolicy::is_reserved(
            CartStatus::CheckedOut,
            Some(11),
            10
        ));
    }
}

//! The restart policy, shared by the root supervisor (for directories and singletons) and the
//! directories (for entity actors): restart a failed actor at once, but one that failed more
//! than [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] is left stopped until the window has
//! passed, so one poisoned record cannot spin the system.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The recent failures of one actor.
#[derive(Debug, Default)]
pub struct Failures {
    /// Times of failures within the window, oldest first.
    recent: VecDeque<Instant>,
}

impl Failures {
    fn forget_old(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// Records a failure at `now`; true if the actor may be restarted.
    pub fn record(&mut self, now: Instant) -> bool {
        self.forget_old(now);
        self.recent.push_back(now);
        self.recent.len() <= MAX_FAILURES
    }

    /// Whether the actor is left stopped at `now` for failing too often.
    pub fn quarantined(&mut self, now: Instant) -> bool {
        self.forget_old(now);
        self.recent.len() > MAX_FAILURES
    }

    /// No failure within the window: nothing worth keeping.
    pub fn is_clear(&self) -> bool {
        self.recent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_allowed_failures_in_the_window_quarantine_until_it_passes() {
        let start = Instant::now();
        let mut f = Failures::default();
        for _ in 0..MAX_FAILURES {
            assert!(f.record(start));
        }
        assert!(!f.quarantined(start));
        assert!(!f.record(start), "one too many");
        assert!(f.quarantined(start + FAILURE_WINDOW / 2));
        assert!(!f.quarantined(start + FAILURE_WINDOW));
        assert!(f.is_clear());
    }
}

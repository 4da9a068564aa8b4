//! One deadline per request (`--call-timeout` from its start), carried down every hop: the
//! directory lookup, send retries, the actor call, the calls that actor makes and the durable
//! wait. Each hop waits only for what is left, so the request gets its 503 once the deadline
//! has passed, however many hops it took.

use super::Error;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// When a request must have been answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Self(Instant::now() + timeout)
    }

    /// What is left of it (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Waits for `work` until the deadline; past it, `what` is unavailable ("timed out").
    pub async fn bound<F: Future>(self, what: &str, work: F) -> Result<F::Output, Error> {
        tokio::time::timeout_at(self.0, work)
            .await
            .map_err(|_| Error::Unavailable(format!("{what} timed out")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_bounds_every_wait_by_what_is_left_of_it() {
        let deadline = Deadline::after(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(deadline.remaining(), Duration::from_secs(6));
        let slow = tokio::time::sleep(Duration::from_secs(7));
        assert!(deadline.bound("work", slow).await.is_err());
        assert_eq!(deadline.remaining(), Duration::ZERO);
    }
}

//! Maintenance jobs, each on its own task with its own restart policy, so one that keeps
//! failing never stops the others (a failing session purge must not stop hold expiry).
//!
//! A job runs on a timer. A run that fails (an error or a panic) is logged and counted, and
//! the job starts again from its prototype at the next tick, as a restarted actor would; one
//! that failed more than [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] is left stopped until
//! the window has passed, then tried again. Each job's state is shown in `/readyz` and in the
//! metrics (`trolley_job_running`, `trolley_job_failures_total`).

use super::restarts::{Failures, FAILURE_WINDOW, MAX_FAILURES};
use futures_util::FutureExt;
use ractor::ActorProcessingErr;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One maintenance job. Cloned from its prototype at start and after every failure, so a
/// failed run leaves nothing behind (a half-walked cursor, say).
pub trait Job: Clone + Send + Sync + 'static {
    /// Its name in `/readyz` and in the metrics' `job` label.
    const NAME: &'static str;

    /// One run, at one tick of the job's timer.
    fn run(&mut self) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send;
}

/// What operators see of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobState {
    /// `false` while the job is left stopped for failing too often.
    pub running: bool,
    /// Failed runs since the server started.
    pub failures: u64,
    /// The last failure's message, if the job ever failed.
    pub last_error: Option<String>,
}

type States = Arc<RwLock<BTreeMap<&'static str, JobState>>>;

/// The running jobs: their states, and their tasks (to end them at shutdown).
#[derive(Default)]
pub struct Jobs {
    states: States,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Jobs {
    /// Runs `proto` every `every` (first after one interval) on a task of its own.
    pub fn spawn<J: Job>(&self, proto: J, every: Duration) {
        set(&self.states, J::NAME, |_| {});
        let states = self.states.clone();
        let task = tokio::spawn(run_job(proto, every, states));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(task);
        }
    }

    /// Every job's state, by name.
    pub fn states(&self) -> BTreeMap<&'static str, JobState> {
        match self.states.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Ends every job (a run in progress is dropped at its next await, as a stopped actor's
    /// message would be; each run is safe to repeat).
    pub async fn stop(&self) {
        let tasks = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

fn set(states: &States, name: &'static str, change: impl FnOnce(&mut JobState)) {
    let mut states = match states.write() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    let state = states.entry(name).or_insert(JobState {
        running: true,
        failures: 0,
        last_error: None,
    });
    change(state);
}

async fn run_job<J: Job>(proto: J, every: Duration, states: States) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = Failures::default();
    let mut job = proto.clone();
    loop {
        tick.tick().await;
        let error = match AssertUnwindSafe(job.run()).catch_unwind().await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the job panicked".to_owned(),
        };
        job = proto.clone();
        metrics::counter!(crate::telemetry::names::JOB_FAILURES, "job" => J::NAME).increment(1);
        let restart = failures.record(Instant::now());
        set(&states, J::NAME, |s| {
            s.failures += 1;
            s.last_error = Some(error.clone());
            s.running = restart;
        });
        if restart {
            tracing::warn!(job = J::NAME, %error, "a maintenance job failed; it runs again at its next tick");
            continue;
        }
        tracing::error!(
            job = J::NAME,
            %error,
            "a maintenance job failed more than {MAX_FAILURES} times in {FAILURE_WINDOW:?}; left stopped for that long"
        );
        // Its failures have all left the window by then.
        tokio::time::sleep(FAILURE_WINDOW).await;
        set(&states, J::NAME, |s| s.running = true);
        tick.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails its first `fail_first` runs, counting every run.
    #[derive(Clone)]
    struct Flaky {
        runs: Arc<AtomicU32>,
        fail_first: u32,
    }

    impl Job for Flaky {
        const NAME: &'static str = "flaky";

        async fn run(&mut self) -> Result<(), ActorProcessingErr> {
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                return Err("broken".into());
            }
            Ok(())
        }
    }

    /// Waits (in paused time) until `job` has run `n` times.
    async fn until_runs(runs: &AtomicU32, n: u32) {
        while runs.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_failing_too_often_is_left_stopped_until_the_window_passes() {
        let jobs = Jobs::default();
        let runs = Arc::new(AtomicU32::new(0));
        let fail_first = MAX_FAILURES as u32 + 1;
        let every = Duration::from_secs(1);
        jobs.spawn(
            Flaky {
                runs: runs.clone(),
                fail_first,
            },
            every,
        );
        until_runs(&runs, MAX_FAILURES as u32).await;
        assert!(
            jobs.states()["flaky"].running,
            "restarted after each failure"
        );
        until_runs(&runs, fail_first).await;
        let state = &jobs.states()["flaky"];
        assert!(!state.running, "left stopped");
        assert_eq!(state.failures, u64::from(fail_first));
        assert_eq!(state.last_error.as_deref(), Some("broken"));
        // No run while stopped; the next after the window succeeds.
        tokio::time::sleep(FAILURE_WINDOW - every).await;
        assert_eq!(runs.load(Ordering::SeqCst), fail_first);
        until_runs(&runs, fail_first + 1).await;
        assert!(jobs.states()["flaky"].running);
        jobs.stop().await;
    }
}

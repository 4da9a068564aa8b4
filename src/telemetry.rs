//! Logs and metrics, set up in one place.
//!
//! Logs: `tracing` to stderr, filtered by `RUST_LOG`, as text or JSON lines.
//! Metrics: the `metrics` facade with a Prometheus recorder, installed once per process and
//! rendered by `GET /metrics`. Metric names are listed in [`names`]; every one is described
//! (Prometheus `# HELP`) in [`describe`], and latencies are histograms with the buckets in
//! [`LATENCY_BUCKETS`], so `promtool check metrics` accepts the output and quantiles can be
//! aggregated across instances (`histogram_quantile` over `_bucket` series).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Every metric this crate records.
pub mod names {
    /// Counter {route, method, status}.
    pub const HTTP_REQUESTS: &str = "trolley_http_requests_total";
    /// Histogram (seconds) {route, method}.
    pub const HTTP_DURATION: &str = "trolley_http_request_duration_seconds";
    /// Histogram: units written per group commit.
    pub const BATCH_UNITS: &str = "trolley_store_batch_units";
    /// Histogram (seconds): duration of one sled flush and the fdatasync after it.
    pub const FLUSH_SECONDS: &str = "trolley_store_flush_seconds";
    /// Gauge: sequence number of the last durable event.
    pub const LOG_HEAD: &str = "trolley_event_log_head";
    /// Gauge {subscriber}: events the subscriber has yet to handle.
    pub const SUBSCRIBER_LAG: &str = "trolley_subscriber_lag_events";
    /// Gauge {kind}: live entity actors.
    pub const LIVE_ACTORS: &str = "trolley_live_actors";
    /// Counter {kind}: entity actors restarted after a failure.
    pub const RESTARTS: &str = "trolley_actor_restarts_total";
    /// Counter {kind}: entity actors passivated for being idle.
    pub const PASSIVATED: &str = "trolley_actors_passivated_total";
    /// Counter: holds released because their cart was idle too long.
    pub const HOLDS_EXPIRED: &str = "trolley_holds_expired_total";
    /// Counter: events trimmed from the log (by retention or an admin).
    pub const EVENTS_TRIMMED: &str = "trolley_events_trimmed_total";
    /// Gauge {job}: 1 while a maintenance job runs, 0 while it is left stopped.
    pub const JOB_RUNNING: &str = "trolley_job_running";
    /// Counter {job}: failed runs of a maintenance job.
    pub const JOB_FAILURES: &str = "trolley_job_failures_total";
    /// Gauge: when this process started (Unix seconds); a change means a restart.
    pub const START_TIME: &str = "trolley_process_start_time_seconds";
}

/// Buckets (seconds) for request and flush latency: a flush alone is ≈ 0.5 ms and a cached
/// read well under 1 ms, a loaded group commit a few ms, and anything near the 5 s call
/// timeout is a failure in the making; so from 100 µs to 10 s, about 2.5× apart.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets for units per group commit: powers of two up to the writer's batch limit (1024).
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The `# HELP` text of every metric in [`names`].
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        names::HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by route template and method"
    );
    describe_histogram!(
        names::BATCH_UNITS,
        Unit::Count,
        "Units (requests' writes) made durable by one group commit"
    );
    describe_histogram!(
        names::FLUSH_SECONDS,
        Unit::Seconds,
        "Time of one group commit's sled flush plus fdatasync"
    );
    describe_gauge!(names::LOG_HEAD, "Sequence number of the last durable event");
    describe_gauge!(
        names::SUBSCRIBER_LAG,
        "Events an in-process subscriber has yet to handle"
    );
    describe_gauge!(names::LIVE_ACTORS, "Entity actors in memory, by kind");
    describe_counter!(
        names::RESTARTS,
        "Entity actors restarted after a failure, by kind"
    );
    describe_counter!(
        names::PASSIVATED,
        "Entity actors stopped for being idle, by kind"
    );
    describe_counter!(
        names::HOLDS_EXPIRED,
        "Holds released because their cart was idle for the hold TTL"
    );
    describe_counter!(
        names::EVENTS_TRIMMED,
        "Events trimmed from the log, by the retention policy or an admin"
    );
    describe_gauge!(
        names::JOB_RUNNING,
        "1 while a maintenance job runs, 0 while it is left stopped for failing too often"
    );
    describe_counter!(
        names::JOB_FAILURES,
        "Failed runs of a maintenance job, by job"
    );
    describe_gauge!(
        names::START_TIME,
        Unit::Seconds,
        "When this server process started, in seconds since the Unix epoch"
    );
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init(default_filter: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The process's metrics recorder, installed on first use.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first, in which case ours simply
        // renders nothing; the app still works.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!(names::START_TIME).set(started);
        handle
    })
}

/// The recorder's settings: histograms (not the exporter's default summaries) for the
/// latencies and batch sizes.
fn builder() -> PrometheusBuilder {
    let with_histograms = || {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(names::HTTP_DURATION.into()), LATENCY_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(names::FLUSH_SECONDS.into()), LATENCY_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(names::BATCH_UNITS.into()), BATCH_BUCKETS)
    };
    // Fails only for an empty bucket list, which these constants are not; metrics as
    // summaries beat no metrics.
    with_histograms().unwrap_or_else(|e| {
        tracing::error!(error = %e, "histogram buckets refused; latencies stay summaries");
        PrometheusBuilder::new()
    })
}

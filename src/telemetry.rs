//! Logs and metrics, set up in one place.
//!
//! Logs: `tracing` to stderr, filtered by `RUST_LOG`, as text or JSON lines.
//! Metrics: the `metrics` facade with a Prometheus recorder, installed once per process and
//! rendered by `GET /metrics`. Metric names are listed in [`names`].

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Every metric this crate records.
pub mod names {
    /// Counter {route, method, status}.
    pub const HTTP_REQUESTS: &str = "trolley_http_requests_total";
    /// Summary (seconds) {route, method}.
    pub const HTTP_DURATION: &str = "trolley_http_request_duration_seconds";
    /// Summary: units written per group commit.
    pub const BATCH_UNITS: &str = "trolley_store_batch_units";
    /// Summary (seconds): duration of one sled flush and the fdatasync after it.
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
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first, in which case ours simply
        // renders nothing; the app still works.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

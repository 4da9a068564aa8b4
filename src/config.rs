//! Settings, each a CLI flag and an environment variable with a default.

use crate::actors::quotas::Quotas;
use crate::domain::{Password, Username, ValidationError};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "trolley",
    version,
    about = "Shopping-cart backend: actors over sled behind warp"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TROLLEY_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory of the database (created if missing).
    #[arg(long, env = "TROLLEY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Username of an admin to create at start if missing.
    #[arg(long, env = "TROLLEY_ADMIN_USERNAME")]
    pub admin_username: Option<String>,

    /// Password of that admin (prefer the environment variable over the flag).
    #[arg(long, env = "TROLLEY_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// How long a login token is valid, e.g. `24h`, `90m`.
    #[arg(long, env = "TROLLEY_TOKEN_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,

    /// How long a cart's holds last while the cart is idle, e.g. `30m`, `90s`.
    #[arg(long, env = "TROLLEY_HOLD_TTL", default_value = "30m", value_parser = humantime::parse_duration)]
    pub hold_ttl: Duration,

    /// Entity actors unused this long are stopped to free memory, e.g. `5m`.
    #[arg(long, env = "TROLLEY_IDLE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// One deadline per request, carried down every hop (actor lookups and starts, actor
    /// calls, the durable wait); past it the request gets 503.
    #[arg(long, env = "TROLLEY_CALL_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub call_timeout: Duration,

    /// How long shutdown waits for in-flight requests and actors.
    #[arg(long, env = "TROLLEY_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log format: `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, env = "TROLLEY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: crate::telemetry::LogFormat,

    /// Trim events older than this from the log while serving, e.g. `30d` (default: keep
    /// all). Events a subscriber has not handled yet are kept whatever their age.
    #[arg(long, env = "TROLLEY_EVENTS_RETAIN", value_parser = humantime::parse_duration)]
    pub events_retain: Option<Duration>,

    /// Keep at most this many of the newest events (default: no limit); as with
    /// `--events-retain`, never trimming what a subscriber still needs.
    #[arg(long, env = "TROLLEY_EVENTS_RETAIN_COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    pub events_retain_count: Option<u64>,

    /// Directory in which `trolley backup --to DIR` (`POST /admin/backup`) may create
    /// backups, each a new directory directly inside it (default: backups are off).
    #[arg(long, env = "TROLLEY_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Open carts one user may have at once (beyond it: 409 `too_many_open_carts`).
    #[arg(long, env = "TROLLEY_MAX_OPEN_CARTS", default_value_t = Quotas::DEFAULT.open_carts_per_user, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_carts: u32,

    /// `Idempotency-Key` answers one user may have stored, each kept 24 h (beyond it: 409
    /// `too_many_idempotency_keys`).
    #[arg(long, env = "TROLLEY_MAX_IDEMPOTENCY_KEYS", default_value_t = Quotas::DEFAULT.idempotency_keys_per_user, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_idempotency_keys: u32,

    /// Live sessions one user may have; a login beyond it revokes that user's oldest session.
    #[arg(long, env = "TROLLEY_MAX_SESSIONS", default_value_t = Quotas::DEFAULT.sessions_per_user, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions: u32,

    /// Registrations one client address may make per minute (beyond it: 429
    /// `too_many_registrations` with `Retry-After`).
    #[arg(long, env = "TROLLEY_MAX_REGISTRATIONS_PER_MINUTE", default_value_t = Quotas::DEFAULT.registrations_per_address, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_registrations_per_minute: u32,

    /// Most Server-Sent Events streams open at once (`/events/stream`, `/products/stream`);
    /// beyond it a new one gets 503 with `Retry-After`. Streams also never get more than half
    /// of the process's open-files limit, so the rest of the API always has descriptors.
    #[arg(long, env = "TROLLEY_MAX_STREAMS", default_value_t = 1000)]
    pub max_streams: usize,

    /// sled page cache size in bytes.
    #[arg(long, env = "TROLLEY_CACHE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub cache_bytes: u64,
}

impl Config {
    /// Defaults for everything, serving `addr` from `data_dir` (used by tests).
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Self {
        let mut c = Config::parse_from(["trolley"]);
        c.addr = addr;
        c.data_dir = data_dir;
        c.admin_username = None;
        c.admin_password = None;
        c
    }

    /// The event-log retention these settings ask for.
    pub fn retention(&self) -> crate::storage::retention::Policy {
        crate::storage::retention::Policy {
            max_age: self.events_retain,
            max_events: self.events_retain_count,
        }
    }

    /// The per-account bounds these settings ask for.
    pub fn quotas(&self) -> Quotas {
        Quotas {
            open_carts_per_user: self.max_open_carts,
            idempotency_keys_per_user: self.max_idempotency_keys,
            sessions_per_user: self.max_sessions,
            registrations_per_address: self.max_registrations_per_minute,
        }
    }

    /// The admin to bootstrap, if both name and password are set.
    pub fn admin(&self) -> Result<Option<(Username, Password)>, ValidationError> {
        match (&self.admin_username, &self.admin_password) {
            (Some(u), Some(p)) => Ok(Some((Username::parse(u)?, Password::parse(p.clone())?))),
            (None, None) => Ok(None),
            _ => Err(ValidationError::new(
                "TROLLEY_ADMIN_USERNAME",
                "set both TROLLEY_ADMIN_USERNAME and TROLLEY_ADMIN_PASSWORD, or neither",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = Config::try_parse_from(["trolley"]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.token_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(c.hold_ttl, Duration::from_secs(30 * 60));
        assert_eq!(c.quotas(), Quotas::DEFAULT);
    }

    #[test]
    fn a_quota_of_zero_is_refused() {
        assert!(Config::try_parse_from(["trolley", "--max-sessions", "0"]).is_err());
        let c = Config::try_parse_from(["trolley", "--max-open-carts", "3"]).unwrap();
        assert_eq!(c.quotas().open_carts_per_user, 3);
    }

    #[test]
    fn durations_accept_human_units_and_bad_values_are_refused() {
        let c = Config::try_parse_from(["trolley", "--call-timeout", "250ms", "--hold-ttl", "90s"])
            .unwrap();
        assert_eq!(c.call_timeout, Duration::from_millis(250));
        assert_eq!(c.hold_ttl, Duration::from_secs(90));
        assert!(Config::try_parse_from(["trolley", "--token-ttl", "soon"]).is_err());
        assert!(Config::try_parse_from(["trolley", "--addr", "nowhere"]).is_err());
    }

    #[test]
    fn admin_needs_both_name_and_password() {
        let mut c = Config::new("127.0.0.1:0".parse().unwrap(), "d".into());
        assert!(c.admin().unwrap().is_none());
        c.admin_username = Some("root".into());
        assert!(c.admin().is_err());
        c.admin_password = Some("long-enough".into());
        assert!(c.admin().unwrap().is_some());
    }
}

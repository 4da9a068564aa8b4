//! `Idempotency-Key`: a POST retried with the same key by the same user replays the stored
//! first response (same status and body) without doing the work again; the same key with a
//! different request is refused with 422 `idempotency_key_reused`.
//!
//! Records live under `ik/{user}{key}` with the request's fingerprint (method, path, body) and
//! the response, written durably before the response is sent, and are kept at least
//! [`RETENTION`] (the reaper purges older ones through the `ikt/` time index). Two
//! requests with one key never run at once: they queue on a lock stripe of (user, key).
//! 5xx answers are not recorded, so a retry after one does the work.
//!
//! Known gap: the record is written just after the work's own write, not in the same atomic
//! unit, so a crash in the ~1 ms between the two makes a retry redo the work.

use super::auth::Caller;
use super::error::ApiError;
use crate::domain::{Millis, UserId};
use crate::storage::{codec, keys, Store, Unit};
use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Mutex;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

pub use crate::actors::reaper::IDEMPOTENCY_RETENTION as RETENTION;
const STRIPES: usize = 64;

/// A validated `Idempotency-Key` value: 1–255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Takes raw header bytes: any byte outside visible ASCII is refused here, as a 400.
    pub fn parse(raw: impl AsRef<[u8]>) -> Result<Self, ApiError> {
        let raw = raw.as_ref();
        let visible =
            (1..=255).contains(&raw.len()) && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        match std::str::from_utf8(raw) {
            Ok(key) if visible => Ok(Self(key.to_owned())),
            _ => Err(ApiError::invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )),
        }
    }
}

/// The stored outcome of the first request with a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    fingerprint: [u8; 32],
    status: u16,
    /// The JSON body sent, or empty for a bodiless response.
    body: Vec<u8>,
    created_at: Millis,
}

/// Per-app lock stripes, so two requests with one key run one after the other.
#[derive(Clone)]
pub struct Locks(Arc<Vec<Mutex<()>>>);

impl Default for Locks {
    fn default() -> Self {
        Self(Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect()))
    }
}

impl Locks {
    fn stripe(&self, user: UserId, key: &IdempotencyKey) -> &Mutex<()> {
        let h = Blake2s256::new()
            .chain_update(user.0.to_be_bytes())
            .chain_update(key.0.as_bytes())
            .finalize();
        &self.0[usize::from(h[0]) % STRIPES]
    }
}

/// A successful answer to record: status and JSON body (`Value::Null` for none).
pub struct Outcome {
    pub status: StatusCode,
    pub body: Value,
}

impl Outcome {
    pub fn new(status: StatusCode, body: impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| {
            tracing::error!(error = %e, "response not serialisable");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        })?;
        Ok(Self { status, body })
    }

    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: Value::Null,
        }
    }
}

fn respond(status: StatusCode, body: &[u8]) -> warp::reply::Response {
    if body.is_empty() {
        return status.into_response();
    }
    let mut r = warp::reply::with_status(body.to_vec(), status).into_response();
    r.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// What the idempotency layer needs from a request: its key (if any) and what identifies it.
#[derive(Clone)]
pub struct Idem {
    key: Option<IdempotencyKey>,
    /// Method and path; the body is added by the handler.
    target: String,
    locks: Locks,
}

/// Extracts the key (a bad one is a 400) and the request's method and path.
pub fn idem(locks: Locks) -> impl Filter<Extract = (Idem,), Error = Rejection> + Clone {
    // The raw value, not `header::optional::<String>`: that rejects a non-ASCII value with
    // `InvalidHeader`, which loses to a sibling route's 405 when rejections are combined.
    let raw_key = warp::header::value("idempotency-key")
        .map(Some)
        .or(warp::any().map(|| None::<HeaderValue>))
        .unify();
    raw_key
        .and(warp::method())
        .and(warp::path::full())
        .and_then(
            move |key: Option<HeaderValue>,
                  method: warp::http::Method,
                  path: warp::path::FullPath| {
                let locks = locks.clone();
                async move {
                    let key = key.map(IdempotencyKey::parse).transpose()?;
                    Ok::<_, Rejection>(Idem {
                        key,
                        target: format!("{method} {}", path.as_str()),
                        locks,
                    })
                }
            },
        )
}

impl Idem {
    /// Runs `work` once per (user, key): a retry replays the recorded answer.
    pub async fn run<Fut>(
        self,
        store: &Store,
        caller: &Caller,
        body: &[u8],
        work: impl FnOnce() -> Fut,
    ) -> Result<warp::reply::Response, Rejection>
    where
        Fut: Future<Output = Result<Outcome, ApiError>>,
    {
        let Some(key) = self.key else {
            return match work().await {
                Ok(o) => Ok(respond(o.status, &body_bytes(&o.body))),
                Err(e) => Err(warp::reject::custom(e)),
            };
        };
        let fingerprint: [u8; 32] = Blake2s256::new()
            .chain_update(self.target.as_bytes())
            .chain_update([0])
            .chain_update(body)
            .finalize()
            .into();
        let record_key = keys::idempotency(caller.user_id, &key.0);
        let _turn = self.locks.stripe(caller.user_id, &key).lock().await;

        let seen: Option<Record> = store.get(&record_key).map_err(crate::actors::Error::from)?;
        if let Some(first) = seen {
            if first.fingerprint != fingerprint {
                return Err(warp::reject::custom(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                )));
            }
            let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
            return Ok(respond(status, &first.body));
        }

        let (status, body) = match work().await {
            Ok(o) => (o.status, body_bytes(&o.body)),
            Err(e) if e.status.is_server_error() => return Err(warp::reject::custom(e)),
            Err(e) => (e.status, body_bytes(&e.body())),
        };
        let created_at = store.now();
        let record = Record {
            fingerprint,
            status: status.as_u16(),
            body,
            created_at,
        };
        store
            .write(
                Unit::default()
                    .put(record_key.clone(), codec::encode(&record))
                    .put(
                        keys::idempotency_by_time(created_at, &record_key),
                        Vec::new(),
                    ),
            )
            .await
            .map_err(crate::actors::Error::from)?;
        Ok(respond(status, &record.body))
    }
}

fn body_bytes(v: &Value) -> Vec<u8> {
    if v.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::IdempotencyKey;

    #[test]
    fn keys_are_1_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("order-42_retry~1").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("tab\t").is_err());
        assert!(IdempotencyKey::parse("é").is_err());
        assert!(IdempotencyKey::parse(b"\x80").is_err());
        assert!(IdempotencyKey::parse(b"key-\xff").is_err());
        assert!(IdempotencyKey::parse(b"del\x7f").is_err());
    }
}

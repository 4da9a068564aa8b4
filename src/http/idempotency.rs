//! `Idempotency-Key`: a POST retried with the same key by the same user replays the stored
//! first response (same status and body) without doing the work again; the same key with a
//! different request is refused with 422 `idempotency_key_reused`.
//!
//! Records live under `ik/{user}{key}` with the request's fingerprint (method, path, body) and
//! the response, written durably before the response is sent, and are kept at least
//! [`RETENTION`] (the reaper purges older ones through the `ikt/` time index).
//!
//! The lost-answer case is the one keys exist for, so the work of a keyed request runs in a
//! task of its own: a client that gives up (timeout, dropped connection) does not cancel it,
//! and its answer is still recorded. A retry that arrives while the first attempt runs waits
//! for it (bounded) and replays its answer, or gets 409 `idempotency_request_in_progress`;
//! it never runs the work beside it. Attempts are tracked per (user, key), so one user's
//! retries never wait on another's.
//!
//! When the answer itself is lost inside the server (a 503 after a timeout, a crash before the
//! answer was recorded), the work's own unit carries the key's mark (see
//! [`crate::storage::idempotency`]): a retry finds it and answers from the resource's current
//! state instead of working again. 5xx answers are never recorded.

use super::auth::Caller;
use super::error::ApiError;
use crate::domain::{Millis, UserId};
use crate::storage::idempotency::{Applied, Mark};
use crate::storage::{codec, keys, Store, Unit};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

pub use crate::actors::reaper::IDEMPOTENCY_RETENTION as RETENTION;

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

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One user's key.
type Slot = (UserId, String);

/// The keyed requests running in this app, by (user, key): a retry finds the attempt it must
/// wait for here. Each entry's watch turns `true` when that attempt has finished.
#[derive(Clone)]
pub struct Locks {
    running: Arc<Mutex<HashMap<Slot, watch::Receiver<bool>>>>,
    /// How long a retry waits for the attempt in progress before answering 409.
    wait: Duration,
}

impl Locks {
    /// `wait`: how long a retry waits for an attempt in progress (a few call timeouts).
    pub fn new(wait: Duration) -> Self {
        Self {
            running: Default::default(),
            wait,
        }
    }

    /// Registers an attempt for `slot`, or returns the one already running.
    fn claim(&self, slot: &Slot) -> Result<Attempt, watch::Receiver<bool>> {
        let mut running = match self.running.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(rx) = running.get(slot) {
            return Err(rx.clone());
        }
        let (done, rx) = watch::channel(false);
        running.insert(slot.clone(), rx);
        Ok(Attempt {
            locks: self.clone(),
            slot: slot.clone(),
            done,
        })
    }
}

/// The running attempt of a key; finishing (or failing, or panicking) unregisters it and
/// wakes the retries waiting on it.
struct Attempt {
    locks: Locks,
    slot: Slot,
    done: watch::Sender<bool>,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Ok(mut running) = self.locks.running.lock() {
            running.remove(&self.slot);
        }
        self.done.send_replace(true);
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
    /// Runs `work` once per (user, key): a retry replays the recorded answer. `work` gets
    /// the key's [`Mark`] to write with its change; if a retry finds that mark but no recorded
    /// answer (the answer was lost), `replay` answers from the marked resource's id instead.
    pub async fn run<W, R>(
        self,
        store: &Store,
        caller: &Caller,
        body: &[u8],
        work: impl FnOnce(Option<Mark>) -> W + Send + 'static,
        replay: impl FnOnce(u64) -> R + Send + 'static,
    ) -> Result<warp::reply::Response, Rejection>
    where
        W: Future<Output = Result<Outcome, ApiError>> + Send + 'static,
        R: Future<Output = Result<Outcome, ApiError>> + Send + 'static,
    {
        let Some(key) = self.key else {
            return match work(None).await {
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
        let marker_key = keys::idempotency_applied(caller.user_id, &key.0);
        let mark = Mark::new(
            caller.user_id,
            &key.0,
            fingerprint,
            OsRng.next_u64(),
            store.now(),
        );
        let slot = (caller.user_id, key.0);
        let give_up = tokio::time::Instant::now() + self.locks.wait;
        let attempt = loop {
            if let Some(first) = recorded(store, &record_key)? {
                return replay_record(first, &fingerprint);
            }
            match self.locks.claim(&slot) {
                Ok(attempt) => break attempt,
                Err(mut running) => {
                    // Someone is doing this key's work right now: wait, then read its record.
                    let finished = tokio::time::timeout_at(give_up, running.wait_for(|d| *d));
                    if finished.await.is_err() {
                        return Err(warp::reject::custom(in_progress()));
                    }
                }
            }
        };
        // The attempt before ours may have finished between the read and the claim; it
        // records before it unregisters, so a second read settles it.
        if let Some(first) = recorded(store, &record_key)? {
            return replay_record(first, &fingerprint);
        }
        // The work may be done already, its answer lost: then answer from what it did.
        let applied: Option<Applied> =
            store.get(&marker_key).map_err(crate::actors::Error::from)?;
        let outcome: BoxFuture<Result<Outcome, ApiError>> = match applied {
            Some(a) if a.fingerprint != fingerprint => return Err(reused().into()),
            Some(a) => Box::pin(replay(a.resource)),
            None => Box::pin(work(Some(mark))),
        };
        let store = store.clone();
        let keys = (record_key, marker_key);
        let task = tokio::spawn(async move {
            let answer = record_outcome(&store, keys, fingerprint, outcome.await).await;
            drop(attempt);
            answer
        });
        match task.await {
            Ok(Ok((status, body))) => Ok(respond(status, &body)),
            Ok(Err(e)) => Err(warp::reject::custom(e)),
            Err(e) => {
                tracing::error!(error = %e, "keyed request task failed");
                Err(warp::reject::custom(ApiError::internal()))
            }
        }
    }
}

fn recorded(store: &Store, record_key: &[u8]) -> Result<Option<Record>, Rejection> {
    Ok(store.get(record_key).map_err(crate::actors::Error::from)?)
}

fn replay_record(
    first: Record,
    fingerprint: &[u8; 32],
) -> Result<warp::reply::Response, Rejection> {
    if first.fingerprint != *fingerprint {
        return Err(reused().into());
    }
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
    Ok(respond(status, &first.body))
}

fn reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request",
    )
}

/// The code of a 409 that asks the client to retry the same key later.
const IN_PROGRESS: &str = "idempotency_request_in_progress";

fn in_progress() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        IN_PROGRESS,
        "a request with this Idempotency-Key is still being processed; retry later",
    )
}

/// Records a 2xx or 4xx answer durably (a 5xx is passed on unrecorded) and returns it. The
/// recorded answer supersedes the key's mark.
async fn record_outcome(
    store: &Store,
    (record_key, marker_key): (Vec<u8>, Vec<u8>),
    fingerprint: [u8; 32],
    outcome: Result<Outcome, ApiError>,
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let (status, body) = match outcome {
        Ok(o) => (o.status, body_bytes(&o.body)),
        Err(e) if e.status.is_server_error() => return Err(e),
        // Another attempt of this key got its work in first: its mark answers the next retry,
        // so this answer must not be recorded in place of it.
        Err(e) if e.code == IN_PROGRESS => return Err(e),
        Err(e) => (e.status, body_bytes(&e.body())),
    };
    let created_at = store.now();
    let record = Record {
        fingerprint,
        status: status.as_u16(),
        body,
        created_at,
    };
    let by_time = keys::idempotency_by_time(created_at, &record_key);
    store
        .write(
            Unit::default()
                .put(record_key, codec::encode(&record))
                .put(by_time, Vec::new())
                .remove(marker_key),
        )
        .await
        .map_err(|e| ApiError::from(crate::actors::Error::from(e)))?;
    Ok((status, record.body))
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

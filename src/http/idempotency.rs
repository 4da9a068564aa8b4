//! `Idempotency-Key`, the HTTP side: a POST retried with the same key by the same user replays
//! the stored first response (same status and body) without doing the work again; the same key
//! with a different request is refused with 422 `idempotency_key_reused`. What is stored, and
//! for how long, is [`crate::idempotency`]'s business; this module parses the header, keeps one
//! attempt per key running, and turns records into replies.
//!
//! The lost-answer case is the one keys exist for, so the work of a keyed request runs in a
//! task of its own: a client that gives up (timeout, dropped connection) does not cancel it,
//! and its answer is still recorded. A retry that arrives while the first attempt runs waits
//! for it (bounded) and replays its answer, or gets 409 `idempotency_request_in_progress`;
//! it never runs the work beside it. Attempts are tracked per (user, key), so one user's
//! retries never wait on another's.
//!
//! When the answer itself is lost inside the server (a 503 after a timeout, a crash before the
//! answer was recorded), the work's own unit carries the key's [`Mark`]: a retry finds it and
//! answers from the resource's current state instead of working again. 5xx answers are never
//! recorded.

use super::auth::Caller;
use super::error::ApiError;
use crate::domain::UserId;
use crate::idempotency::{fingerprint, Fingerprint, Mark, Record, Records};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

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
    /// How many answers one user may have recorded (`--max-idempotency-keys`).
    max_per_user: u32,
}

impl Locks {
    /// `wait`: how long a retry waits for an attempt in progress (a few call timeouts);
    /// `max_per_user`: the answers one user may have recorded.
    pub fn new(wait: Duration, max_per_user: u32) -> Self {
        Self {
            running: Default::default(),
            wait,
            max_per_user,
        }
    }

    /// How many other attempts of `user`'s keys are running beside `slot`'s.
    fn others_running(&self, slot: &Slot) -> usize {
        let running = match self.running.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mine = running.keys().filter(|(user, _)| *user == slot.0).count();
        mine.saturating_sub(1)
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

/// A successful answer to record: status and encoded JSON body (empty for none).
pub struct Outcome {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Outcome {
    /// Encodes `body` straight from its type: going through `serde_json::Value` (a
    /// `BTreeMap` per object) was a visible share of add-to-cart's CPU profile.
    pub fn new(status: StatusCode, body: impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(&body).map_err(|e| {
            tracing::error!(error = %e, "response not serialisable");
            ApiError::internal()
        })?;
        let body = if body == b"null" { Vec::new() } else { body };
        Ok(Self { status, body })
    }
}

fn respond(status: StatusCode, body: Vec<u8>) -> warp::reply::Response {
    if body.is_empty() {
        return status.into_response();
    }
    let mut r = warp::reply::with_status(body, status).into_response();
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
    records: Records,
}

/// Extracts the key (a bad one is a 400) and the request's method and path.
pub fn idem(
    locks: Locks,
    records: Records,
) -> impl Filter<Extract = (Idem,), Error = Rejection> + Clone {
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
                let (locks, records) = (locks.clone(), records.clone());
                async move {
                    let key = key.map(IdempotencyKey::parse).transpose()?;
                    Ok::<_, Rejection>(Idem {
                        key,
                        target: format!("{method} {}", path.as_str()),
                        locks,
                        records,
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
            let o = work(None).await?;
            return Ok(respond(o.status, o.body));
        };
        let keyed = Keyed {
            records: self.records,
            user: caller.user_id,
            key: key.0,
            fingerprint: fingerprint(&self.target, body),
        };
        let attempt = match keyed.turn(&self.locks).await? {
            Turn::Replay(reply) => return Ok(reply),
            Turn::Mine(attempt) => attempt,
        };
        // The work may be done already, its answer lost: then answer from what it did.
        let outcome: BoxFuture<Result<Outcome, ApiError>> =
            match keyed.records.applied(keyed.user, &keyed.key)? {
                Some(a) if a.fingerprint != keyed.fingerprint => {
                    return Err(ApiError::idempotency_key_reused().into())
                }
                Some(a) => Box::pin(replay(a.resource)),
                None => {
                    keyed.ensure_room(&self.locks)?;
                    Box::pin(work(Some(keyed.mark())))
                }
            };
        let task = tokio::spawn(async move {
            let answer = keyed.record(outcome.await).await;
            drop(attempt);
            answer
        });
        match task.await {
            Ok(Ok((status, body))) => Ok(respond(status, body)),
            Ok(Err(e)) => Err(warp::reject::custom(e)),
            Err(e) => {
                tracing::error!(error = %e, "keyed request task failed");
                Err(warp::reject::custom(ApiError::internal()))
            }
        }
    }
}

/// One keyed request: whose key, and which request it stands for.
struct Keyed {
    records: Records,
    user: UserId,
    key: String,
    fingerprint: Fingerprint,
}

/// How waiting for a key's turn ends: a recorded answer to replay, or this request's attempt.
enum Turn {
    Replay(warp::reply::Response),
    Mine(Attempt),
}

impl Keyed {
    /// Waits (bounded) until no other attempt of the key runs, unless a recorded answer
    /// settles the request first; then this request's attempt is registered.
    async fn turn(&self, locks: &Locks) -> Result<Turn, Rejection> {
        let slot = (self.user, self.key.clone());
        let give_up = tokio::time::Instant::now() + locks.wait;
        let attempt = loop {
            if let Some(reply) = self.recorded()? {
                return Ok(Turn::Replay(reply));
            }
            match locks.claim(&slot) {
                Ok(attempt) => break attempt,
                Err(mut running) => {
                    // Someone is doing this key's work right now: wait, then read its record.
                    let finished = tokio::time::timeout_at(give_up, running.wait_for(|d| *d));
                    if finished.await.is_err() {
                        return Err(ApiError::idempotency_in_progress().into());
                    }
                }
            }
        };
        // The attempt before ours may have finished between the read and the claim; it
        // records before it unregisters, so a second read settles it.
        match self.recorded()? {
            Some(reply) => Ok(Turn::Replay(reply)),
            None => Ok(Turn::Mine(attempt)),
        }
    }

    /// The recorded answer as a reply, if there is one; 422 if it was another request's.
    fn recorded(&self) -> Result<Option<warp::reply::Response>, Rejection> {
        match self.records.recorded(self.user, &self.key)? {
            None => Ok(None),
            Some(first) if first.fingerprint != self.fingerprint => {
                Err(ApiError::idempotency_key_reused().into())
            }
            Some(first) => Ok(Some(replay_record(&first))),
        }
    }

    /// Refuses a new key of a user who has as many answers recorded as allowed. Attempts
    /// running beside this one count too, read before the records (an attempt records before
    /// it unregisters), so two new keys racing for the last place cannot both take it.
    fn ensure_room(&self, locks: &Locks) -> Result<(), ApiError> {
        let max = locks.max_per_user;
        let running = locks.others_running(&(self.user, self.key.clone()));
        let recorded = self.records.recorded_count(self.user, max as usize)?;
        if running + recorded >= max as usize {
            return Err(ApiError::too_many_idempotency_keys(max));
        }
        Ok(())
    }

    /// This attempt's mark, to go into the unit of its work.
    fn mark(&self) -> Mark {
        self.records.mark(self.user, &self.key, self.fingerprint)
    }

    /// Records a 2xx or 4xx answer durably (a 5xx is passed on unrecorded) and returns it.
    /// The recorded answer supersedes the key's mark.
    async fn record(
        &self,
        outcome: Result<Outcome, ApiError>,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let (status, body) = match outcome {
            Ok(o) => (o.status, o.body),
            Err(e) if e.status.is_server_error() => return Err(e),
            // Another attempt of this key got its work in first: its mark answers the next
            // retry, so this answer must not be recorded in place of it.
            Err(e) if e.asks_to_retry_the_key() => return Err(e),
            Err(e) => (e.status, body_bytes(&e.body())),
        };
        let record = self
            .records
            .save(
                self.user,
                &self.key,
                self.fingerprint,
                status.as_u16(),
                body,
            )
            .await?;
        Ok((status, record.body))
    }
}

/// A recorded answer, replayed as it was first sent.
fn replay_record(first: &Record) -> warp::reply::Response {
    let status = StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK);
    respond(status, first.body.clone())
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

//! The one place errors become an HTTP status and the contract's JSON error body:
//! `{"error": {"code": "...", "message": "...", ...extra}}`. Every error status the gateway
//! sends is chosen here: handlers and filters build errors through the named constructors
//! below (success statuses stay with the handlers that answer them).

use crate::actors::Error;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

/// The code of a 409 that asks the client to retry the same `Idempotency-Key` later.
const KEY_IN_PROGRESS: &str = "idempotency_request_in_progress";

/// A failed readiness probe: 503 with the probe's own body (not the error shape), so a load
/// balancer stops routing here while an operator can still read what is down.
pub fn not_ready(body: &Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), StatusCode::SERVICE_UNAVAILABLE)
        .into_response()
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, snake_case; clients branch on it.
    pub code: &'static str,
    /// For humans; never internal details.
    pub message: String,
    /// Extra fields beside `code` and `message` (e.g. `available`).
    pub extra: Map<String, Value>,
    /// Seconds for the `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl Reject for ApiError {}

impl ApiError {
    /// Private: every status is chosen in this file, through the named constructors.
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// A 429 with `Retry-After`: too many `what` in the limiter's window.
    fn too_many(code: &'static str, what: &str, retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            format!("too many {what}; retry in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self::too_many("rate_limited", "failed logins", retry_after)
    }

    /// One client address registered as many users as it may this minute.
    pub fn too_many_registrations(retry_after: u64) -> Self {
        let what = "registrations from this address";
        Self::too_many("too_many_registrations", what, retry_after)
    }

    /// The user has as many `Idempotency-Key` answers stored as the quota allows.
    pub fn too_many_idempotency_keys(limit: u32) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "too_many_idempotency_keys",
            format!("you have {limit} Idempotency-Key answers stored, the most allowed; each is kept 24 h: send this request without a key or retry later"),
        )
        .with("limit", json!(limit))
    }

    /// Every stream slot is taken (`--max-streams`), or the server is shutting down.
    pub fn too_many_streams(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!("too many event streams are open; retry in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// A declared body length over the limit (the body is refused unread).
    pub fn payload_too_large(max: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {max} bytes"),
        )
    }

    /// A chunked body without a declared length, which the size limit cannot check up front.
    pub fn length_required() -> Self {
        Self::new(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send the body with a content-length header",
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
    }

    /// An `Idempotency-Key` already used by this user for a different request.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )
    }

    /// The first attempt of an `Idempotency-Key` is still running: retry the same key later.
    pub fn idempotency_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            KEY_IN_PROGRESS,
            "a request with this Idempotency-Key is still being processed; retry later",
        )
    }

    /// Whether this error asks the client to retry the same `Idempotency-Key` later, so it
    /// must not be recorded as that key's answer.
    pub fn asks_to_retry_the_key(&self) -> bool {
        self.code == KEY_IN_PROGRESS
    }

    /// The contract's error body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        body.extend(self.extra.clone());
        json!({ "error": body })
    }

    pub fn into_response(self) -> warp::reply::Response {
        let mut r =
            warp::reply::with_status(warp::reply::json(&self.body()), self.status).into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(
                warp::http::header::RETRY_AFTER,
                warp::http::HeaderValue::from(secs),
            );
        }
        r
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::Invalid(v) => ApiError::invalid(v.to_string()).with("field", json!(v.field)),
            Error::Unauthorized => ApiError::new(S::UNAUTHORIZED, "unauthorized", e.to_string()),
            Error::InvalidCredentials => {
                ApiError::new(S::UNAUTHORIZED, "invalid_credentials", e.to_string())
            }
            Error::Forbidden => ApiError::new(S::FORBIDDEN, "forbidden", e.to_string()),
            Error::NotFound(_) => ApiError::new(S::NOT_FOUND, "not_found", e.to_string()),
            Error::UsernameTaken
            | Error::ProductNameTaken
            | Error::InsufficientStock { .. }
            | Error::CartClosed(_)
            | Error::CartEmpty
            | Error::TooManyOpenCarts { .. }
            | Error::KeyInUse
            | Error::CheckoutInProgress(_)
            | Error::EventsStillNeeded { .. }
            | Error::BackupRefused(_) => conflict(e),
            Error::EventsTrimmed { oldest } => ApiError::new(
                S::GONE,
                "events_trimmed",
                format!(
                    "the events after that position were trimmed from the log; the oldest left is {oldest}: resume from there (after={}) or resynchronise",
                    oldest.saturating_sub(1)
                ),
            )
            .with("oldest_seq", json!(oldest)),
            Error::PositionAheadOfLog { head } => ApiError::new(
                S::CONFLICT,
                "position_ahead_of_log",
                format!(
                    "the log ends at {head}, before that position (made up, or from before a restore): reload, then resume after={head} or from the live end"
                ),
            )
            .with("head_seq", json!(head)),
            Error::Overloaded(_)
            | Error::Unavailable(_)
            | Error::DiskFull(_)
            | Error::StorageFailed(_)
            | Error::Invariant(_)
            | Error::Storage(_) => server_side(e),
        }
    }
}

/// The 409s: the request is valid but the resource's state refuses it.
fn conflict(e: Error) -> ApiError {
    let conflict = |code, message: String| ApiError::new(StatusCode::CONFLICT, code, message);
    match e {
        Error::UsernameTaken => conflict("username_taken", e.to_string()),
        Error::ProductNameTaken => conflict("product_name_taken", e.to_string()),
        Error::InsufficientStock {
            product_id,
            available,
        } => conflict(
            "insufficient_stock",
            format!("only {available} of product {product_id} left"),
        )
        .with("product_id", json!(product_id))
        .with("available", json!(available)),
        Error::CartClosed(status) => conflict(
            "cart_closed",
            format!("the cart is {} and can no longer change", json!(status)),
        ),
        Error::CartEmpty => conflict("cart_empty", e.to_string()),
        Error::TooManyOpenCarts { limit } => {
            conflict("too_many_open_carts", e.to_string()).with("limit", json!(limit))
        }
        Error::KeyInUse => conflict(
            KEY_IN_PROGRESS,
            "another request with this Idempotency-Key is doing or did the work; retry to get its answer".into(),
        ),
        Error::CheckoutInProgress(order) => conflict(
            "checkout_in_progress",
            format!("a checkout into order {order} is in progress; retry the checkout to finish it"),
        )
        .with("order_id", json!(order)),
        Error::EventsStillNeeded { max_before } => conflict(
            "events_still_needed",
            format!("a subscriber has not handled those events yet; the most you may trim is before {max_before}"),
        )
        .with("max_before", json!(max_before)),
        Error::BackupRefused(why) => conflict("backup_refused", why),
        other => server_side(other),
    }
}

/// The 5xx: the server could not do its part. Logged here, since the client learns little.
fn server_side(e: Error) -> ApiError {
    use StatusCode as S;
    match e {
        Error::Overloaded(what) => {
            tracing::warn!(%what, "overloaded; answering 503");
            let mut e = ApiError::new(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is busy; retry in a moment",
            );
            e.retry_after = Some(1);
            e
        }
        Error::Unavailable(what) => {
            tracing::warn!(%what, "answering 503");
            ApiError::new(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service could not answer in time; retry",
            )
        }
        Error::DiskFull(reason) => {
            tracing::error!(%reason, "disk full");
            ApiError::new(
                S::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the server's disk is full; the request was not acknowledged, retry later",
            )
        }
        Error::StorageFailed(reason) => {
            tracing::error!(%reason, "disk I/O failure");
            ApiError::new(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "the data store is unavailable; retry",
            )
        }
        Error::Invariant(what) => {
            tracing::error!(%what, "broken invariant");
            ApiError::internal()
        }
        other => {
            tracing::error!(error = %other, "internal error");
            ApiError::internal()
        }
    }
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Self {
        warp::reject::custom(ApiError::from(e))
    }
}

/// A stored answer that could not be read or recorded fails like any other store failure.
impl From<crate::idempotency::Error> for ApiError {
    fn from(e: crate::idempotency::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<crate::idempotency::Error> for Rejection {
    fn from(e: crate::idempotency::Error) -> Self {
        Error::from(e).into()
    }
}

/// Turns every rejection into the contract's error body.
pub async fn recover(r: Rejection) -> Result<warp::reply::Response, Infallible> {
    use StatusCode as S;
    let e = if let Some(api) = r.find::<ApiError>() {
        ApiError {
            status: api.status,
            code: api.code,
            message: api.message.clone(),
            extra: api.extra.clone(),
            retry_after: api.retry_after,
        }
    } else if r.is_not_found() {
        ApiError::new(S::NOT_FOUND, "not_found", "no such resource")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            S::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this resource",
        )
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::payload_too_large(super::body::MAX_BODY)
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::length_required()
    } else if r.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::invalid("invalid query string")
    } else if let Some(h) = r.find::<warp::reject::InvalidHeader>() {
        ApiError::invalid(format!("invalid header: {}", h.name()))
    } else if let Some(h) = r.find::<warp::reject::MissingHeader>() {
        ApiError::invalid(format!("missing header: {}", h.name()))
    } else {
        tracing::error!(rejection = ?r, "unhandled rejection");
        ApiError::internal()
    };
    Ok(e.into_response())
}

//! The one place errors become an HTTP status and the contract's JSON error body:
//! `{"error": {"code": "...", "message": "...", ...extra}}`.

use crate::actors::Error;
use crate::storage::StorageError;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

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
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed logins; retry in {retry_after} s"),
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
            Error::UsernameTaken => ApiError::new(S::CONFLICT, "username_taken", e.to_string()),
            Error::ProductNameTaken => {
                ApiError::new(S::CONFLICT, "product_name_taken", e.to_string())
            }
            Error::InsufficientStock {
                product_id,
                available,
            } => ApiError::new(
                S::CONFLICT,
                "insufficient_stock",
                format!("only {available} of product {product_id} left"),
            )
            .with("product_id", json!(product_id))
            .with("available", json!(available)),
            Error::CartClosed(status) => ApiError::new(
                S::CONFLICT,
                "cart_closed",
                format!("the cart is {} and can no longer change", json!(status)),
            ),
            Error::CartEmpty => ApiError::new(S::CONFLICT, "cart_empty", e.to_string()),
            Error::KeyInUse => ApiError::new(
                S::CONFLICT,
                "idempotency_request_in_progress",
                "another request with this Idempotency-Key is doing or did the work; retry to get its answer",
            ),
            Error::CheckoutInProgress(order) => ApiError::new(
                S::CONFLICT,
                "checkout_in_progress",
                format!(
                    "a checkout into order {order} is in progress; retry the checkout to finish it"
                ),
            )
            .with("order_id", json!(order)),
            Error::EventsTrimmed { oldest } => ApiError::new(
                S::GONE,
                "events_trimmed",
                format!(
                    "the events after that position were trimmed from the log; the oldest left is {oldest}: resume from there (after={}) or resynchronise",
                    oldest - 1
                ),
            )
            .with("oldest_seq", json!(oldest)),
            Error::EventsStillNeeded { max_before } => ApiError::new(
                S::CONFLICT,
                "events_still_needed",
                format!("a subscriber has not handled those events yet; the most you may trim is before {max_before}"),
            )
            .with("max_before", json!(max_before)),
            Error::BackupRefused(why) => ApiError::new(S::CONFLICT, "backup_refused", why),
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
            Error::Storage(StorageError::DiskFull(reason)) => {
                tracing::error!(%reason, "disk full");
                ApiError::new(
                    S::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
                    "the server's disk is full; the request was not acknowledged, retry later",
                )
            }
            Error::Storage(StorageError::Io(reason)) => {
                tracing::error!(%reason, "storage failure");
                ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage is unavailable; retry",
                )
            }
            Error::Storage(other) => {
                tracing::error!(error = %other, "storage error");
                ApiError::internal()
            }
        }
    }
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Self {
        warp::reject::custom(ApiError::from(e))
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

//! Request bodies: size limit, content type and JSON parsing, each failure a contract error.

use super::error::ApiError;
use serde::de::DeserializeOwned;
use warp::http::HeaderMap;
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection};

/// Largest accepted request body.
pub const MAX_BODY: u64 = 64 * 1024;

/// Checks the declared length before anything is read, so a huge body is refused unread
/// (warp's `content_length_limit`: 413 over the limit, 411 for a chunked body, which declares
/// none; `error::recover` gives both the contract's shape). A request with neither header
/// has no body, and passes.
fn limited() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let bodiless = warp::header::headers_cloned()
        .and_then(|headers: HeaderMap| async move {
            let declared = ["content-length", "transfer-encoding"];
            if declared.iter().any(|h| headers.contains_key(*h)) {
                Err(warp::reject())
            } else {
                Ok(())
            }
        })
        .untuple_one();
    bodiless
        .or(warp::body::content_length_limit(MAX_BODY))
        .unify()
}

fn parse<T: DeserializeOwned>(content_type: Option<String>, bytes: &[u8]) -> Result<T, Rejection> {
    let is_json = content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(warp::reject::custom(ApiError::unsupported_media_type()));
    }
    // serde also reads a struct from an array (`[3, 2]` as `{product_id, quantity}`), and
    // every body of this API is an object: anything else is refused before it is read.
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return Err(warp::reject::custom(ApiError::invalid(
            "the body must be a JSON object",
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| warp::reject::custom(ApiError::invalid(format!("invalid JSON body: {e}"))))
}

/// A required JSON body.
pub fn json<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T,), Error = Rejection> + Clone
{
    json_raw().map(|(value, _raw): (T, Bytes)| value)
}

/// A required JSON body, with its raw bytes (for request fingerprints).
pub fn json_raw<T: DeserializeOwned + Send>(
) -> impl Filter<Extract = ((T, Bytes),), Error = Rejection> + Clone {
    json_or(|| {
        Err(warp::reject::custom(ApiError::invalid(
            "a JSON body is required",
        )))
    })
}

/// A JSON body that may be left out entirely (meaning `T::default()`), with its raw bytes.
pub fn optional_json_raw<T: DeserializeOwned + Default + Send>(
) -> impl Filter<Extract = ((T, Bytes),), Error = Rejection> + Clone {
    json_or(|| Ok(T::default()))
}

/// A JSON body and its raw bytes; `if_empty` decides what an empty body means.
fn json_or<T: DeserializeOwned + Send>(
    if_empty: fn() -> Result<T, Rejection>,
) -> impl Filter<Extract = ((T, Bytes),), Error = Rejection> + Clone {
    limited()
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::bytes())
        .and_then(move |ct: Option<String>, bytes: Bytes| async move {
            let value = if bytes.is_empty() {
                if_empty()?
            } else {
                parse(ct, &bytes)?
            };
            Ok::<_, Rejection>((value, bytes))
        })
}

//! The warp gateway: filters per resource, handlers that only translate between HTTP and the
//! layer below, and [`error`], the one place errors become responses.
//!
//! The layer below is [`Actors`]: the entity actors' handles (messages to one user, product or
//! cart) and the service API of `actors::service` (creating entities, sessions, orders, the
//! sales projection, the event log, health), plus [`crate::idempotency`] for recorded answers.
//! Nothing here reads or writes the database itself.

pub mod admin;
pub mod auth;
pub mod body;
pub mod carts;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ops;
pub mod orders;
pub mod product_stream;
pub mod products;
pub mod query;
pub mod ratelimit;
pub mod stats;
pub mod streams;
pub mod users;
pub mod web;

use crate::actors::Actors;
use serde::Serialize;
use std::convert::Infallible;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Reply};

/// Every route, with errors recovered into the contract's shape and a tracing span per request.
pub fn routes(
    actors: Actors,
    streams: streams::Streams,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    // A retry waits for the attempt in progress about as long as that attempt can take.
    let locks = idempotency::Locks::new(actors.settings.call_timeout * 3);
    // Each resource's filter is boxed: one dynamic call per route group keeps the composed
    // type small enough for the compiler (and compile times short).
    let api = users::routes(actors.clone(), ratelimit::LoginLimiter::default())
        .boxed()
        .or(products::routes(actors.clone(), locks.clone()).boxed())
        .unify()
        .or(product_stream::routes(streams.clone()).boxed())
        .unify()
        .or(carts::routes(actors.clone(), locks).boxed())
        .unify()
        .or(orders::routes(actors.clone()).boxed())
        .unify()
        .or(events::routes(actors.clone(), streams).boxed())
        .unify()
        .or(stats::routes(actors.clone()).boxed())
        .unify()
        .or(admin::routes(actors.clone()).boxed())
        .unify()
        .or(ops::routes(actors).boxed())
        .unify()
        .or(web::routes().boxed())
        .unify()
        .recover(error::recover)
        .unify();
    request_id()
        .and(warp::path::full())
        .and(api)
        .map(
            |id: HeaderValue, path: warp::path::FullPath, mut reply: warp::reply::Response| {
                reply.headers_mut().insert(REQUEST_ID, id);
                if reply.status() == StatusCode::METHOD_NOT_ALLOWED {
                    if let Some(allow) = allowed_methods(path.as_str()) {
                        reply.headers_mut().insert(warp::http::header::ALLOW, allow);
                    }
                }
                reply
            },
        )
        .with(warp::log::custom(record_metrics))
        .with(warp::trace(|info| {
            tracing::info_span!(
                "request",
                method = %info.method(),
                path = %info.path(),
                request_id = tracing::field::Empty,
            )
        }))
}

const REQUEST_ID: &str = "x-request-id";

/// The request's id: the client's `X-Request-Id` if it is 1–128 visible ASCII characters,
/// else a fresh random one. It is recorded on the request's span, which ractor carries into
/// every actor message the request causes, so gateway and actor log lines share it.
fn request_id() -> impl Filter<Extract = (HeaderValue,), Error = Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: warp::http::HeaderMap| {
        let given = headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned);
        let id = given.unwrap_or_else(new_request_id);
        tracing::Span::current().record("request_id", id.as_str());
        HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"))
    })
}

/// Every route template the server serves: metrics are labelled by it, and the OpenAPI
/// consistency test checks the document against it.
pub const ROUTES: &[&str] = &[
    "/register",
    "/login",
    "/logout",
    "/me",
    "/products",
    "/products/{id}",
    "/products/stream",
    "/products/{id}/stats",
    "/carts",
    "/carts/{id}",
    "/carts/{id}/products",
    "/carts/{id}/products/{id}",
    "/carts/{id}/checkout",
    "/orders",
    "/orders/{id}",
    "/events",
    "/events/stream",
    "/stats/top",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/admin/events/trim",
    "/admin/backup",
    "/",
    "/console",
    "/web/{id}",
];

/// A fresh id: a random per-process prefix and a counter, so ids are unique without asking
/// the OS for randomness on every request.
fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        OsRng.next_u32() & 0x00ff_ffff
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xff_ffff_ffff;
    format!("{prefix:06x}{n:010x}")
}

/// The methods a path supports (for the `Allow` header of a 405), read from the OpenAPI
/// document, which the test suite keeps in step with the routes.
fn allowed_methods(path: &str) -> Option<HeaderValue> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static ALLOWED: OnceLock<HashMap<String, HeaderValue>> = OnceLock::new();
    let table = ALLOWED.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(ops::OPENAPI).unwrap_or_default();
        let mut table = HashMap::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, ops) in paths {
                let Some(ops) = ops.as_object() else { continue };
                let methods: Vec<String> = ops.keys().map(|m| m.to_ascii_uppercase()).collect();
                if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
                    table.insert(template(path, |s| s.starts_with('{')), v);
                }
            }
        }
        table
    });
    table.get(&template(path, is_id)).cloned()
}

fn is_id(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// The path with every segment that `is_param` picks replaced by `{id}`.
fn template(path: &str, is_param: impl Fn(&str) -> bool) -> String {
    path.split('/')
        .map(|seg| if is_param(seg) { "{id}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The route template a path belongs to; anything unknown is `other`, so garbage paths
/// cannot blow up the number of series.
pub fn route_of(path: &str) -> &'static str {
    let templated = template(path, is_id);
    ROUTES
        .iter()
        .find(|r| **r == templated)
        .copied()
        .unwrap_or("other")
}

/// The method as a metrics label: the standard ones by name, anything else `other`, since
/// a client may send any token as a method and each new label value is a series kept forever.
pub fn method_label(method: &warp::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

fn record_metrics(info: warp::log::Info<'_>) {
    use crate::telemetry::names;
    let route = route_of(info.path());
    let method = method_label(info.method());
    metrics::counter!(
        names::HTTP_REQUESTS,
        "route" => route,
        "method" => method,
        "status" => info.status().as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!(names::HTTP_DURATION, "route" => route, "method" => method)
        .record(info.elapsed().as_secs_f64());
}

pub(crate) fn with_actors(
    actors: Actors,
) -> impl Filter<Extract = (Actors,), Error = Infallible> + Clone {
    warp::any().map(move || actors.clone())
}

pub(crate) fn ok<T: Serialize>(body: &T) -> warp::reply::Response {
    warp::reply::json(body).into_response()
}

pub(crate) fn created<T: Serialize>(body: &T) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), StatusCode::CREATED).into_response()
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn paths_map_to_route_templates() {
        assert_eq!(
            route_of("/carts/42/products/7"),
            "/carts/{id}/products/{id}"
        );
        assert_eq!(route_of("/products"), "/products");
        assert_eq!(route_of("/carts/abc"), "other");
        assert_eq!(route_of("/nope/1"), "other");
    }

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        use warp::http::Method;
        assert_eq!(super::method_label(&Method::DELETE), "DELETE");
        for made_up in ["X1", "get", "PROPFIND"] {
            let m = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(super::method_label(&m), "other");
        }
    }

    #[test]
    fn generated_request_ids_are_16_hex_characters_and_distinct() {
        let (a, b) = (super::new_request_id(), super::new_request_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_405_names_the_methods_the_path_supports() {
        let allow = |p| super::allowed_methods(p).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/carts/5").as_deref(), Some("DELETE, GET"));
        assert_eq!(allow("/register").as_deref(), Some("POST"));
        assert_eq!(allow("/nope"), None);
    }

    /// The gateway reaches the system only through `Actors`: no file here names the layer
    /// below the actors, its database handle's type, or the `Actors` field holding it. (The
    /// needles are built from pieces so that this test does not find itself.)
    #[test]
    fn the_gateway_never_reaches_past_the_actors_into_the_store() {
        let layer = ["crate::", "stor", "age"].concat();
        let (ty, field) = (["St", "ore"].concat(), ["st", "ore"].concat());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let src = std::fs::read_to_string(&path).unwrap();
            let mut hit = src.contains(&layer);
            // Paths like `a.b.c`: the type anywhere, the field after a dot.
            for token in src.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')) {
                let mut parts = token.split('.');
                hit |= parts.next() == Some(ty.as_str()) || parts.any(|p| p == ty || p == field);
            }
            assert!(
                !hit,
                "{} reaches past the actors into the store",
                path.display()
            );
        }
    }
}

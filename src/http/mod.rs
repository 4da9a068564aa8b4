//! The warp gateway: filters per resource, handlers that only translate between HTTP and the
//! layer below, and [`error`], the one place errors become responses.
//!
//! The layer below is [`Actors`]: the entity actors' handles (messages to one user, product or
//! cart) and the service API of `actors::service` (creating entities, sessions, orders, the
//! sales projection, the event log, health), plus [`crate::idempotency`] for recorded answers.
//! Nothing here reads or writes the database itself, and nothing can: `Actors` does not hand
//! out the store, so reaching past it does not compile (see [`Actors`]).

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
    let locks = idempotency::Locks::new(
        actors.settings.call_timeout * 3,
        actors.settings.quotas.idempotency_keys_per_user,
    );
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

/// A route the server serves: its template and the methods it answers.
pub struct Route {
    /// The path, `{id}` standing for a numeric id and `{file}` for any one segment. Metrics
    /// are labelled by it, and the OpenAPI test checks the document against it.
    pub template: &'static str,
    /// As the `Allow` header of a 405 lists them; every GET route also answers HEAD.
    pub methods: &'static str,
}

const fn route(template: &'static str, methods: &'static str) -> Route {
    Route { template, methods }
}

const GET: &str = "GET, HEAD";

/// Every route the server serves. Tests keep it in step with the filters (each method listed
/// is served, every other one is a 405) and with `docs/openapi.json`.
pub const ROUTES: &[Route] = &[
    route("/register", "POST"),
    route("/login", "POST"),
    route("/logout", "POST"),
    route("/me", GET),
    route("/products", "GET, HEAD, POST"),
    route("/products/stream", GET),
    route("/products/{id}", "GET, HEAD, PUT"),
    route("/products/{id}/stats", GET),
    route("/carts", "POST"),
    route("/carts/{id}", "GET, HEAD, DELETE"),
    route("/carts/{id}/products", "POST"),
    route("/carts/{id}/products/{id}", "PUT, DELETE"),
    route("/carts/{id}/checkout", "POST"),
    route("/orders", GET),
    route("/orders/{id}", GET),
    route("/events", GET),
    route("/events/stream", GET),
    route("/stats/top", GET),
    route("/healthz", GET),
    route("/readyz", GET),
    route("/metrics", GET),
    route("/openapi.json", GET),
    route("/admin/events/trim", "POST"),
    route("/admin/backup", "POST"),
    route("/", GET),
    route("/console", GET),
    route("/favicon.ico", GET),
    route("/web/{file}", GET),
];

/// The method filter of every GET route: GET, and HEAD (RFC 9110), which runs the same
/// handler; hyper sends the answer's status and headers without its body.
pub(crate) fn get() -> impl Filter<Extract = (), Error = warp::Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

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

/// The route a path belongs to, if any.
fn route_for(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| {
        let (mut want, mut got) = (r.template.split('/'), path.split('/'));
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some("{id}"), Some(seg)) if is_id(seg) => {}
                (Some("{file}"), Some(seg)) if !seg.is_empty() => {}
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    })
}

fn is_id(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// The methods a path supports, for the `Allow` header of a 405.
fn allowed_methods(path: &str) -> Option<HeaderValue> {
    route_for(path).map(|r| HeaderValue::from_static(r.methods))
}

/// The route template a path belongs to; anything unknown is `other`, so garbage paths
/// cannot blow up the number of series.
pub fn route_of(path: &str) -> &'static str {
    route_for(path).map_or("other", |r| r.template)
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
        assert_eq!(route_of("/web/style.css"), "/web/{file}");
        assert_eq!(route_of("/web/"), "other");
        assert_eq!(route_of("/web/a/b"), "other");
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
        assert_eq!(allow("/carts/5").as_deref(), Some("GET, HEAD, DELETE"));
        assert_eq!(allow("/register").as_deref(), Some("POST"));
        assert_eq!(allow("/web/api.js").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/nope"), None);
    }
}

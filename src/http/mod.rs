//! The warp gateway: filters per resource, handlers that only translate between HTTP and actor
//! messages, and [`error`], the one place errors become responses.

pub mod auth;
pub mod body;
pub mod carts;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ops;
pub mod orders;
pub mod products;
pub mod ratelimit;
pub mod stats;
pub mod users;

use crate::actors::Actors;
use serde::Serialize;
use std::convert::Infallible;
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// Every route, with errors recovered into the contract's shape and a tracing span per request.
pub fn routes(actors: Actors) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let locks = idempotency::Locks::default();
    // Each resource's filter is boxed: one dynamic call per route group keeps the composed
    // type small enough for the compiler (and compile times short).
    users::routes(actors.clone(), ratelimit::LoginLimiter::default())
        .boxed()
        .or(products::routes(actors.clone(), locks.clone()).boxed())
        .unify()
        .or(carts::routes(actors.clone(), locks).boxed())
        .unify()
        .or(orders::routes(actors.clone()).boxed())
        .unify()
        .or(events::routes(actors.clone()).boxed())
        .unify()
        .or(stats::routes(actors.clone()).boxed())
        .unify()
        .or(ops::routes(actors).boxed())
        .unify()
        .recover(error::recover)
        .unify()
        .with(warp::log::custom(record_metrics))
        .with(warp::trace::request())
}

/// Route templates, so metrics are labelled per route and not per id.
const ROUTES: &[&str] = &[
    "/register",
    "/login",
    "/logout",
    "/me",
    "/products",
    "/products/{id}",
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
];

/// The route template a path belongs to; anything unknown is `other`, so garbage paths
/// cannot blow up the number of series.
pub fn route_of(path: &str) -> &'static str {
    let templated: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    let templated = templated.join("/");
    ROUTES
        .iter()
        .find(|r| **r == templated)
        .copied()
        .unwrap_or("other")
}

fn record_metrics(info: warp::log::Info<'_>) {
    use crate::telemetry::names;
    let route = route_of(info.path());
    let method = info.method().as_str().to_owned();
    metrics::counter!(
        names::HTTP_REQUESTS,
        "route" => route,
        "method" => method.clone(),
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
}

//! `GET /healthz` (the process answers), `GET /readyz` (store and actors can serve),
//! `GET /metrics` (Prometheus text format) and `GET /openapi.json` (the API description kept
//! in `docs/openapi.json`, checked against the server by `tests/api/openapi.rs`).

use super::{ok, with_actors};
use crate::actors::Actors;
use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| ok(&json!({ "status": "ok" })));
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_actors(actors.clone()))
        .and_then(readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_actors(actors))
        .and_then(metrics);
    let openapi = warp::path!("openapi.json").and(warp::get()).map(|| {
        let mut r = warp::reply::Response::new(OPENAPI.into());
        r.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
        r
    });
    healthz
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .or(openapi)
        .unify()
}

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

async fn metrics(actors: Actors) -> Result<warp::reply::Response, Rejection> {
    use crate::telemetry::names;
    // Gauges that are cheapest to read at scrape time.
    let head = *actors.store.head().borrow();
    metrics::gauge!(names::LOG_HEAD).set(head as f64);
    if let Ok(offset) = crate::actors::bus::offset_of(&actors.store, "stats") {
        metrics::gauge!(names::SUBSCRIBER_LAG, "subscriber" => "stats")
            .set(head.saturating_sub(offset) as f64);
    }
    if let Ok(counts) = actors.live_counts().await {
        for (kind, n) in counts {
            metrics::gauge!(names::LIVE_ACTORS, "kind" => kind).set(n as f64);
        }
    }
    let body = crate::telemetry::metrics().render();
    let mut r = warp::reply::with_status(body, StatusCode::OK).into_response();
    r.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(r)
}

async fn readyz(actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let store = actors.store.is_writable();
    let running = actors.is_running();
    let live = actors.live_counts().await.ok().map(|[users, products, carts]| {
        json!({ "users": users.1, "products": products.1, "carts": carts.1 })
    });
    let ready = store && running && live.is_some();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": store,
        "actors": running,
        "live_actors": live,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(warp::reply::with_status(warp::reply::json(&body), status).into_response())
}

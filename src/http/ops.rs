//! `GET /healthz` (the process answers), `GET /readyz` (store and actors can serve),
//! `GET /metrics` (Prometheus text format) and `GET /openapi.json` (the API description kept
//! in `docs/openapi.json`, checked against the server by `tests/api/openapi.rs`).

use super::error::not_ready;
use super::{ok, with_actors};
use crate::actors::service::STATS_SUBSCRIBER;
use crate::actors::Actors;
use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz")
        .and(super::get())
        .map(|| ok(&json!({ "status": "ok" })));
    let readyz = warp::path!("readyz")
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and_then(readyz);
    let metrics = warp::path!("metrics")
        .and(super::get())
        .and(with_actors(actors))
        .and_then(metrics);
    let openapi = warp::path!("openapi.json").and(super::get()).map(|| {
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
    metrics::gauge!(names::LOG_HEAD).set(actors.log_head() as f64);
    if let Ok(lag) = actors.stats_lag() {
        metrics::gauge!(names::SUBSCRIBER_LAG, "subscriber" => STATS_SUBSCRIBER).set(lag as f64);
    }
    if let Ok(live) = actors.live_counts().await {
        for (kind, n) in [
            ("user", live.users),
            ("product", live.products),
            ("cart", live.carts),
        ] {
            metrics::gauge!(names::LIVE_ACTORS, "kind" => kind).set(n as f64);
        }
    }
    for (job, state) in actors.job_states() {
        metrics::gauge!(names::JOB_RUNNING, "job" => job).set(f64::from(u8::from(state.running)));
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
    let writable = actors.is_writable();
    let running = actors.is_running();
    let live =
        actors.live_counts().await.ok().map(
            |live| json!({ "users": live.users, "products": live.products, "carts": live.carts }),
        );
    let ready = writable && running && live.is_some();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": writable,
        "actors": running,
        "live_actors": live,
        // Shown, not counted against readiness: a stopped job degrades the shop (holds not
        // released, say) but taking this server out of rotation would not help.
        "jobs": actors.job_states(),
    });
    if ready {
        Ok(ok(&body))
    } else {
        Ok(not_ready(&body))
    }
}

//! `GET /healthz` (the process answers) and `GET /readyz` (store and actors can serve).

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
        .and(with_actors(actors))
        .and_then(readyz);
    healthz.or(readyz).unify()
}

async fn readyz(actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let store = actors.store.is_writable();
    let running = actors.is_running();
    let live = match (
        actors.users.live_count().await,
        actors.inventory.live_count().await,
        actors.carts.live_count().await,
    ) {
        (Ok(users), Ok(products), Ok(carts)) => {
            Some(json!({ "users": users, "products": products, "carts": carts }))
        }
        _ => None,
    };
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

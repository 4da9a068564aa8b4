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
    users::routes(actors.clone(), ratelimit::LoginLimiter::default())
        .or(products::routes(actors.clone(), locks.clone()))
        .unify()
        .or(carts::routes(actors.clone(), locks))
        .unify()
        .or(orders::routes(actors.clone()))
        .unify()
        .or(events::routes(actors.clone()))
        .unify()
        .or(stats::routes(actors.clone()))
        .unify()
        .or(ops::routes(actors))
        .unify()
        .recover(error::recover)
        .unify()
        .with(warp::trace::request())
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

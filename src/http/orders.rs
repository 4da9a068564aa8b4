//! `GET /orders` (the caller's) and `GET /orders/{id}`.

use super::auth::{caller, Caller};
use super::{ok, with_actors};
use crate::actors::order::OrderView;
use crate::actors::Actors;
use crate::domain::OrderId;
use serde_json::json;
use warp::{Filter, Rejection};

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("orders")
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and_then(list);
    let get = warp::path!("orders" / u64)
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and_then(get);
    list.or(get).unify()
}

async fn list(actors: Actors, caller: Caller) -> Result<warp::reply::Response, Rejection> {
    let items: Vec<OrderView> = actors
        .orders_of(caller.user_id)?
        .into_iter()
        .map(OrderView::from)
        .collect();
    Ok(ok(&json!({ "items": items })))
}

async fn get(id: u64, actors: Actors, caller: Caller) -> Result<warp::reply::Response, Rejection> {
    let order = actors.order(OrderId(id), caller.user_id, caller.is_admin)?;
    Ok(ok(&OrderView::from(order)))
}

//! `GET /orders?limit=&after=` (the caller's, a page at a time) and `GET /orders/{id}`.

use super::auth::{caller, Caller};
use super::query::{self, Page, Paging};
use super::{ok, with_actors};
use crate::actors::order::OrderView;
use crate::actors::Actors;
use crate::domain::OrderId;
use serde_json::json;
use warp::{Filter, Rejection};

/// How `GET /orders` pages: as `GET /products` does.
const PAGING: Paging = Paging {
    default_limit: 50,
    max_limit: 500,
    takes_after: true,
};

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("orders")
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(query::page(PAGING))
        .and_then(list);
    let get = warp::path!("orders" / u64)
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and_then(get);
    list.or(get).unify()
}

async fn list(
    actors: Actors,
    caller: Caller,
    page: Page,
) -> Result<warp::reply::Response, Rejection> {
    let (orders, next) = actors.orders_of(caller.user_id, page.after.unwrap_or(0), page.limit)?;
    let items: Vec<OrderView> = orders.into_iter().map(OrderView::from).collect();
    Ok(ok(&json!({ "items": items, "next": next })))
}

async fn get(id: u64, actors: Actors, caller: Caller) -> Result<warp::reply::Response, Rejection> {
    let order = actors.order(OrderId(id), caller.user_id, caller.is_admin)?;
    Ok(ok(&OrderView::from(order)))
}

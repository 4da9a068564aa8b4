//! `GET /products/{id}/stats` and `GET /stats/top?limit=`: the sales projection.

use super::query::{self, Page, Paging};
use super::{ok, with_actors};
use crate::actors::service::Sales;
use crate::actors::Actors;
use crate::domain::ProductId;
use serde_json::json;
use warp::{Filter, Rejection};

/// How `GET /stats/top` pages: one page of the ranking, no continuation.
const PAGING: Paging = Paging {
    default_limit: 10,
    max_limit: 100,
    takes_after: false,
};

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let product = warp::path!("products" / u64 / "stats")
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and_then(product_stats);
    let top = warp::path!("stats" / "top")
        .and(super::get())
        .and(query::page(PAGING))
        .and(with_actors(actors))
        .and_then(top_sellers);
    product.or(top).unify()
}

fn stats_json(sales: &Sales) -> serde_json::Value {
    let s = &sales.stats;
    json!({
        "product_id": sales.product_id,
        "name": sales.name,
        "units_sold": s.units_sold,
        "orders": s.orders,
        "cart_adds": s.cart_adds,
        "units_added": s.units_added,
    })
}

async fn product_stats(id: u64, actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let (sales, as_of_seq) = actors.product_stats(ProductId(id)).await?;
    let mut body = stats_json(&sales);
    // How far the projection has read: it may lag the log by a moment.
    body["as_of_seq"] = json!(as_of_seq);
    Ok(ok(&body))
}

async fn top_sellers(page: Page, actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let items: Vec<_> = actors
        .top_sellers(page.limit)?
        .iter()
        .map(stats_json)
        .collect();
    Ok(ok(&json!({ "items": items })))
}

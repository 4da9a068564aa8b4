//! `GET /products/{id}/stats` and `GET /stats/top?limit=`: the sales projection.

use super::error::ApiError;
use super::{ok, with_actors};
use crate::actors::stats::{self, ProductStats};
use crate::actors::{bus, Actors, Error, InventoryMsg};
use crate::domain::{Product, ProductId};
use crate::storage::keys;
use serde_json::json;
use warp::{Filter, Rejection};

const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 100;

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let product = warp::path!("products" / u64 / "stats")
        .and(warp::get())
        .and(with_actors(actors.clone()))
        .and_then(product_stats);
    let top = warp::path!("stats" / "top")
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(with_actors(actors))
        .and_then(top_sellers);
    product.or(top).unify()
}

fn stats_json(id: ProductId, name: &str, s: &ProductStats) -> serde_json::Value {
    json!({
        "product_id": id,
        "name": name,
        "units_sold": s.units_sold,
        "orders": s.orders,
        "cart_adds": s.cart_adds,
        "units_added": s.units_added,
    })
}

async fn product_stats(id: u64, actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let product = actors
        .inventory
        .call(id, |reply| InventoryMsg::Get { reply })
        .await?;
    let s = stats::stats_of(&actors.store, ProductId(id)).map_err(Error::from)?;
    let mut body = stats_json(product.id, &product.name, &s);
    // How far the projection has read: it may lag the log by a moment.
    body["as_of_seq"] = json!(bus::offset_of(&actors.store, "stats").map_err(Error::from)?);
    Ok(ok(&body))
}

async fn top_sellers(
    query: std::collections::HashMap<String, String>,
    actors: Actors,
) -> Result<warp::reply::Response, Rejection> {
    if let Some(unknown) = query.keys().find(|k| k.as_str() != "limit") {
        return Err(ApiError::invalid(format!("unknown query parameter {unknown}")).into());
    }
    let limit = match query.get("limit") {
        None => DEFAULT_TOP,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_TOP).contains(l))
            .ok_or_else(|| ApiError::invalid(format!("limit must be from 1 to {MAX_TOP}")))?,
    };
    let mut items = Vec::new();
    for (id, s) in stats::top(&actors.store, limit).map_err(Error::from)? {
        let name = actors
            .store
            .get::<Product>(&keys::product(id))
            .map_err(Error::from)?
            .map(|p| p.name.as_str().to_owned())
            .unwrap_or_default();
        items.push(stats_json(id, &name, &s));
    }
    Ok(ok(&json!({ "items": items })))
}

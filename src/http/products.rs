//! `GET /products`, `GET /products/{id}`, `POST /products`, `PUT /products/{id}`.

use super::auth::{caller, Caller};
use super::error::ApiError;
use super::idempotency::{idem, Idem, Locks, Outcome};
use super::{body, ok, with_actors};
use crate::actors::{inventory, Actors, Error, InventoryMsg};
use crate::domain::{PriceCents, ProductName, Stock};
use serde::Deserialize;
use serde_json::json;
use warp::http::StatusCode;
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection};

/// Page size bounds of `GET /products`.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 500;

/// `?limit=&after=`, parsed by hand so each bad value gets its own clear 400.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    after: Option<String>,
}

impl ListQuery {
    fn parse(&self) -> Result<(u64, usize), ApiError> {
        let number = |name: &str, raw: &Option<String>| -> Result<Option<u64>, ApiError> {
            raw.as_deref()
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ApiError::invalid(format!("{name} must be a non-negative integer"))
                    })
                })
                .transpose()
        };
        let limit = number("limit", &self.limit)?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(format!(
                "limit must be from 1 to {MAX_LIMIT}"
            )));
        }
        let after = number("after", &self.after)?.unwrap_or(0);
        Ok((after, limit as usize))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    name: String,
    price_cents: i64,
    stock: i64,
}

impl ProductBody {
    fn validate(self) -> Result<(ProductName, PriceCents, Stock), Error> {
        Ok((
            ProductName::parse(&self.name)?,
            PriceCents::new(self.price_cents)?,
            Stock::new(self.stock)?,
        ))
    }
}

pub fn routes(
    actors: Actors,
    locks: Locks,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("products")
        .and(warp::get())
        .and(warp::query::<ListQuery>().or_else(|_| async {
            Err::<(ListQuery,), Rejection>(warp::reject::custom(ApiError::invalid(
                "unknown or malformed query parameter",
            )))
        }))
        .and(with_actors(actors.clone()))
        .and_then(list);
    let get = warp::path!("products" / u64)
        .and(warp::get())
        .and(with_actors(actors.clone()))
        .and_then(get);
    let create = warp::path!("products")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(idem(locks))
        .and(body::json_raw())
        .and_then(create);
    let update = warp::path!("products" / u64)
        .and(warp::put())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and(body::json())
        .and_then(update);
    list.or(get).unify().or(create).unify().or(update).unify()
}

async fn list(q: ListQuery, actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let (after, limit) = q.parse()?;
    let (items, next) = inventory::list(&actors.inventory, &actors.store, after, limit).await?;
    Ok(ok(&json!({ "items": items, "next": next })))
}

async fn get(id: u64, actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let product = actors
        .inventory
        .call(id, |reply| InventoryMsg::Get { reply })
        .await?;
    Ok(ok(&product))
}

async fn create(
    actors: Actors,
    caller: Caller,
    idem: Idem,
    (body, raw): (ProductBody, Bytes),
) -> Result<warp::reply::Response, Rejection> {
    caller.ensure_admin()?;
    let store = actors.store.clone();
    let work = move |mark| async move {
        let (name, price, stock) = body.validate()?;
        let product = inventory::create_marked(&store, name, price, stock, mark).await?;
        Outcome::new(StatusCode::CREATED, product)
    };
    let again = actors.clone();
    let replay = move |id| async move {
        let product = again
            .inventory
            .call(id, |reply| InventoryMsg::Get { reply })
            .await?;
        Outcome::new(StatusCode::CREATED, product)
    };
    idem.run(&actors.store, &caller, &raw, work, replay).await
}

async fn update(
    id: u64,
    actors: Actors,
    caller: Caller,
    body: ProductBody,
) -> Result<warp::reply::Response, Rejection> {
    caller.ensure_admin()?;
    let (name, price, stock) = body.validate()?;
    let product = actors
        .inventory
        .call(id, |reply| InventoryMsg::Update {
            name,
            price,
            stock,
            reply,
        })
        .await??;
    Ok(ok(&product))
}

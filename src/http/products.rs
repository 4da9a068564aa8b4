//! `GET /products`, `GET /products/{id}`, `POST /products`, `PUT /products/{id}`.

use super::auth::{caller, Caller};
use super::idempotency::{idem, Idem, Locks, Outcome};
use super::query::{self, Page, Paging};
use super::{body, ok, with_actors};
use crate::actors::{Actors, Error, InventoryMsg};
use crate::domain::{PriceCents, ProductName, Stock};
use serde::Deserialize;
use serde_json::json;
use warp::http::StatusCode;
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection};

/// How `GET /products` pages.
const PAGING: Paging = Paging {
    default_limit: 50,
    max_limit: 500,
    takes_after: true,
};

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
        .and(super::get())
        .and(query::page(PAGING))
        .and(with_actors(actors.clone()))
        .and_then(list);
    let get = warp::path!("products" / u64)
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and_then(get);
    let create = warp::path!("products")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(idem(locks, actors.idempotency()))
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

async fn list(page: Page, actors: Actors) -> Result<warp::reply::Response, Rejection> {
    let (items, next) = actors.list_products(page.after.unwrap_or(0), page.limit)?;
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
    let again = actors.clone();
    let work = move |mark| async move {
        let (name, price, stock) = body.validate()?;
        let product = actors.create_product(name, price, stock, mark).await?;
        Outcome::new(StatusCode::CREATED, product)
    };
    let replay = move |id| async move {
        let product = again
            .inventory
            .call(id, |reply| InventoryMsg::Get { reply })
            .await?;
        Outcome::new(StatusCode::CREATED, product)
    };
    idem.run(&caller, &raw, work, replay).await
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

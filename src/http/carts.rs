//! `POST /carts`, `GET /carts/{id}`, `DELETE /carts/{id}`, `POST /carts/{id}/products`,
//! `PUT` and `DELETE /carts/{id}/products/{product_id}`, `POST /carts/{id}/checkout`.

use super::auth::{caller, Caller};
use super::error::ApiError;
use super::idempotency::{idem, Idem, Locks, Outcome};
use super::{body, ok, with_actors};
use crate::actors::order::OrderView;
use crate::actors::{Actors, CartMsg, CartView, Error};
use crate::domain::cart;
use crate::domain::{ProductId, Quantity, UserId};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection, Reply};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewCart {
    /// Optional; if given it must be the caller's own id.
    user_id: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddProduct {
    product_id: u64,
    quantity: i64,
}

/// A checkout takes no fields: no body, or `{}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Checkout {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLine {
    quantity: i64,
}

pub fn routes(
    actors: Actors,
    locks: Locks,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let create = warp::path!("carts")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(idem(locks.clone(), actors.idempotency()))
        .and(body::optional_json_raw())
        .and_then(create);
    let get = warp::path!("carts" / u64)
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and_then(get);
    let add = warp::path!("carts" / u64 / "products")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(idem(locks.clone(), actors.idempotency()))
        .and(body::json_raw())
        .and_then(add_product);
    let set = warp::path!("carts" / u64 / "products" / u64)
        .and(warp::put())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(body::json())
        .and_then(set_line);
    let remove = warp::path!("carts" / u64 / "products" / u64)
        .and(warp::delete())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and_then(remove_line);
    let checkout = warp::path!("carts" / u64 / "checkout")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(idem(locks, actors.idempotency()))
        .and(body::optional_json_raw())
        .and_then(checkout);
    let abandon = warp::path!("carts" / u64)
        .and(warp::delete())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and_then(abandon);
    create
        .or(get)
        .unify()
        .or(add)
        .unify()
        .or(set)
        .unify()
        .or(remove)
        .unify()
        .or(checkout)
        .unify()
        .or(abandon)
        .unify()
}

async fn create(
    actors: Actors,
    caller: Caller,
    idem: Idem,
    (body, raw): (NewCart, Bytes),
) -> Result<warp::reply::Response, Rejection> {
    let user = caller.user_id;
    if !cart::may_open_cart_for(user, body.user_id.map(UserId)) {
        return Err(Error::Forbidden.into());
    }
    let again = actors.clone();
    let work = move |mark| async move {
        let cart = actors.create_cart(user, mark).await?;
        Outcome::new(StatusCode::CREATED, cart)
    };
    let replay = move |cart| async move {
        Outcome::new(StatusCode::CREATED, view(&again, cart, user, false).await?)
    };
    idem.run(&caller, &raw, work, replay).await
}

/// `cart` as `user` may see it (also the answer to a keyed request whose first one was lost).
async fn view(actors: &Actors, cart: u64, user: UserId, is_admin: bool) -> Result<CartView, Error> {
    actors
        .carts
        .call(cart, |reply| CartMsg::Get {
            user,
            is_admin,
            reply,
        })
        .await?
}

async fn get(id: u64, actors: Actors, caller: Caller) -> Result<warp::reply::Response, Rejection> {
    let cart = view(&actors, id, caller.user_id, caller.is_admin).await?;
    Ok(ok(&cart))
}

async fn add_product(
    id: u64,
    actors: Actors,
    caller: Caller,
    idem: Idem,
    (body, raw): (AddProduct, Bytes),
) -> Result<warp::reply::Response, Rejection> {
    let user = caller.user_id;
    // One deadline for the whole request, carried down every hop.
    let deadline = actors.carts.deadline();
    let again = actors.clone();
    let replay = move |cart| async move {
        Outcome::new(StatusCode::OK, view(&again, cart, user, false).await?)
    };
    let work = move |mark| async move {
        let quantity = Quantity::new(body.quantity).map_err(Error::from)?;
        let cart = actors
            .carts
            .call_by(deadline, id, |reply| CartMsg::AddProduct {
                user,
                product_id: ProductId(body.product_id),
                quantity,
                mark,
                deadline,
                reply,
            })
            .await??;
        Outcome::new(StatusCode::OK, cart)
    };
    idem.run(&caller, &raw, work, replay).await
}

async fn set_line(
    id: u64,
    product: u64,
    actors: Actors,
    caller: Caller,
    body: SetLine,
) -> Result<warp::reply::Response, Rejection> {
    let quantity = cart::quantity_to_set(body.quantity).map_err(Error::from)?;
    let deadline = actors.carts.deadline();
    let cart = actors
        .carts
        .call_by(deadline, id, |reply| CartMsg::SetLine {
            user: caller.user_id,
            product_id: ProductId(product),
            quantity,
            deadline,
            reply,
        })
        .await??;
    Ok(ok(&cart))
}

async fn remove_line(
    id: u64,
    product: u64,
    actors: Actors,
    caller: Caller,
) -> Result<warp::reply::Response, Rejection> {
    let deadline = actors.carts.deadline();
    let cart = actors
        .carts
        .call_by(deadline, id, |reply| CartMsg::RemoveLine {
            user: caller.user_id,
            product_id: ProductId(product),
            deadline,
            reply,
        })
        .await??;
    Ok(ok(&cart))
}

async fn checkout(
    id: u64,
    actors: Actors,
    caller: Caller,
    idem: Idem,
    (Checkout {}, raw): (Checkout, Bytes),
) -> Result<warp::reply::Response, Rejection> {
    let user = caller.user_id;
    let deadline = actors.carts.deadline();
    // A checkout needs no mark: a cart checks out once, and a retry resumes the same order.
    let work = move |_| async move {
        let checkout = |reply| CartMsg::Checkout {
            user,
            deadline,
            reply,
        };
        let order = actors.carts.call_by(deadline, id, checkout).await??;
        Outcome::new(StatusCode::CREATED, OrderView::from(order))
    };
    let replay = |_| async { Err(ApiError::internal()) };
    idem.run(&caller, &raw, work, replay).await
}

async fn abandon(
    id: u64,
    actors: Actors,
    caller: Caller,
) -> Result<warp::reply::Response, Rejection> {
    let deadline = actors.carts.deadline();
    actors
        .carts
        .call_by(deadline, id, |reply| CartMsg::Abandon {
            user: caller.user_id,
            deadline,
            reply,
        })
        .await??;
    Ok(warp::http::StatusCode::NO_CONTENT.into_response())
}

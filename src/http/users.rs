//! `POST /register`, `POST /login`, `POST /logout`, `GET /me`.

use super::auth::{caller, Caller};
use super::error::ApiError;
use super::ratelimit::{LoginKeys, LoginLimiter};
use super::{body, created, ok, with_actors};
use crate::actors::{Actors, Error, UserMsg};
use crate::domain::{rfc3339, Password, Username};
use serde::Deserialize;
use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

pub fn routes(
    actors: Actors,
    limiter: LoginLimiter,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let with_limiter = warp::any().map(move || limiter.clone());
    let register = warp::path!("register")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(with_limiter.clone())
        .and(warp::addr::remote())
        .and(body::json())
        .and_then(register);
    let login = warp::path!("login")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(with_limiter)
        .and(warp::addr::remote())
        .and(body::json())
        .and_then(login);
    let logout = warp::path!("logout")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and_then(logout);
    let me = warp::path!("me")
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and_then(me);
    register.or(login).unify().or(logout).unify().or(me).unify()
}

async fn register(
    actors: Actors,
    limiter: LoginLimiter,
    addr: Option<std::net::SocketAddr>,
    body: Credentials,
) -> Result<warp::reply::Response, Rejection> {
    let username = Username::parse(&body.username).map_err(Error::from)?;
    let password = Password::parse(body.password).map_err(Error::from)?;
    let limit = actors.settings.quotas.registrations_per_address;
    let keys = LoginKeys::registration(addr.map(|a| a.ip()), limit);
    limiter
        .try_acquire(&keys)
        .map_err(ApiError::too_many_registrations)?;
    let user = actors.register(username, &password).await?;
    Ok(created(
        &json!({ "id": user.id, "username": user.username.as_str() }),
    ))
}

async fn login(
    actors: Actors,
    limiter: LoginLimiter,
    addr: Option<std::net::SocketAddr>,
    body: Credentials,
) -> Result<warp::reply::Response, Rejection> {
    let keys = LoginKeys::new(&body.username, addr.map(|a| a.ip()));
    // Counted before the password is checked, so concurrent guesses cannot overtake the limit.
    limiter.try_acquire(&keys).map_err(ApiError::rate_limited)?;
    let result = actors.login(&body.username, body.password).await;
    if !matches!(result, Err(Error::InvalidCredentials)) {
        // Only a wrong password costs an attempt.
        limiter.release(&keys);
    }
    let ok_login = result?;
    Ok(ok(&json!({
        "token": ok_login.token,
        "user_id": ok_login.user_id,
        "expires_at": rfc3339(ok_login.expires_at),
    })))
}

async fn logout(actors: Actors, caller: Caller) -> Result<warp::reply::Response, Rejection> {
    actors.logout(&caller.token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn me(actors: Actors, caller: Caller) -> Result<warp::reply::Response, Rejection> {
    let user = actors
        .users
        .call(caller.user_id.0, |reply| UserMsg::Get { reply })
        .await?;
    Ok(ok(&json!({
        "id": user.id,
        "username": user.username.as_str(),
        "is_admin": user.is_admin,
    })))
}

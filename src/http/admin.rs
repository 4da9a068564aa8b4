//! Online maintenance for admins: `POST /admin/events/trim` and `POST /admin/backup`. The
//! handlers only translate; the work is the actors' service API's ([`Actors::trim_events`])
//! and [`crate::maintenance`]'s.

use super::auth::{caller, Caller};
use super::{body, ok, with_actors};
use crate::actors::Actors;
use serde::Deserialize;
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection};

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let trim = warp::path!("admin" / "events" / "trim")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(body::optional_json_raw())
        .and_then(trim);
    let backup = warp::path!("admin" / "backup")
        .and(warp::post())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and(body::json())
        .and_then(backup);
    trim.or(backup).unify()
}

/// `{"to": DIR}`: a new directory directly inside the server's `--backup-dir`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupTo {
    to: String,
}

async fn backup(
    actors: Actors,
    caller: Caller,
    body: BackupTo,
) -> Result<warp::reply::Response, Rejection> {
    caller.ensure_admin()?;
    let done = crate::maintenance::backup(&actors, &body.to).await?;
    Ok(ok(&done))
}

/// `{"before": SEQ}` trims below SEQ; an empty body (or `{}`) applies the retention policy.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Trim {
    /// Absent means "apply the policy"; `null` is refused like any other non-number.
    #[serde(default, deserialize_with = "present")]
    before: Option<u64>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u64::deserialize(d).map(Some)
}

async fn trim(
    actors: Actors,
    caller: Caller,
    (body, _): (Trim, Bytes),
) -> Result<warp::reply::Response, Rejection> {
    caller.ensure_admin()?;
    let done = actors.trim_events(body.before).await?;
    Ok(ok(&done))
}

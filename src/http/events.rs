//! The event log seen from outside: `GET /events?after=&limit=` and `GET /events/stream`
//! (Server-Sent Events), both admin-only.
//!
//! The stream reads the durable log itself, in pages, after the client's position, and
//! waits on the log head when it has caught up. A slow client therefore only falls behind in
//! the log: it holds at most one page in memory and never slows the actors or the writer.

use super::auth::{caller, Caller};
use super::error::ApiError;
use super::{ok, with_actors};
use crate::actors::Actors;
use crate::domain::event::EventRecord;
use crate::domain::rfc3339;
use crate::storage::Store;
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;
use warp::{sse, Filter, Rejection};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The contract's event shape: `{seq, type, at, data}`.
pub fn event_json(record: &EventRecord) -> Value {
    // Externally tagged: `{"Variant": {fields}}`; the fields are the payload.
    let data = match serde_json::to_value(&record.event) {
        Ok(Value::Object(mut tagged)) if tagged.len() == 1 => {
            tagged.remove(record.event.kind()).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    json!({
        "seq": record.seq,
        "type": record.event.kind(),
        "at": rfc3339(record.at),
        "data": data,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<String>,
    limit: Option<String>,
}

fn number(name: &str, raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|v| {
        v.parse::<u64>()
            .map_err(|_| ApiError::invalid(format!("{name} must be a non-negative integer")))
    })
    .transpose()
}

pub fn routes(
    actors: Actors,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let page = warp::query::<Page>().or_else(|_| async {
        Err::<(Page,), Rejection>(warp::reject::custom(ApiError::invalid(
            "unknown or malformed query parameter",
        )))
    });
    let list = warp::path!("events")
        .and(warp::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(page)
        .and_then(list);
    let stream = warp::path!("events" / "stream")
        .and(warp::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors))
        .and(sse::last_event_id::<String>())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and_then(stream);
    list.or(stream).unify()
}

async fn list(
    actors: Actors,
    caller: Caller,
    page: Page,
) -> Result<warp::reply::Response, Rejection> {
    caller.ensure_admin()?;
    let after = number("after", page.after.as_deref())?.unwrap_or(0);
    let limit = number("limit", page.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT as u64);
    if !(1..=MAX_LIMIT as u64).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be from 1 to {MAX_LIMIT}")).into());
    }
    let events = actors
        .store
        .events_after(after, limit as usize)
        .map_err(crate::actors::Error::from)?;
    let next_after = events.last().map_or(after, |e| e.seq);
    let events: Vec<Value> = events.iter().map(event_json).collect();
    Ok(ok(&json!({ "events": events, "next_after": next_after })))
}

async fn stream(
    actors: Actors,
    caller: Caller,
    last_event_id: Option<String>,
    query: std::collections::HashMap<String, String>,
) -> Result<warp::reply::Response, Rejection> {
    use warp::Reply;
    caller.ensure_admin()?;
    let after = stream_position(last_event_id, &query)?;
    // Without a position, a new client starts at the live end.
    let after = match after {
        Some(a) => a,
        None => *actors.store.head().borrow(),
    };
    let events = follow(actors.store.clone(), after);
    Ok(sse::reply(
        sse::keep_alive()
            .interval(Duration::from_secs(15))
            .stream(events),
    )
    .into_response())
}

/// Where a stream resumes: after `Last-Event-ID` (set by reconnecting clients), which wins
/// over `?after=`; `None` when neither is given.
pub(crate) fn stream_position(
    last_event_id: Option<String>,
    query: &std::collections::HashMap<String, String>,
) -> Result<Option<u64>, ApiError> {
    match last_event_id {
        Some(id) => number("Last-Event-ID", Some(id.trim())),
        None => number("after", query.get("after").map(String::as_str)),
    }
}

/// The log after `after`, then every event as it becomes durable, as SSE frames.
fn follow(
    store: Store,
    after: u64,
) -> impl futures_util::Stream<Item = Result<sse::Event, Infallible>> + Send + 'static {
    use futures_util::StreamExt;
    store
        .follow(after)
        .take_while(|page| {
            if let Err(e) = page {
                tracing::error!(error = %e, "event stream cannot read the log");
            }
            std::future::ready(page.is_ok())
        })
        .flat_map(|page| {
            futures_util::stream::iter(page.unwrap_or_default().into_iter().map(frame))
        })
        .map(Ok)
}

fn frame(record: EventRecord) -> sse::Event {
    sse::Event::default()
        .id(record.seq.to_string())
        .event(record.event.kind())
        .data(event_json(&record).to_string())
}

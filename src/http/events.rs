//! The event log seen from outside: `GET /events?after=&limit=` and `GET /events/stream`
//! (Server-Sent Events), both admin-only.
//!
//! A position (`after`, `Last-Event-ID`) whose following events were trimmed by retention is
//! answered 410 `events_trimmed` naming the oldest sequence left, never a silent gap.
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
use crate::storage::{retention, StorageError, Store};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use warp::{sse, Filter, Rejection};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Events read from the log per page by a stream.
const STREAM_PAGE: usize = 256;

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
    let after = number("after", page.after.as_deref())?;
    let limit = number("limit", page.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT as u64);
    if !(1..=MAX_LIMIT as u64).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be from 1 to {MAX_LIMIT}")).into());
    }
    let events = crate::maintenance::events_after(&actors, after, limit as usize)?;
    let next_after = events.last().map_or(after.unwrap_or(0), |e| e.seq);
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
    // `Last-Event-ID` (set by reconnecting clients) wins over `?after=`.
    let after = match last_event_id {
        Some(id) => number("Last-Event-ID", Some(id.trim()))?,
        None => number("after", query.get("after").map(String::as_str))?,
    };
    // Without a position, a new client starts at the live end.
    let after = match after {
        Some(a) => a,
        None => *actors.store.head().borrow(),
    };
    // A resume point the log no longer reaches is a 410, not a stream with a hole.
    crate::maintenance::check_position(&actors, after)?;
    let events = follow(actors.store.clone(), after);
    Ok(sse::reply(
        sse::keep_alive()
            .interval(Duration::from_secs(15))
            .stream(events),
    )
    .into_response())
}

/// The log after `after`, then every event as it becomes durable.
fn follow(
    store: Store,
    after: u64,
) -> impl futures_util::Stream<Item = Result<sse::Event, Infallible>> + Send + 'static {
    struct Cursor {
        store: Store,
        after: u64,
        page: VecDeque<EventRecord>,
        head: tokio::sync::watch::Receiver<u64>,
    }
    let cursor = Cursor {
        head: store.head(),
        store,
        after,
        page: VecDeque::new(),
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(record) = c.page.pop_front() {
                c.after = record.seq;
                let event = sse::Event::default()
                    .id(record.seq.to_string())
                    .event(record.event.kind())
                    .data(event_json(&record).to_string());
                return Some((Ok(event), c));
            }
            match retention::read_after(&c.store, c.after, STREAM_PAGE) {
                Ok(page) if !page.is_empty() => c.page = page.into(),
                Ok(_) => {
                    // Caught up: wait for the head to move (ends when the store closes).
                    c.head.mark_unchanged();
                    if *c.head.borrow() > c.after {
                        continue;
                    }
                    c.head.changed().await.ok()?;
                }
                Err(StorageError::Trimmed { oldest }) => {
                    // Retention overtook a slow client: end the stream, so that it
                    // reconnects with its Last-Event-ID and hears 410 with the oldest.
                    tracing::warn!(
                        after = c.after,
                        oldest,
                        "event stream fell behind the trimmed log"
                    );
                    return None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "event stream cannot read the log");
                    return None;
                }
            }
        }
    })
}

//! The event log seen from outside: `GET /events?after=&limit=` and `GET /events/stream`
//! (Server-Sent Events), both admin-only. The stream is the log follower of
//! [`crate::actors::follow`] framed as SSE: a slow client only falls behind in the log.
//!
//! A position (`after`, `Last-Event-ID`) whose following events were trimmed by retention is
//! answered 410 `events_trimmed` naming the oldest sequence left, never a silent gap.

use super::auth::{caller, Caller};
use super::query::{self, Page, Paging};
use super::streams::Streams;
use super::{ok, with_actors};
use crate::actors::Actors;
use crate::domain::event::EventRecord;
use crate::domain::rfc3339;
use serde_json::{json, Value};
use std::time::Duration;
use warp::{sse, Filter, Rejection};

/// How `GET /events` pages.
const PAGING: Paging = Paging {
    default_limit: 100,
    max_limit: 1000,
    takes_after: true,
};

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

pub fn routes(
    actors: Actors,
    streams: Streams,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("events")
        .and(super::get())
        .and(with_actors(actors.clone()))
        .and(caller(actors.clone()))
        .and(query::page(PAGING))
        .and_then(list);
    let stream = warp::path!("events" / "stream")
        .and(super::get())
        .and(warp::any().map(move || streams.clone()))
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
    let events = actors.events_after(page.after, page.limit)?;
    let next_after = events.last().map_or(page.after.unwrap_or(0), |e| e.seq);
    let events: Vec<Value> = events.iter().map(event_json).collect();
    Ok(ok(&json!({ "events": events, "next_after": next_after })))
}

async fn stream(
    streams: Streams,
    caller: Caller,
    last_event_id: Option<String>,
    query: std::collections::HashMap<String, String>,
) -> Result<warp::reply::Response, Rejection> {
    use warp::Reply;
    caller.ensure_admin()?;
    // Without a position, a new client starts at the live end.
    let after = query::stream_position(last_event_id, &query)?;
    let slot = streams.slot()?;
    let pages = streams.feeds.events.listen(after)?;
    let events = super::streams::frames(pages, |record| {
        sse::Event::default()
            .id(record.seq.to_string())
            .event(record.event.kind())
            .data(event_json(record).to_string())
    });
    Ok(sse::reply(
        sse::keep_alive()
            .interval(Duration::from_secs(15))
            .stream(slot.hold(events)),
    )
    .into_response())
}

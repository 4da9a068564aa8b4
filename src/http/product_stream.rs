//! `GET /products/stream`: public Server-Sent Events of stock changes, one frame per change
//! with `id:` = the log sequence, `event: stock` and `data: {product_id, stock, reserved}`.
//! Resumes after `Last-Event-ID` (or `?after=`), else starts at the live end. The changes come
//! from the durable log (see [`crate::actors::stock_feed`]), through the feed's one shared
//! follower.

use super::query::stream_position;
use super::streams::Streams;
use crate::actors::stock_feed::StockChange;
use std::collections::HashMap;
use std::time::Duration;
use warp::{sse, Filter, Rejection, Reply};

pub fn routes(
    streams: Streams,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("products" / "stream")
        .and(super::get())
        .and(warp::any().map(move || streams.clone()))
        .and(sse::last_event_id::<String>())
        .and(warp::query::<HashMap<String, String>>())
        .and_then(stream)
}

async fn stream(
    streams: Streams,
    last_event_id: Option<String>,
    query: HashMap<String, String>,
) -> Result<warp::reply::Response, Rejection> {
    let after = stream_position(last_event_id, &query)?;
    let slot = streams.slot()?;
    let pages = streams.feeds.stock.listen(after)?;
    let frames = super::streams::frames(pages, frame);
    Ok(sse::reply(
        sse::keep_alive()
            .interval(Duration::from_secs(15))
            .stream(slot.hold(frames)),
    )
    .into_response())
}

fn frame(change: &StockChange) -> sse::Event {
    let data = serde_json::to_string(change).unwrap_or_default();
    sse::Event::default()
        .id(change.seq.to_string())
        .event("stock")
        .data(data)
}

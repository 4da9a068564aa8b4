//! `GET /products/stream`: public SSE of stock changes, derived from the durable log.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// One SSE frame of the product stream: `(id, data)`.
type Frame = (u64, Value);

/// Connects to the product stream, after `after` if given.
async fn connect(app: &TestApp, after: Option<u64>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/products/stream"));
    if let Some(after) = after {
        req = req.header("last-event-id", after.to_string());
    }
    let r = req.send().await.expect("request sent");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    r
}

/// A frame reader that keeps what it has read past the last frame it returned.
struct Frames {
    resp: reqwest::Response,
    buf: String,
}

impl Frames {
    fn new(resp: reqwest::Response) -> Self {
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// The next `stock` frame (keep-alive comments skipped).
    async fn next(&mut self) -> Frame {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                };
                if let (Some(id), Some(data)) = (field("id:"), field("data:")) {
                    assert_eq!(field("event:").as_deref(), Some("stock"), "{frame}");
                    return (id.parse().unwrap(), serde_json::from_str(&data).unwrap());
                }
            }
            let chunk = tokio::time::timeout(PATIENCE, self.resp.chunk())
                .await
                .expect("a frame in time")
                .unwrap()
                .expect("stream still open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Frames until one carries `want`; ids must grow strictly on the way.
    async fn until(&mut self, want: Value, last_id: &mut u64) -> u64 {
        loop {
            let (id, data) = self.next().await;
            assert!(id > *last_id, "id {id} after {last_id}");
            *last_id = id;
            if data == want {
                return id;
            }
        }
    }
}

/// The sequence numbers of the log's events of `kind`.
async fn seqs_of(app: &TestApp, admin: &str, kind: &str) -> Vec<u64> {
    let r = app.get("/events?after=0&limit=1000", Some(admin)).await;
    let events = json_of(r).await["events"].as_array().unwrap().clone();
    events
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_product_stream_shows_every_stock_change_with_its_log_sequence_and_no_cart_data() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.signup("rosa").await;
    let mut frames = Frames::new(connect(&app, None).await);
    let mut last = 0;

    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let created = frames
        .until(
            json!({"product_id": tea, "stock": 5, "reserved": 0}),
            &mut last,
        )
        .await;
    let cart = app.create_cart(&token).await;
    assert_eq!(app.add(&token, cart, tea, 2).await.status(), StatusCode::OK);
    let reserved = frames
        .until(
            json!({"product_id": tea, "stock": 3, "reserved": 2}),
            &mut last,
        )
        .await;
    assert_eq!(
        app.checkout(&token, cart).await.status(),
        StatusCode::CREATED
    );
    let sold = frames
        .until(
            json!({"product_id": tea, "stock": 3, "reserved": 0}),
            &mut last,
        )
        .await;

    // The ids are the log's sequence numbers of the events that changed the stock.
    assert_eq!(seqs_of(&app, &admin, "ProductCreated").await, vec![created]);
    assert_eq!(seqs_of(&app, &admin, "StockReserved").await, vec![reserved]);
    assert_eq!(seqs_of(&app, &admin, "StockCommitted").await, vec![sold]);
}

#[tokio::test]
async fn the_product_stream_resumes_after_last_event_id_without_gap_or_repeat() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let cake = app.create_product(&admin, "Cake", 100, 7).await;
    let created = seqs_of(&app, &admin, "ProductCreated").await;

    // From the start of the log: both creations, in order.
    let mut all = Frames::new(connect(&app, Some(0)).await);
    assert_eq!(all.next().await.0, created[0]);
    assert_eq!(all.next().await.0, created[1]);

    // After the first creation: the second, then what happens next, and nothing twice.
    let mut resumed = Frames::new(connect(&app, Some(created[0])).await);
    let (id, data) = resumed.next().await;
    assert_eq!(id, created[1]);
    assert_eq!(data, json!({"product_id": cake, "stock": 7, "reserved": 0}));
    let (_, token) = app.signup("sam").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    let (id, data) = resumed.next().await;
    assert_eq!(id, seqs_of(&app, &admin, "StockReserved").await[0]);
    assert_eq!(data, json!({"product_id": tea, "stock": 4, "reserved": 1}));
}

#[tokio::test]
async fn the_product_stream_never_shows_a_reservation_before_it_is_durable() {
    let app = spawn_app_with(|c| c.call_timeout = PATIENCE).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, a) = app.signup("tia").await;
    let (_, b) = app.signup("uma").await;
    let cart_a = app.create_cart(&a).await;
    let cart_b = app.create_cart(&b).await;
    assert_eq!(app.add(&a, cart_a, tea, 1).await.status(), StatusCode::OK);
    let a_reserved = seqs_of(&app, &admin, "StockReserved").await[0];
    // B's cart actor starts now: a starting actor waits for the disk, which is about to stall.
    app.cart(&b, cart_b).await;

    // B's reservation is decided (the inventory shows it) but the disk holds it back.
    let stalled = app.store().stall_disk();
    let add_b = {
        let req = app
            .client
            .post(app.url(&format!("/carts/{cart_b}/products")))
            .bearer_auth(&b)
            .json(&json!({ "product_id": tea, "quantity": 2 }));
        tokio::spawn(req.send())
    };
    eventually(PATIENCE, "B's hold to be decided", || async {
        (stock_of(&app, tea).await == (2, 3)).then_some(())
    })
    .await;

    // A reader of A's (durable) reservation must not be shown B's values yet. (Absence can
    // only be checked for a while; a second is ample for a frame that is already due.)
    let mut frames = Frames::new(connect(&app, Some(a_reserved - 1)).await);
    let early = tokio::time::timeout(Duration::from_secs(1), frames.next()).await;
    assert!(early.is_err(), "shown before durable: {:?}", early.ok());

    drop(stalled);
    assert_eq!(add_b.await.unwrap().unwrap().status(), StatusCode::OK);
    let (id, data) = frames.next().await;
    assert_eq!(id, a_reserved);
    assert_eq!(data, json!({"product_id": tea, "stock": 2, "reserved": 3}));
}

#[tokio::test]
async fn a_malformed_last_event_id_is_400() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/products/stream"))
        .header("last-event-id", "x")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = app.get("/products/stream?after=-1", None).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
}

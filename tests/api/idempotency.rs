use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

impl TestApp {
    async fn post_with_key(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_retried_add_replays_the_first_response_without_adding_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("vic").await;
    let cart = app.create_cart(&token).await;
    let path = format!("/carts/{cart}/products");
    let body = json!({ "product_id": tea, "quantity": 2 });

    let first = app.post_with_key(&path, &token, "add-1", &body).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.text().await.unwrap();
    let again = app.post_with_key(&path, &token, "add-1", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(stock_of(&app, tea).await, (8, 2));

    // A new key is new work.
    app.post_with_key(&path, &token, "add-2", &body).await;
    assert_eq!(stock_of(&app, tea).await, (6, 4));
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_422() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("wes").await;
    let cart = app.create_cart(&token).await;
    let path = format!("/carts/{cart}/products");
    app.post_with_key(
        &path,
        &token,
        "k",
        &json!({ "product_id": tea, "quantity": 1 }),
    )
    .await;
    let r = app
        .post_with_key(
            &path,
            &token,
            "k",
            &json!({ "product_id": tea, "quantity": 3 }),
        )
        .await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Same key on another endpoint is a different request too.
    let r = app.post_with_key("/carts", &token, "k", &json!({})).await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(stock_of(&app, tea).await, (9, 1));
}

#[tokio::test]
async fn keys_belong_to_one_user() {
    let app = spawn_app().await;
    let (_, a) = app.signup("xia").await;
    let (_, b) = app.signup("yan").await;
    let ra = json_of(app.post_with_key("/carts", &a, "mine", &json!({})).await).await;
    let rb = json_of(app.post_with_key("/carts", &b, "mine", &json!({})).await).await;
    assert_ne!(ra["id"], rb["id"]);
    assert_ne!(ra["user_id"], rb["user_id"]);
}

#[tokio::test]
async fn a_checkout_retried_with_the_same_key_yields_one_order_and_the_same_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("zed").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 2).await;
    let path = format!("/carts/{cart}/checkout");
    let first = app.post_with_key(&path, &token, "pay-1", &json!({})).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    for _ in 0..3 {
        let again = app.post_with_key(&path, &token, "pay-1", &json!({})).await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.text().await.unwrap(), first);
    }
    assert_eq!(app.orders(&token).await.len(), 1);
    assert_eq!(stock_of(&app, tea).await, (8, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_do_the_work_once() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let (_, token) = app.signup("abe").await;
    let cart = app.create_cart(&token).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (app, token) = (app.clone(), token.clone());
        tasks.spawn(async move {
            let r = app
                .post_with_key(
                    &format!("/carts/{cart}/products"),
                    &token,
                    "once",
                    &json!({ "product_id": tea, "quantity": 1 }),
                )
                .await;
            (r.status(), r.text().await.unwrap())
        });
    }
    let mut bodies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        assert_eq!(status, StatusCode::OK);
        bodies.push(body);
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "every retry got the first answer");
    assert_eq!(stock_of(&app, tea).await, (99, 1));
}

#[tokio::test]
async fn an_error_answer_is_replayed_too_and_bad_keys_are_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 1).await;
    let (_, token) = app.signup("bea").await;
    let cart = app.create_cart(&token).await;
    let path = format!("/carts/{cart}/products");
    let body = json!({ "product_id": tea, "quantity": 2 });
    let r = app.post_with_key(&path, &token, "too-many", &body).await;
    assert_error(r, StatusCode::CONFLICT, "insufficient_stock").await;
    // Stock arrives; the retry still gets the recorded 409 and changes nothing.
    app.put_json(
        &format!("/products/{tea}"),
        Some(&admin),
        &json!({ "name": "Tea", "price_cents": 250, "stock": 5 }),
    )
    .await;
    let r = app.post_with_key(&path, &token, "too-many", &body).await;
    assert_error(r, StatusCode::CONFLICT, "insufficient_stock").await;
    assert_eq!(stock_of(&app, tea).await, (5, 0));

    for bad in ["", "has space", &"k".repeat(256)] {
        let r = app.post_with_key(&path, &token, bad, &body).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let app = spawn_app().await;
    let (_, token) = app.signup("cal").await;
    let first = json_of(app.post_with_key("/carts", &token, "c1", &json!({})).await).await;
    let app = app.restart().await;
    let again = app.post_with_key("/carts", &token, "c1", &json!({})).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(json_of(again).await, first);
}

#[tokio::test]
async fn records_past_their_retention_are_purged_and_the_key_is_new_again() {
    use trolley::domain::UserId;
    use trolley::storage::{keys, Unit};
    // A short hold TTL makes the reaper sweep often.
    let app = spawn_app_with(|c| c.hold_ttl = std::time::Duration::from_millis(200)).await;
    let (me, token) = app.signup("dan").await;
    let first = json_of(app.post_with_key("/carts", &token, "old", &json!({})).await).await;

    // Age the record: index it as written at the epoch.
    let store = app.store();
    let record = keys::idempotency(UserId(me), "old");
    assert!(store.contains(&record).unwrap());
    store
        .write(Unit::default().put(keys::idempotency_by_time(0, &record), Vec::new()))
        .await
        .unwrap();
    eventually(PATIENCE, "the purge", || async {
        (!store.contains(&record).unwrap()).then_some(())
    })
    .await;
    let again = json_of(app.post_with_key("/carts", &token, "old", &json!({})).await).await;
    assert_ne!(again["id"], first["id"]);
}

#[tokio::test]
async fn a_key_with_any_byte_outside_visible_ascii_is_400_on_every_route_and_changes_nothing() {
    use reqwest::header::HeaderValue;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("eve").await;
    let cart = app.create_cart(&token).await;
    let posts = [
        (
            "/products".to_owned(),
            admin.clone(),
            json!({ "name": "Cake", "price_cents": 100, "stock": 1 }),
        ),
        ("/carts".to_owned(), token.clone(), json!({})),
        (
            format!("/carts/{cart}/products"),
            token.clone(),
            json!({ "product_id": tea, "quantity": 1 }),
        ),
        (format!("/carts/{cart}/checkout"), token.clone(), json!({})),
    ];
    let events_before = json_of(app.get("/events?limit=1000", Some(&admin)).await).await;
    // `é` in UTF-8, a lone high byte, and one 0xff among visible characters.
    for raw in [&b"\xc3\xa9"[..], b"\x80", b"key-\xff-1"] {
        let key = HeaderValue::from_bytes(raw).unwrap();
        for (path, bearer, body) in &posts {
            let r = app
                .client
                .post(app.url(path))
                .bearer_auth(bearer)
                .header("idempotency-key", key.clone())
                .json(body)
                .send()
                .await
                .unwrap();
            let what = format!("POST {path} with key {raw:?}");
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
            let body = json_of(r).await;
            assert_eq!(body["error"]["code"], "invalid_request", "{what}: {body}");
            assert!(body["error"]["message"].is_string(), "{what}: {body}");
        }
    }
    let events_after = json_of(app.get("/events?limit=1000", Some(&admin)).await).await;
    assert_eq!(
        events_after, events_before,
        "a refused request changes nothing"
    );
    assert_eq!(stock_of(&app, tea).await, (10, 0));
}

/// Sends a keyed POST whose work is held on the store (writes putting `held_prefix`), lets the
/// client give up while it is in flight, lets the disk go on, then retries with the same key:
/// returns the retry's status and body. The work must have been done exactly once.
async fn lost_answer_then_retry(
    app: &TestApp,
    token: &str,
    (path, body): (&str, Value),
    held_prefix: &[u8],
) -> (StatusCode, Value) {
    let mut held = app.store().hold_writes_putting(held_prefix.to_vec(), 1);
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = async {
        impatient
            .post(app.url(path))
            .bearer_auth(token)
            .header("idempotency-key", "lost-1")
            .json(&body)
            .send()
            .await
    };
    // The client gives up once the work's write is really in flight (and stuck).
    let (sent, ()) = tokio::join!(gave_up, held.caught(1));
    assert!(sent.is_err(), "the client timed out: {sent:?}");
    // A retry while the first attempt still runs waits for it rather than working beside it.
    let retry = app.post_with_key(path, token, "lost-1", &body);
    let release = async move { held.release() };
    let (r, ()) = tokio::join!(retry, release);
    let status = r.status();
    (status, json_of(r).await)
}

#[tokio::test]
async fn an_add_whose_answer_was_lost_is_applied_once_however_often_it_is_retried() {
    use trolley::storage::keys;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let (_, token) = app.signup("lena").await;
    let cart = app.create_cart(&token).await;
    let path = format!("/carts/{cart}/products");
    let body = json!({ "product_id": tea, "quantity": 5 });
    let cart_key = keys::cart(trolley::domain::CartId(cart));

    let (status, first) =
        lost_answer_then_retry(&app, &token, (&path, body.clone()), &cart_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["items"][0]["quantity"], 5);
    for _ in 0..3 {
        let again = app.post_with_key(&path, &token, "lost-1", &body).await;
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(json_of(again).await, first);
    }
    assert_eq!(app.cart(&token, cart).await["items"][0]["quantity"], 5);
    assert_eq!(stock_of(&app, tea).await, (95, 5));
}

#[tokio::test]
async fn a_cart_or_product_created_with_a_lost_answer_is_created_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.signup("mira").await;

    let (status, cart) = lost_answer_then_retry(&app, &token, ("/carts", json!({})), b"c/").await;
    assert_eq!(status, StatusCode::CREATED);
    let created = events_of_type(&app, &admin, "CartCreated").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["data"]["cart_id"], cart["id"]);

    let product = json!({ "name": "Kettle", "price_cents": 2500, "stock": 3 });
    let (status, made) = lost_answer_then_retry(&app, &admin, ("/products", product), b"p/").await;
    assert_eq!(status, StatusCode::CREATED);
    let created = events_of_type(&app, &admin, "ProductCreated").await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["data"]["product_id"], made["id"]);
}

async fn events_of_type(app: &TestApp, admin: &str, kind: &str) -> Vec<Value> {
    let log = json_of(app.get("/events?limit=1000", Some(admin)).await).await;
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_add_that_timed_out_inside_the_server_is_not_applied_again_by_its_retry() {
    let app = spawn_app_with(|c| c.call_timeout = std::time::Duration::from_secs(1)).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let (_, token) = app.signup("nils").await;
    let cart = app.create_cart(&token).await;
    let path = format!("/carts/{cart}/products");
    let body = json!({ "product_id": tea, "quantity": 5 });

    // The cart's actor is up (its start reads the store), then the disk stalls under the add
    // past the server's own bound: 503, outcome unknown.
    app.cart(&token, cart).await;
    let stalled = app.store().stall_disk();
    let r = app.post_with_key(&path, &token, "slow-1", &body).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // The disk comes back and the add lands after all.
    drop(stalled);
    eventually(PATIENCE, "the held add to land", || async {
        let r = app.get(&format!("/carts/{cart}"), Some(&token)).await;
        if r.status() != StatusCode::OK {
            return None;
        }
        (json_of(r).await["items"][0]["quantity"] == 5).then_some(())
    })
    .await;

    // Its retries find the work done and answer from the cart as it is: no second add.
    for _ in 0..2 {
        let again = app.post_with_key(&path, &token, "slow-1", &body).await;
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(json_of(again).await["items"][0]["quantity"], 5);
    }
    assert_eq!(stock_of(&app, tea).await, (95, 5));
}

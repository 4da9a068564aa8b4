//! What one account can make the server hold: open carts, stored idempotency answers, live
//! sessions and registrations per client address are bounded, and a keyed answer is stored
//! compactly.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use trolley::domain::UserId;
use trolley::idempotency::{fingerprint, Record};
use trolley::storage::{codec, keys, Unit};

async fn post_keyed_as(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn a_keyed_answer_is_stored_deflated_and_replayed_byte_for_byte() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user, token) = app.signup("quinn").await;
    let cart = app.create_cart(&token).await;
    let mut products = Vec::new();
    for i in 0..20 {
        let name = format!("Loose-leaf tea number {i}");
        products.push(app.create_product(&admin, &name, 100 + i, 50).await);
        assert_eq!(
            app.add(&token, cart, products[i as usize], 1)
                .await
                .status(),
            StatusCode::OK
        );
    }
    let path = format!("/carts/{cart}/products");
    let body = json!({ "product_id": products[0], "quantity": 1 });

    let first = post_keyed_as(&app, &path, &token, "big-answer", &body).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.bytes().await.unwrap();
    let stored = app
        .actors()
        .store
        .stored_len(&keys::idempotency(UserId(user), "big-answer"))
        .unwrap()
        .expect("the answer is recorded");
    assert!(
        stored * 4 < first.len(),
        "a {} B answer took {stored} B to store",
        first.len()
    );

    let again = post_keyed_as(&app, &path, &token, "big-answer", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.bytes().await.unwrap(), first);
    assert_eq!(app.cart(&token, cart).await["items"][0]["quantity"], 2);
}

#[tokio::test]
async fn an_answer_recorded_in_the_old_format_still_replays() {
    let app = spawn_app().await;
    let (user, token) = app.signup("olga").await;
    let path = "/carts";
    let request = br#"{}"#;
    // What the code before the deflated format wrote: a format-1 record.
    let old = Record {
        fingerprint: fingerprint(&format!("POST {path}"), request),
        status: 201,
        body: br#"{"id":4242,"recorded":"before the upgrade"}"#.to_vec(),
        created_at: app.actors().store.now(),
    };
    let key = keys::idempotency(UserId(user), "from-yesterday");
    let unit = Unit::default().put(key, codec::encode(&old));
    app.actors().store.write(unit).await.unwrap();

    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(&token)
        .header("idempotency-key", "from-yesterday")
        .header("content-type", "application/json")
        .body(request.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.bytes().await.unwrap(), old.body);
}

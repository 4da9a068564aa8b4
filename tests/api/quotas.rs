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
        .store()
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
        created_at: app.store().now(),
    };
    let key = keys::idempotency(UserId(user), "from-yesterday");
    let unit = Unit::default().put(key, codec::encode(&old));
    app.store().write(unit).await.unwrap();

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

#[tokio::test]
async fn registrations_past_the_limit_per_address_get_429_with_retry_after() {
    let app = spawn_app_with(|c| c.max_registrations_per_minute = 3).await;
    for i in 0..3 {
        let r = app.register(&format!("early{i}"), PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = app.register("late", PASSWORD).await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_registrations").await;
    // Nothing was created, and the accounts made before still log in.
    assert_eq!(
        app.login("late", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login("early0", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_login_past_the_session_limit_revokes_the_oldest_session() {
    let app = spawn_app_with(|c| c.max_sessions = 2).await;
    // Signing up logs in and uses the token, so the oldest session is cached too.
    let (_, oldest) = app.signup("sam").await;
    let middle = app.token_of("sam", PASSWORD).await;
    let newest = app.token_of("sam", PASSWORD).await;
    let r = app.get("/me", Some(&oldest)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for token in [&middle, &newest] {
        assert_eq!(app.get("/me", Some(token)).await.status(), StatusCode::OK);
    }
    // A logout frees its place: the next login revokes nothing.
    let r = app
        .client
        .post(app.url("/logout"))
        .bearer_auth(&newest)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after_logout = app.token_of("sam", PASSWORD).await;
    for token in [&middle, &after_logout] {
        assert_eq!(app.get("/me", Some(token)).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_user_at_the_open_cart_limit_gets_409_until_a_cart_closes() {
    let app = spawn_app_with(|c| c.max_open_carts = 2).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("cora").await;
    let first = app.create_cart(&token).await;
    let second = app.create_cart(&token).await;

    let r = app.post_json("/carts", Some(&token), &json!({})).await;
    let error = assert_error(r, StatusCode::CONFLICT, "too_many_open_carts").await;
    assert_eq!(error["limit"], 2);
    // Another user's carts are their own.
    let (_, other) = app.signup("dora").await;
    app.create_cart(&other).await;

    // A checkout and an abandon each free a place, and survive a restart.
    assert_eq!(
        app.add(&token, first, tea, 1).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.checkout(&token, first).await.status(),
        StatusCode::CREATED
    );
    let r = app.delete(&format!("/carts/{second}"), Some(&token)).await;
    assert!(r.status().is_success(), "abandon: {}", r.status());
    let app = app.restart().await;
    let token = app.token_of("cora", PASSWORD).await;
    app.create_cart(&token).await;
    app.create_cart(&token).await;
    let r = app.post_json("/carts", Some(&token), &json!({})).await;
    assert_error(r, StatusCode::CONFLICT, "too_many_open_carts").await;
}

#[tokio::test]
async fn a_user_at_the_idempotency_key_limit_gets_409_and_replays_still_work() {
    let app = spawn_app_with(|c| c.max_idempotency_keys = 3).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let (_, token) = app.signup("ida").await;
    // The set-up helper sends a key too: the first of the three.
    let cart = app.create_cart(&token).await;
    let path = format!("/carts/{cart}/products");
    let body = json!({ "product_id": tea, "quantity": 1 });
    let first = post_keyed_as(&app, &path, &token, "k1", &body).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.bytes().await.unwrap();
    assert_eq!(
        post_keyed_as(&app, &path, &token, "k2", &body)
            .await
            .status(),
        StatusCode::OK
    );

    let r = post_keyed_as(&app, &path, &token, "k3", &body).await;
    let error = assert_error(r, StatusCode::CONFLICT, "too_many_idempotency_keys").await;
    assert_eq!(error["limit"], 3);
    assert_eq!(
        stock_of(&app, tea).await,
        (98, 2),
        "the refused request did nothing"
    );
    // A recorded key still replays, and a request without a key still works.
    let again = post_keyed_as(&app, &path, &token, "k1", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.bytes().await.unwrap(), first);
    assert_eq!(app.add(&token, cart, tea, 1).await.status(), StatusCode::OK);

    // Once the recorded answers age out, new keys are taken again.
    app.advance_clock(std::time::Duration::from_secs(25 * 3600));
    let token = app.token_of("ida", PASSWORD).await;
    let status = eventually(PATIENCE, "the old answers to be swept", || async {
        let r = post_keyed_as(&app, &path, &token, "k3", &body).await;
        (r.status() != StatusCode::CONFLICT).then_some(r.status())
    })
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_session_leaves_nothing_in_its_user_index() {
    let app = spawn_app().await;
    let (user, _) = app.signup("eve").await;
    let (start, end) = keys::user_range(keys::USER_SESSIONS, UserId(user));
    let indexed = || app.store().keys_between(&start, &end, 10).unwrap().len();
    assert_eq!(indexed(), 1);
    app.advance_clock(std::time::Duration::from_secs(25 * 3600));
    eventually(PATIENCE, "the session purge", || async {
        (indexed() == 0).then_some(())
    })
    .await;
}

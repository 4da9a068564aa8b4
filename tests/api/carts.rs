use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_new_cart_is_open_empty_and_owned_by_the_caller() {
    let app = spawn_app().await;
    let (me, token) = app.signup("liam").await;
    let r = app.post_json("/carts", Some(&token), &json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cart = json_of(r).await;
    assert_eq!(cart["user_id"], me);
    assert_eq!(cart["status"], "open");
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["total_cents"], 0);
    assert_eq!(app.cart(&token, cart["id"].as_u64().unwrap()).await, cart);

    // `{user_id}` naming the caller is fine, and so is no body at all.
    let r = app
        .post_json("/carts", Some(&token), &json!({ "user_id": me }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .client
        .post(app.url("/carts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn creating_a_cart_for_someone_else_is_403_and_without_a_token_401() {
    let app = spawn_app().await;
    let (me, token) = app.signup("mia").await;
    let r = app
        .post_json("/carts", Some(&token), &json!({ "user_id": me + 1000 }))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.post_json("/carts", None, &json!({})).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn each_add_moves_stock_into_reserved_exactly() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let cake = app.create_product(&admin, "Cake", 400, 3).await;
    let (_, token) = app.signup("noah").await;
    let cart = app.create_cart(&token).await;

    let r = app.add(&token, cart, tea, 3).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(stock_of(&app, tea).await, (7, 3));
    let r = app.add(&token, cart, tea, 2).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(stock_of(&app, tea).await, (5, 5));
    let r = app.add(&token, cart, cake, 3).await;
    let body = json_of(r).await;
    assert_eq!(stock_of(&app, cake).await, (0, 3));

    // Held lines say until when; the deadline itself is checked in the expiry tests.
    let mut items = body["items"].clone();
    for item in items.as_array_mut().unwrap() {
        let held_until = item.as_object_mut().unwrap().remove("hold_expires_at");
        assert!(held_until.is_some_and(|t| t.is_string()), "{body}");
    }
    assert_eq!(
        items,
        json!([
            { "product_id": tea, "name": "Tea", "quantity": 5, "unit_price_cents": 250, "reserved": true },
            { "product_id": cake, "name": "Cake", "quantity": 3, "unit_price_cents": 400, "reserved": true },
        ])
    );
    assert_eq!(body["total_cents"], 5 * 250 + 3 * 400);
    assert_eq!(app.cart(&token, cart).await, body);
}

#[tokio::test]
async fn insufficient_stock_is_409_with_what_is_available_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("olga").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 4).await;
    let before = app.cart(&token, cart).await;

    let err = assert_error(
        app.add(&token, cart, tea, 2).await,
        StatusCode::CONFLICT,
        "insufficient_stock",
    )
    .await;
    assert_eq!(err["available"], 1);
    assert_eq!(err["product_id"], tea);
    assert_eq!(app.cart(&token, cart).await, before);
    assert_eq!(stock_of(&app, tea).await, (1, 4));
}

#[tokio::test]
async fn adding_an_unknown_product_is_404_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.signup("pete").await;
    let cart = app.create_cart(&token).await;
    let err = assert_error(
        app.add(&token, cart, 424242, 1).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(err["message"].as_str().unwrap().contains("product"));
    assert_eq!(app.cart(&token, cart).await["items"], json!([]));
    assert_error(
        app.add(&token, 424242, 1, 1).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn another_users_cart_is_404_and_stays_unchanged() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, owner) = app.signup("quinn").await;
    let (_, intruder) = app.signup("rosa").await;
    let cart = app.create_cart(&owner).await;
    app.add(&owner, cart, tea, 1).await;
    let before = app.cart(&owner, cart).await;

    let r = app.get(&format!("/carts/{cart}"), Some(&intruder)).await;
    let seen = assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.add(&intruder, cart, tea, 5).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // The answer is the same as for a cart that does not exist at all.
    let missing = app.get("/carts/987654", Some(&intruder)).await;
    assert_eq!(
        assert_error(missing, StatusCode::NOT_FOUND, "not_found").await,
        seen
    );

    assert_eq!(app.cart(&owner, cart).await, before);
    assert_eq!(stock_of(&app, tea).await, (9, 1));
    // An admin may look at it.
    assert_eq!(app.cart(&admin, cart).await, before);
}

#[tokio::test]
async fn quantities_outside_1_to_10000_and_bad_bodies_are_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100_000).await;
    let (_, token) = app.signup("sam").await;
    let cart = app.create_cart(&token).await;
    for q in [0, -1, 10_001] {
        let err = assert_error(
            app.add(&token, cart, tea, q).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(err["field"], "quantity");
    }
    for body in [
        json!({ "product_id": tea }),
        json!({ "product_id": tea, "quantity": "1" }),
        json!({ "product_id": -4, "quantity": 1 }),
        json!({ "product_id": tea, "quantity": 1, "extra": true }),
        // serde would read these fields from an array: the body must be an object.
        json!([tea, 1]),
    ] {
        let r = app
            .post_json(&format!("/carts/{cart}/products"), Some(&token), &body)
            .await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert_eq!(stock_of(&app, tea).await, (100_000, 0));
    assert_eq!(app.cart(&token, cart).await["items"], json!([]));
}

/// One raw HTTP/1.1 request (headers as given, nothing added), and the status and body of the
/// answer; the server closes the connection after it.
async fn raw(app: &TestApp, head: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nhost: {addr}\r\nconnection: close\r\n\r\n{body}");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn a_post_without_a_body_needs_no_length_but_a_chunked_or_oversized_one_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.signup("tom").await;
    let post = format!("POST /carts HTTP/1.1\r\nauthorization: Bearer {token}");
    let json = "content-type: application/json";
    let cases = [
        // No Content-Length and no body is an empty body.
        (post.clone(), "", 201, "\"status\":\"open\""),
        (
            format!("{post}\r\n{json}\r\ntransfer-encoding: chunked"),
            "2\r\n{}\r\n0\r\n\r\n",
            411,
            "\"length_required\"",
        ),
        // Refused on the declared length alone: the body is never sent.
        (
            format!("{post}\r\n{json}\r\ncontent-length: 65537"),
            "",
            413,
            "\"payload_too_large\"",
        ),
    ];
    for (head, body, want, says) in cases {
        let (status, answer) = raw(&app, &head, body).await;
        assert_eq!(
            (status, answer.contains(says)),
            (want, true),
            "{head}: {answer}"
        );
    }
}

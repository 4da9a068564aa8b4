use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn checkout_sells_every_line_and_records_the_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let cake = app.create_product(&admin, "Cake", 400, 5).await;
    let (me, token) = app.signup("gus").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    app.add(&token, cart, cake, 1).await;

    let r = app.checkout(&token, cart).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let order = json_of(r).await;
    assert_eq!(order["cart_id"], cart);
    assert_eq!(order["user_id"], me);
    assert_eq!(
        order["lines"],
        json!([
            { "product_id": tea, "name": "Tea", "quantity": 3, "unit_price_cents": 250 },
            { "product_id": cake, "name": "Cake", "quantity": 1, "unit_price_cents": 400 },
        ])
    );
    assert_eq!(order["total_cents"], 3 * 250 + 400);
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));

    // Sold: no longer reserved, not available again.
    assert_eq!(stock_of(&app, tea).await, (7, 0));
    assert_eq!(stock_of(&app, cake).await, (4, 0));
    let c = app.cart(&token, cart).await;
    assert_eq!(c["status"], "checked_out");

    let id = order["id"].as_u64().unwrap();
    assert_eq!(app.orders(&token).await, vec![order.clone()]);
    assert_eq!(
        json_of(app.get(&format!("/orders/{id}"), Some(&token)).await).await,
        order
    );
}

#[tokio::test]
async fn a_second_checkout_is_409_and_there_is_still_one_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("hana").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    assert_eq!(
        app.checkout(&token, cart).await.status(),
        StatusCode::CREATED
    );
    assert_error(
        app.checkout(&token, cart).await,
        StatusCode::CONFLICT,
        "cart_closed",
    )
    .await;
    assert_eq!(app.orders(&token).await.len(), 1);
    assert_eq!(stock_of(&app, tea).await, (9, 0));
}

#[tokio::test]
async fn a_checkout_body_with_fields_or_that_is_not_an_object_is_400_and_sells_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("hal").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 2).await;
    let path = format!("/carts/{cart}/checkout");
    for body in [
        json!({ "pay_with": "card" }),
        json!([]),
        json!("go"),
        json!(null),
    ] {
        let r = app.post_json(&path, Some(&token), &body).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert_eq!(app.cart(&token, cart).await["status"], "open");
    assert_eq!(stock_of(&app, tea).await, (8, 2));
    // No body, or an empty object, is a checkout.
    let r = app.post_json(&path, Some(&token), &json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_empty_cart_cannot_be_checked_out() {
    let app = spawn_app().await;
    let (_, token) = app.signup("ida").await;
    let cart = app.create_cart(&token).await;
    assert_error(
        app.checkout(&token, cart).await,
        StatusCode::CONFLICT,
        "cart_empty",
    )
    .await;
    assert_eq!(app.cart(&token, cart).await["status"], "open");
}

#[tokio::test]
async fn orders_keep_the_price_at_checkout_while_carts_show_current_prices() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("jon").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 2).await;
    let open = app.create_cart(&token).await;
    app.add(&token, open, tea, 1).await;
    let order = json_of(app.checkout(&token, cart).await).await;

    let r = app
        .put_json(
            &format!("/products/{tea}"),
            Some(&admin),
            &json!({ "name": "Tea", "price_cents": 999, "stock": 7 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = order["id"].as_u64().unwrap();
    let stored = json_of(app.get(&format!("/orders/{id}"), Some(&token)).await).await;
    assert_eq!(stored["lines"][0]["unit_price_cents"], 250);
    assert_eq!(stored["total_cents"], 500);
    assert_eq!(
        app.cart(&token, open).await["items"][0]["unit_price_cents"],
        999
    );
}

#[tokio::test]
async fn another_users_order_is_404_but_an_admin_sees_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("kai").await;
    let (_, other) = app.signup("lea").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    let id = json_of(app.checkout(&token, cart).await).await["id"]
        .as_u64()
        .unwrap();
    let r = app.get(&format!("/orders/{id}"), Some(&other)).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.orders(&other).await.is_empty());
    assert_eq!(
        app.get(&format!("/orders/{id}"), Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
    assert_error(
        app.get("/orders", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_of_many_carts_never_sell_more_than_on_hand() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 30).await;
    let (_, token) = app.signup("max").await;
    let mut carts = Vec::new();
    for _ in 0..10 {
        let cart = app.create_cart(&token).await;
        assert_eq!(app.add(&token, cart, tea, 3).await.status(), StatusCode::OK);
        carts.push(cart);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for cart in carts.clone() {
        let (app, token) = (app.clone(), token.clone());
        // Each cart is checked out twice at once: one order per cart, whatever the race.
        for _ in 0..2 {
            let (app, token) = (app.clone(), token.clone());
            tasks.spawn(async move { app.checkout(&token, cart).await.status() });
        }
        drop((app, token));
    }
    let mut created = 0;
    while let Some(s) = tasks.join_next().await {
        match s.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 10);
    assert_eq!(app.orders(&token).await.len(), 10);
    assert_eq!(stock_of(&app, tea).await, (0, 0));
}

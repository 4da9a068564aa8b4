//! Bounded reads: `GET /orders` pages like `GET /products`, and a page of products is read
//! without starting any actor while still showing every acknowledged change.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Live inventory actors, as `/readyz` counts them.
async fn live_products(app: &TestApp) -> u64 {
    let ready = json_of(app.get("/readyz", None).await).await;
    ready["live_actors"]["products"].as_u64().unwrap()
}

/// `(stock, reserved)` of every product on one page of `GET /products?limit=500`, by id.
async fn listed(app: &TestApp) -> Vec<(u64, u64, u64)> {
    let r = app.get("/products?limit=500", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = json_of(r).await;
    assert_eq!(page["next"], Value::Null);
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = |f: &str| p[f].as_u64().unwrap();
            (n("id"), n("stock"), n("reserved"))
        })
        .collect()
}

#[tokio::test]
async fn orders_come_a_page_at_a_time_until_next_is_null() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("olga").await;
    let (_, other) = app.signup("pete").await;
    let mut ids = Vec::new();
    for owner in [&token, &other, &token, &token] {
        let cart = app.create_cart(owner).await;
        assert_eq!(app.add(owner, cart, tea, 1).await.status(), StatusCode::OK);
        let r = app.checkout(owner, cart).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        if owner == &token {
            ids.push(json_of(r).await["id"].as_u64().unwrap());
        }
    }
    let page = |q: String| {
        let app = &app;
        let token = &token;
        async move {
            let r = app.get(&format!("/orders{q}"), Some(token)).await;
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            let body = json_of(r).await;
            let items: Vec<u64> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_u64().unwrap())
                .collect();
            (items, body["next"].as_u64())
        }
    };
    assert_eq!(
        page("?limit=2".into()).await,
        (ids[..2].to_vec(), Some(ids[1]))
    );
    assert_eq!(
        page(format!("?limit=2&after={}", ids[1])).await,
        (ids[2..].to_vec(), None)
    );
    assert_eq!(page(String::new()).await, (ids.clone(), None));
    assert_eq!(page(format!("?after={}", ids[2])).await, (vec![], None));

    for bad in [
        "?limit=0",
        "?limit=501",
        "?after=x",
        "?limit=1&limit=2",
        "?page=2",
    ] {
        let r = app.get(&format!("/orders{bad}"), Some(&token)).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let r = app.get("/orders?limit=0", None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_page_of_products_starts_no_actor_and_shows_every_acknowledged_change() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut products = Vec::new();
    for i in 0..5 {
        products.push(app.create_product(&admin, &format!("P{i}"), 100, 10).await);
    }
    let (_, token) = app.signup("quin").await;
    let cart = app.create_cart(&token).await;
    // Each acknowledged add shows on the next page read.
    for n in 1..=4 {
        assert_eq!(
            app.add(&token, cart, products[0], 1).await.status(),
            StatusCode::OK
        );
        assert_eq!(listed(&app).await[0], (products[0], 10 - n, n));
    }
    let r = app
        .put_json(
            &format!("/products/{}", products[1]),
            Some(&admin),
            &serde_json::json!({ "name": "P1", "price_cents": 100, "stock": 7 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(listed(&app).await[1], (products[1], 7, 0));

    // After a restart no actor runs; a page of every product starts none, and shows the same.
    let app = app.restart().await;
    assert_eq!(live_products(&app).await, 0);
    let page = listed(&app).await;
    assert_eq!(live_products(&app).await, 0, "the page started actors");
    let mut expected: Vec<_> = products.iter().map(|&id| (id, 10, 0)).collect();
    expected[0] = (products[0], 6, 4);
    expected[1] = (products[1], 7, 0);
    assert_eq!(page, expected);
}

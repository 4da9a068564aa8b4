use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_admin_creates_a_product_and_anyone_can_read_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .post_json(
            "/products",
            Some(&admin),
            &json!({ "name": "Tea", "price_cents": 250, "stock": 10 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = json_of(r).await;
    assert_eq!(created["name"], "Tea");
    assert_eq!(created["price_cents"], 250);
    assert_eq!(created["stock"], 10);
    assert_eq!(created["reserved"], 0);
    let id = created["id"].as_u64().unwrap();
    assert_eq!(app.product(id).await, created);
}

#[tokio::test]
async fn creating_a_product_needs_a_token_and_admin_rights() {
    let app = spawn_app().await;
    let (_, user) = app.signup("ivan").await;
    let body = json!({ "name": "Tea", "price_cents": 250, "stock": 10 });
    let anonymous = app.post_json("/products", None, &body).await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.post_json("/products", Some(&user), &body).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let list = json_of(app.get("/products", None).await).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn product_names_are_unique() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_product(&admin, "Tea", 250, 10).await;
    let r = app
        .post_json(
            "/products",
            Some(&admin),
            &json!({ "name": "Tea", "price_cents": 1, "stock": 1 }),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "product_name_taken").await;
}

#[tokio::test]
async fn invalid_product_fields_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases = [
        (json!({ "name": "", "price_cents": 1, "stock": 1 }), "name"),
        (
            json!({ "name": "x".repeat(201), "price_cents": 1, "stock": 1 }),
            "name",
        ),
        (
            json!({ "name": "Tea", "price_cents": -1, "stock": 1 }),
            "price_cents",
        ),
        (
            json!({ "name": "Tea", "price_cents": 1, "stock": -1 }),
            "stock",
        ),
    ];
    for (body, field) in cases {
        let r = app.post_json("/products", Some(&admin), &body).await;
        let err = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(err["field"], field, "{body}");
    }
    for body in [
        json!({ "name": "Tea", "price_cents": 2.5, "stock": 1 }),
        json!({ "name": "Tea", "price_cents": "250", "stock": 1 }),
        json!({ "name": "Tea", "price_cents": 1, "stock": 1e30 }),
        json!({ "name": "Tea", "price_cents": 1 }),
    ] {
        let r = app.post_json("/products", Some(&admin), &body).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let list = json_of(app.get("/products", None).await).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn an_unknown_product_is_404() {
    let app = spawn_app().await;
    assert_error(
        app.get("/products/999", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/products/abc", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn updating_sets_name_price_and_available_stock_but_keeps_holds() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, user) = app.signup("judy").await;
    let cart = app.create_cart(&user).await;
    assert_eq!(app.add(&user, cart, tea, 4).await.status(), StatusCode::OK);

    let r = app
        .put_json(
            &format!("/products/{tea}"),
            Some(&admin),
            &json!({ "name": "Green tea", "price_cents": 300, "stock": 2 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p = json_of(r).await;
    assert_eq!(p["name"], "Green tea");
    assert_eq!(
        (p["stock"].as_u64(), p["reserved"].as_u64()),
        (Some(2), Some(4))
    );
    // The cart shows the current name and price.
    let c = app.cart(&user, cart).await;
    assert_eq!(c["items"][0]["name"], "Green tea");
    assert_eq!(c["total_cents"], 1200);
    // The old name is free again; the new one is taken.
    app.create_product(&admin, "Tea", 100, 1).await;
    let r = app
        .post_json(
            "/products",
            Some(&admin),
            &json!({ "name": "Green tea", "price_cents": 1, "stock": 1 }),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "product_name_taken").await;
}

#[tokio::test]
async fn renaming_to_a_taken_name_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    app.create_product(&admin, "Coffee", 400, 5).await;
    let before = app.product(tea).await;
    let r = app
        .put_json(
            &format!("/products/{tea}"),
            Some(&admin),
            &json!({ "name": "Coffee", "price_cents": 1, "stock": 0 }),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "product_name_taken").await;
    assert_eq!(app.product(tea).await, before);
    let (_, user) = app.signup("kim").await;
    let r = app
        .put_json(
            &format!("/products/{tea}"),
            Some(&user),
            &json!({ "name": "Tea", "price_cents": 1, "stock": 0 }),
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .put_json(
            "/products/999",
            Some(&admin),
            &json!({ "name": "Tea", "price_cents": 1, "stock": 0 }),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn listing_pages_through_products_in_id_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_product(&admin, &format!("P{i}"), 100, 1).await);
    }
    let first = json_of(app.get("/products?limit=2", None).await).await;
    let got: Vec<u64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, ids[..2]);
    assert_eq!(first["next"], ids[1]);
    let rest = json_of(
        app.get(&format!("/products?limit=10&after={}", ids[1]), None)
            .await,
    )
    .await;
    let got: Vec<u64> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, ids[2..]);
    assert_eq!(rest["next"], json!(null));
    for bad in ["limit=0", "limit=501", "limit=x", "after=-1"] {
        let r = app.get(&format!("/products?{bad}"), None).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

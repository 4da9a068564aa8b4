use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn setting_a_line_moves_its_hold_up_and_down_exactly() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("amy").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;

    let r = app.set_line(&token, cart, tea, 5).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["items"][0]["quantity"], 5);
    assert_eq!(stock_of(&app, tea).await, (5, 5));
    app.set_line(&token, cart, tea, 1).await;
    assert_eq!(stock_of(&app, tea).await, (9, 1));
    let r = app.set_line(&token, cart, tea, 0).await;
    assert_eq!(json_of(r).await["items"], json!([]));
    assert_eq!(stock_of(&app, tea).await, (10, 0));
    // Setting a product that is not in the cart adds it; setting it to 0 again is a no-op.
    app.set_line(&token, cart, tea, 2).await;
    assert_eq!(stock_of(&app, tea).await, (8, 2));
    assert_eq!(
        app.set_line(&token, cart, tea + 999, 0).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn setting_a_line_beyond_what_is_available_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 4).await;
    let (_, token) = app.signup("ben").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    let before = app.cart(&token, cart).await;
    let err = assert_error(
        app.set_line(&token, cart, tea, 5).await,
        StatusCode::CONFLICT,
        "insufficient_stock",
    )
    .await;
    assert_eq!(err["available"], 1);
    assert_eq!(app.cart(&token, cart).await, before);
    assert_eq!(stock_of(&app, tea).await, (1, 3));
    for q in [-1, 10_001] {
        let r = app.set_line(&token, cart, tea, q).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn removing_a_line_releases_its_hold() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let cake = app.create_product(&admin, "Cake", 100, 10).await;
    let (_, token) = app.signup("cleo").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    app.add(&token, cart, cake, 2).await;

    let r = app
        .delete(&format!("/carts/{cart}/products/{tea}"), Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["product_id"], cake);
    assert_eq!(stock_of(&app, tea).await, (10, 0));
    assert_eq!(stock_of(&app, cake).await, (8, 2));
    let again = app
        .delete(&format!("/carts/{cart}/products/{tea}"), Some(&token))
        .await;
    assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn abandoning_releases_every_hold_and_closes_the_cart() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let cake = app.create_product(&admin, "Cake", 100, 10).await;
    let (_, token) = app.signup("dora").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    app.add(&token, cart, cake, 2).await;

    let r = app.delete(&format!("/carts/{cart}"), Some(&token)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(stock_of(&app, tea).await, (10, 0));
    assert_eq!(stock_of(&app, cake).await, (10, 0));
    let c = app.cart(&token, cart).await;
    assert_eq!(c["status"], "abandoned");
    assert!(c["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["reserved"] == false));

    // A closed cart refuses every change.
    for r in [
        app.add(&token, cart, tea, 1).await,
        app.set_line(&token, cart, tea, 1).await,
        app.delete(&format!("/carts/{cart}/products/{tea}"), Some(&token))
            .await,
        app.checkout(&token, cart).await,
        app.delete(&format!("/carts/{cart}"), Some(&token)).await,
    ] {
        assert_error(r, StatusCode::CONFLICT, "cart_closed").await;
    }
    assert_eq!(stock_of(&app, tea).await, (10, 0));
}

#[tokio::test]
async fn another_users_cart_cannot_be_changed_checked_out_or_abandoned() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, owner) = app.signup("emil").await;
    let (_, other) = app.signup("fay").await;
    let cart = app.create_cart(&owner).await;
    app.add(&owner, cart, tea, 2).await;
    let before = app.cart(&owner, cart).await;
    for r in [
        app.set_line(&other, cart, tea, 5).await,
        app.delete(&format!("/carts/{cart}/products/{tea}"), Some(&other))
            .await,
        app.checkout(&other, cart).await,
        app.delete(&format!("/carts/{cart}"), Some(&other)).await,
    ] {
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(app.cart(&owner, cart).await, before);
    assert_eq!(stock_of(&app, tea).await, (8, 2));
}

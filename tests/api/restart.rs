use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn users_products_carts_and_holds_survive_a_restart() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("vera").await;
    let cart = app.create_cart(&token).await;
    assert_eq!(app.add(&token, cart, tea, 4).await.status(), StatusCode::OK);
    let cart_before = app.cart(&token, cart).await;
    let product_before = app.product(tea).await;

    let app = app.restart().await;

    // Login still works, and so does the token issued before the restart.
    app.token_of("vera", PASSWORD).await;
    assert_eq!(app.get("/me", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(app.product(tea).await, product_before);
    assert_eq!(app.cart(&token, cart).await, cart_before);
    // The hold is still enforced: only 6 left.
    let err = assert_error(
        app.add(&token, cart, tea, 7).await,
        StatusCode::CONFLICT,
        "insufficient_stock",
    )
    .await;
    assert_eq!(err["available"], 6);
    // New ids do not collide with old ones.
    let other = app.create_cart(&token).await;
    assert_ne!(other, cart);
}

//! The storefront (`GET /`): live stock across shoppers, cart changes, checkout, hold expiry.

use crate::harness::{attempt, available, doc_screenshot, finish, Browser};
use crate::helpers::*;
use std::time::Duration;

/// Logs `username` in through the page's form (the account exists already).
pub async fn log_in(b: &Browser, base: &str, path: &str, username: &str, password: &str) {
    b.goto(&format!("{base}{path}")).await;
    b.fill("#login-username", username).await;
    b.fill("#login-password", password).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("#who", username).await;
}

fn product(id: u64) -> String {
    format!(r#"#product-list [data-product-id="{id}"]"#)
}

/// Adds `quantity` of product `id` from the product list.
async fn add(b: &Browser, id: u64, quantity: u32) {
    b.fill(&format!("#qty-{id}"), &quantity.to_string()).await;
    b.click(&format!("{} form button", product(id))).await;
}

#[tokio::test]
async fn two_shoppers_see_the_last_unit_go_without_a_reload_and_the_second_is_told_only_0_left() {
    let test = "two_shoppers";
    if !available(test) {
        return;
    }
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let teapot = app.create_product(&admin, "Last teapot", 4500, 1).await;
    app.signup("bob").await;
    let a = Browser::start(1280, 900).await;
    let b = Browser::start(390, 844).await; // a phone
    let outcome = attempt(test, &[&a, &b], async {
        // A registers through the page; B logs in on a phone-sized window.
        a.goto(&app.base).await;
        a.fill("#register-username", "ada").await;
        a.fill("#register-password", PASSWORD).await;
        a.click("#register-form button[type=submit]").await;
        a.wait_text("#who", "ada").await;
        log_in(&b, &app.base, "/", "bob", PASSWORD).await;
        let stock = format!("{} .stock", product(teapot));
        a.wait_attr(&stock, "data-stock", "1").await;
        b.wait_attr(&stock, "data-stock", "1").await;
        // A mark on B's page: gone if the page reloads.
        b.client
            .execute("window.notReloaded = true", vec![])
            .await
            .unwrap();

        add(&a, teapot, 1).await;
        a.wait_text("#cart-count", "(1)").await;
        b.wait_attr(&stock, "data-stock", "0").await;
        b.wait_text(&stock, "0 left").await;
        let same_page = b
            .client
            .execute("return window.notReloaded === true", vec![]);
        assert_eq!(same_page.await.unwrap(), serde_json::json!(true));

        add(&b, teapot, 1).await;
        let refused = b.wait_text(&format!("#add-error-{teapot}"), "only 0").await;
        assert!(refused.contains("left"), "{refused}");
        b.wait_text("#alert", "only 0").await; // announced (role=alert)
        assert_eq!(stock_of(&app, teapot).await, (0, 1));
    })
    .await;
    a.close().await;
    b.close().await;
    finish(outcome);
}

#[tokio::test]
async fn a_shopper_changes_and_removes_lines_then_checks_out_and_the_stock_drops() {
    let test = "cart_and_checkout";
    if !available(test) {
        return;
    }
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Green tea", 450, 5).await;
    let cake = app.create_product(&admin, "Lemon cake", 320, 3).await;
    app.create_product(&admin, "Teapot", 2900, 8).await;
    app.signup("cleo").await;
    let br = Browser::start(1280, 900).await;
    let outcome = attempt(test, &[&br], async {
        log_in(&br, &app.base, "/", "cleo", PASSWORD).await;
        add(&br, tea, 2).await;
        br.wait_text("#cart-count", "(1)").await;
        add(&br, cake, 1).await;
        br.wait_text("#cart-count", "(2)").await;
        br.wait_attr(&format!("{} .stock", product(cake)), "data-stock", "2")
            .await;

        br.click(r#"nav [data-view="cart"]"#).await;
        let line = |id: u64| format!(r#"#cart [data-product-id="{id}"]"#);
        br.wait_text(&format!("{} .hold", line(tea)), "Held for you for")
            .await;
        doc_screenshot(&br, "storefront-cart.png").await;
        br.fill(&format!("#line-qty-{tea}"), "3").await;
        br.click(&format!("{} .controls button.secondary", line(tea)))
            .await;
        br.wait_text("#status", "quantity set to 3").await;
        assert_eq!(stock_of(&app, tea).await, (2, 3));
        br.click(&format!("{} button.danger", line(cake))).await;
        br.wait_text("#status", "removed").await;
        assert!(!br.shown(&line(cake)).await);
        assert_eq!(stock_of(&app, cake).await, (3, 0));

        br.click("#checkout").await;
        let confirmed = br.wait_text("#order-confirmation", "is confirmed").await;
        let order = app.orders(&app.token_of("cleo", PASSWORD).await).await[0]["id"]
            .as_u64()
            .unwrap();
        assert!(confirmed.contains(&format!("Order {order}")), "{confirmed}");
        br.wait_for(&format!(r#"#order-list [data-order-id="{order}"]"#))
            .await;
        assert_eq!(stock_of(&app, tea).await, (2, 0));
        br.click(r#"nav [data-view="products"]"#).await;
        br.wait_attr(&format!("{} .stock", product(tea)), "data-stock", "2")
            .await;
        doc_screenshot(&br, "storefront.png").await;
    })
    .await;
    br.close().await;
    finish(outcome);
}

#[tokio::test]
async fn a_lapsed_hold_shows_on_screen_and_the_line_can_be_reserved_again() {
    let test = "hold_lapses";
    if !available(test) {
        return;
    }
    let ttl = Duration::from_secs(60);
    let app = spawn_app_with(|c| c.hold_ttl = ttl).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Green tea", 450, 5).await;
    app.signup("dora").await;
    let br = Browser::start(1280, 900).await;
    let outcome = attempt(test, &[&br], async {
        log_in(&br, &app.base, "/", "dora", PASSWORD).await;
        add(&br, tea, 2).await;
        br.wait_text("#cart-count", "(1)").await;
        br.click(r#"nav [data-view="cart"]"#).await;
        let hold = format!(r#"#cart [data-product-id="{tea}"] .hold"#);
        br.wait_text(&hold, "Held for you for").await;

        // The store's clock moves past the TTL; the reaper releases the hold, the stock
        // stream tells the page, and the line says so.
        app.advance_clock(ttl + Duration::from_secs(1));
        br.wait_text(&hold, "Hold lapsed").await;
        assert_eq!(stock_of(&app, tea).await, (5, 0));
        br.click(&format!("{hold} .re-reserve")).await;
        br.wait_text(&hold, "Held for you for").await;
        assert_eq!(stock_of(&app, tea).await, (3, 2));
    })
    .await;
    br.close().await;
    finish(outcome);
}

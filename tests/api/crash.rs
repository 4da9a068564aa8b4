//! A checkout interrupted between its commit steps is finished on recovery: one order, every
//! line sold exactly once, no hold left behind.

use crate::helpers::*;
use reqwest::StatusCode;
use trolley::testing::CrashPlan;

/// Two products in one cart, and the checkout set to crash after selling the first.
async fn cart_about_to_crash(times: u32) -> (TestApp, String, u64, [u64; 2]) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let cake = app.create_product(&admin, "Cake", 400, 10).await;
    let (_, token) = app.signup("ugo").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    app.add(&token, cart, cake, 2).await;
    app.store().crash_checkout(CrashPlan {
        after_commits: 1,
        times,
    });
    (app, token, cart, [tea, cake])
}

async fn assert_sold_once(app: &TestApp, token: &str, cart: u64, [tea, cake]: [u64; 2]) {
    assert_eq!(app.cart(token, cart).await["status"], "checked_out");
    let orders = app.orders(token).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["cart_id"], cart);
    assert_eq!(orders[0]["total_cents"], 3 * 250 + 2 * 400);
    assert_eq!(stock_of(app, tea).await, (7, 0));
    assert_eq!(stock_of(app, cake).await, (8, 0));
}

#[tokio::test]
async fn a_cart_actor_that_dies_mid_checkout_finishes_it_when_restarted() {
    let (app, token, cart, products) = cart_about_to_crash(1).await;
    let r = app.checkout(&token, cart).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    // The supervisor restarts the actor, which resumes the checkout before anything else.
    eventually(PATIENCE, "the checkout to complete", || async {
        let r = app.get(&format!("/carts/{cart}"), Some(&token)).await;
        if r.status() != StatusCode::OK {
            return None;
        }
        (json_of(r).await["status"] == "checked_out").then_some(())
    })
    .await;
    assert_sold_once(&app, &token, cart, products).await;
    // Retrying the checkout does not sell again.
    assert_error(
        app.checkout(&token, cart).await,
        StatusCode::CONFLICT,
        "cart_closed",
    )
    .await;
}

#[tokio::test]
async fn a_checkout_interrupted_until_shutdown_is_finished_at_the_next_start() {
    // Crash more often than the supervisor restarts an actor, so the checkout stays
    // interrupted while this app runs.
    let restarts = trolley::actors::directory::MAX_FAILURES as u32 + 1;
    let (app, token, cart, products) = cart_about_to_crash(restarts).await;
    let r = app.checkout(&token, cart).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    eventually(PATIENCE, "every injected crash", || async {
        (app.store().checkout_crashes_left() == 0).then_some(())
    })
    .await;
    // Half sold, and the cart still open with its intent recorded.
    let tea = products[0];
    assert_eq!(stock_of(&app, tea).await, (7, 0));

    let app = app.restart().await;
    // Start-up resumed the checkout before the app answered anything.
    assert_sold_once(&app, &token, cart, products).await;
}

#[tokio::test]
async fn a_checkout_whose_step_fails_after_its_intent_is_resumed_into_the_same_single_order() {
    use trolley::domain::{CartId, ProductId};
    use trolley::storage::keys;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let cake = app.create_product(&admin, "Cake", 400, 10).await;
    let (_, token) = app.signup("ulla").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    app.add(&token, cart, cake, 2).await;
    // The checkout's intent becomes durable, then securing the cake's hold fails.
    app.store()
        .fail_writes_putting(keys::hold(ProductId(cake), CartId(cart)), 1);

    let r = app.checkout(&token, cart).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    // The cart's actor stops rather than serve with a half-done checkout; its successor
    // resumes the same order, with nobody touching the cart.
    eventually(PATIENCE, "the checkout to be resumed", || async {
        let orders = app.orders(&token).await;
        (!orders.is_empty()).then_some(())
    })
    .await;
    assert_sold_once(&app, &token, cart, [tea, cake]).await;
    // A retry by the client now finds the cart checked out: no second order, no second sale.
    assert_error(
        app.checkout(&token, cart).await,
        StatusCode::CONFLICT,
        "cart_closed",
    )
    .await;
    assert_sold_once(&app, &token, cart, [tea, cake]).await;
}

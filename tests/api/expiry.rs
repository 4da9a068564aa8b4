//! Hold expiry. Holds never lapse on their own during a test (the TTL is a minute); a test
//! makes them lapse by moving the app's clock past the TTL, then polls the API until the
//! reaper (which sweeps every 5 s at this TTL) has released them.

use crate::helpers::*;
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

async fn expiring_app() -> TestApp {
    spawn_app_with(|c| c.hold_ttl = TTL).await
}

/// Moves the clock past every hold taken so far and waits until the reaper has released
/// `product`'s holds.
async fn holds_lapse(app: &TestApp, product: u64) {
    app.advance_clock(TTL + Duration::from_secs(1));
    eventually(PATIENCE, "holds to expire", || async {
        (stock_of(app, product).await.1 == 0).then_some(())
    })
    .await
}

#[tokio::test]
async fn an_idle_carts_hold_expires_and_its_line_stays_unreserved() {
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("nia").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 2).await;

    holds_lapse(&app, tea).await;
    assert_eq!(stock_of(&app, tea).await, (5, 0));
    let c = app.cart(&token, cart).await;
    assert_eq!(c["items"][0]["quantity"], 2);
    assert_eq!(c["items"][0]["reserved"], false);

    // A later add re-reserves the whole line.
    assert_eq!(app.add(&token, cart, tea, 1).await.status(), StatusCode::OK);
    assert_eq!(stock_of(&app, tea).await, (2, 3));
    assert_eq!(app.cart(&token, cart).await["items"][0]["reserved"], true);
}

#[tokio::test]
async fn checkout_re_reserves_an_expired_hold_or_answers_409() {
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 3).await;
    let (_, a) = app.signup("omar").await;
    let (_, b) = app.signup("pia").await;
    let cart_a = app.create_cart(&a).await;
    let cart_b = app.create_cart(&b).await;
    app.add(&a, cart_a, tea, 2).await;
    holds_lapse(&app, tea).await;
    // B takes two of the three while A's line is unreserved.
    app.add(&b, cart_b, tea, 2).await;

    let err = assert_error(
        app.checkout(&a, cart_a).await,
        StatusCode::CONFLICT,
        "insufficient_stock",
    )
    .await;
    assert_eq!(err["product_id"], tea);
    assert_eq!(err["available"], 1);
    assert_eq!(app.cart(&a, cart_a).await["status"], "open");
    assert!(app.orders(&a).await.is_empty());

    // Once B's hold lapses too, A's checkout re-reserves and sells.
    holds_lapse(&app, tea).await;
    assert_eq!(app.checkout(&a, cart_a).await.status(), StatusCode::CREATED);
    assert_eq!(stock_of(&app, tea).await, (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_carts_racing_for_the_last_units_at_checkout_never_oversell() {
    let app = Arc::new(expiring_app().await);
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 2).await;
    let (_, a) = app.signup("quin").await;
    let (_, b) = app.signup("remy").await;
    let cart_a = app.create_cart(&a).await;
    let cart_b = app.create_cart(&b).await;
    app.add(&a, cart_a, tea, 2).await;
    holds_lapse(&app, tea).await;
    app.add(&b, cart_b, tea, 2).await;
    holds_lapse(&app, tea).await;

    // Both lines are unreserved and each wants all the stock.
    let (ra, rb) = tokio::join!(app.checkout(&a, cart_a), app.checkout(&b, cart_b));
    let mut statuses = [ra.status(), rb.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(stock_of(&app, tea).await, (0, 0));
    assert_eq!(app.orders(&a).await.len() + app.orders(&b).await.len(), 1);
}

#[tokio::test]
async fn holds_expire_after_a_restart_even_if_nobody_touches_the_cart() {
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("sia").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 4).await;

    let app = app.restart().await;
    // Only read the product: the cart and its actor stay untouched.
    holds_lapse(&app, tea).await;
    assert_eq!(stock_of(&app, tea).await, (5, 0));
    assert_eq!(app.cart(&token, cart).await["items"][0]["reserved"], false);
}

#[tokio::test]
async fn activity_on_a_cart_pushes_back_the_deadline_of_all_its_holds() {
    use trolley::domain::{CartId, Hold, ProductId};
    use trolley::storage::keys;
    // Activity renews other holds at most every TTL/20 (here 3 s).
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let cake = app.create_product(&admin, "Cake", 100, 100).await;
    let (_, token) = app.signup("tom").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    let store = app.store();
    let tea_hold = || store.get::<Hold>(&keys::hold(ProductId(tea), CartId(cart)));
    let first = tea_hold().unwrap().unwrap().expires_at;

    // Move past the renewal interval, not yet past the TTL.
    app.advance_clock(TTL / 10);
    let before_activity = store.now();
    app.add(&token, cart, cake, 1).await;
    // The renewal runs off the add's reply path: it lands soon after.
    let touched = eventually(PATIENCE, "the tea hold's renewal", || async {
        let at = tea_hold().unwrap().unwrap().expires_at;
        (at > first).then_some(at)
    })
    .await;
    assert!(touched >= before_activity + TTL.as_millis() as u64);
}

#[tokio::test]
async fn activity_renews_the_holds_of_lines_whose_product_actor_was_passivated() {
    use trolley::domain::{CartId, Hold, ProductId};
    use trolley::storage::keys;
    // A long TTL leaves wide margins between the deadlines below however slow the machine;
    // a tiny idle timeout passivates product actors long before any hold lapses.
    let ttl = Duration::from_secs(600);
    let app = spawn_app_with(|c| {
        c.hold_ttl = ttl;
        c.idle_timeout = Duration::from_millis(50);
    })
    .await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let cake = app.create_product(&admin, "Cake", 100, 100).await;
    let (_, token) = app.signup("uma").await;
    // A witness: an idle cart's hold on the same product, taken first, so it lapses no later
    // than the active cart's original deadline and is released by the same expiry pass.
    let idle_cart = app.create_cart(&token).await;
    app.add(&token, idle_cart, tea, 2).await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    app.add(&token, cart, cake, 1).await;
    let store = app.store();
    let hold = |cart: u64| store.get::<Hold>(&keys::hold(ProductId(tea), CartId(cart)));
    let original = hold(cart).unwrap().unwrap().expires_at;

    eventually(PATIENCE, "product actors to passivate", || async {
        let r = json_of(app.get("/readyz", None).await).await;
        (r["live_actors"]["products"] == 0).then_some(())
    })
    .await;
    // Past the renewal interval (TTL/20), well before the TTL: activity on the cake line
    // renews the tea hold, whose product actor is not running.
    app.advance_clock(ttl / 10);
    assert_eq!(
        app.add(&token, cart, cake, 1).await.status(),
        StatusCode::OK
    );
    // The renewal runs off the add's reply path: it lands soon after.
    eventually(PATIENCE, "the tea hold's renewal", || async {
        (hold(cart).unwrap().unwrap().expires_at > original).then_some(())
    })
    .await;
    // Past the original deadline (by TTL/20), well before the renewed one (by TTL/20).
    app.advance_clock(ttl - ttl / 20);
    assert!(store.now() > original);

    eventually(PATIENCE, "the idle cart's hold to lapse", || async {
        hold(idle_cart).unwrap().is_none().then_some(())
    })
    .await;
    let renewed = hold(cart).unwrap().map(|h| h.expires_at);
    assert!(
        renewed.is_some_and(|at| at > store.now()),
        "the active cart's tea hold was renewed, not released: {renewed:?}"
    );
    assert_eq!(stock_of(&app, tea).await, (99, 1));
    assert_eq!(app.cart(&token, cart).await["items"][0]["reserved"], true);
}

#[tokio::test]
async fn a_held_line_says_when_its_hold_lapses_and_a_lapsed_line_does_not() {
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("quinn").await;
    let cart = app.create_cart(&token).await;
    let before = app.store().now();
    app.add(&token, cart, tea, 2).await;
    let after = app.store().now();

    let line = &app.cart(&token, cart).await["items"][0];
    let expires = line["hold_expires_at"]
        .as_str()
        .expect("a held line's expiry");
    let at = humantime::parse_rfc3339(expires).expect("RFC 3339");
    let at = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // Whole seconds: the deadline (add time + TTL) rounded down.
    let ttl = TTL.as_millis() as u64;
    assert!(
        (before + ttl - 1000..=after + ttl).contains(&at),
        "{expires} is not the add time plus the TTL"
    );

    holds_lapse(&app, tea).await;
    let line = &app.cart(&token, cart).await["items"][0];
    assert_eq!(line["reserved"], false);
    assert!(line.get("hold_expires_at").is_none(), "line: {line}");
}

#[tokio::test]
async fn a_line_re_secured_by_a_refused_checkout_shows_the_stored_deadline_before_and_after_a_restart(
) {
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let coffee = app.create_product(&admin, "Coffee", 900, 3).await;
    let (_, a) = app.signup("rafa").await;
    let (_, b) = app.signup("sol").await;
    let cart = app.create_cart(&a).await;
    let other = app.create_cart(&b).await;
    app.add(&a, cart, coffee, 2).await;
    holds_lapse(&app, coffee).await;
    app.add(&b, other, coffee, 2).await;
    app.add(&a, cart, tea, 1).await;
    let shown = |c: &serde_json::Value| c["items"][1]["hold_expires_at"].clone();
    let at_add = shown(&app.cart(&a, cart).await);
    assert!(at_add.is_string(), "tea is held");

    // Less than TTL/20 later the inventory keeps the tea hold's deadline when the checkout
    // re-secures it; the checkout is then refused (coffee), leaving the cart open.
    app.advance_clock(TTL / 60);
    let refused = app.checkout(&a, cart).await;
    assert_error(refused, StatusCode::CONFLICT, "insufficient_stock").await;
    let before = shown(&app.cart(&a, cart).await);
    assert_eq!(before, at_add, "the deadline the inventory stored");

    let app = app.restart().await;
    assert_eq!(shown(&app.cart(&a, cart).await), before);
}

#[tokio::test]
async fn a_durable_add_is_a_success_even_while_renewing_the_carts_other_holds_hangs() {
    use trolley::domain::{CartId, Hold, ProductId};
    use trolley::storage::keys;
    let app = expiring_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100).await;
    let cake = app.create_product(&admin, "Cake", 100, 100).await;
    let (_, token) = app.signup("vera").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    // After a restart no product actor runs and the catalog is empty.
    let app = app.restart().await;
    let store = app.store();
    let tea_hold = || store.get::<Hold>(&keys::hold(ProductId(tea), CartId(cart)));
    let first = tea_hold().unwrap().unwrap().expires_at;

    // Past the renewal interval (TTL/20), the next add renews the tea hold, whose product
    // actor then hangs as it starts; the add's view needs tea's name too.
    app.advance_clock(TTL / 10);
    let (release, until) = tokio::sync::oneshot::channel();
    let _stuck = store.stall_start("product", tea, until);
    let r = app.add(&token, cart, cake, 2).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c = json_of(r).await;
    assert_eq!(c["items"][0]["name"], "Tea");
    assert_eq!(c["items"][1]["quantity"], 2);

    // Released, the renewal finishes.
    release.send(()).unwrap();
    eventually(PATIENCE, "the tea hold's renewal", || async {
        (tea_hold().unwrap().unwrap().expires_at > first).then_some(())
    })
    .await;
}

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn a_failed_cart_actor_is_restarted_with_its_lines_intact() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("walt").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 2).await;
    let before = app.cart(&token, cart).await;
    let old = app.actors().carts.actor(cart).await.unwrap().get_id();

    let restarted = app
        .actors()
        .carts
        .fail_and_await_restart(cart)
        .await
        .unwrap()
        .expect("restarted");
    assert_ne!(restarted, old, "a new actor serves the cart");

    assert_eq!(app.cart(&token, cart).await, before);
    assert_eq!(app.add(&token, cart, tea, 1).await.status(), StatusCode::OK);
    assert_eq!(stock_of(&app, tea).await, (7, 3));
}

#[tokio::test]
async fn a_failed_inventory_actor_comes_back_with_its_holds() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 10).await;
    let (_, token) = app.signup("xena").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 6).await;

    app.actors()
        .inventory
        .fail_and_await_restart(tea)
        .await
        .unwrap()
        .expect("restarted");
    assert_eq!(stock_of(&app, tea).await, (4, 6));
    let err = assert_error(
        app.add(&token, cart, tea, 5).await,
        StatusCode::CONFLICT,
        "insufficient_stock",
    )
    .await;
    assert_eq!(err["available"], 4);
}

#[tokio::test]
async fn a_stuck_actor_costs_a_prompt_503_not_a_hung_request() {
    // Short enough to keep the test quick, long enough that the other requests here never
    // hit it on a loaded machine.
    let app = spawn_app_with(|c| c.call_timeout = Duration::from_secs(2)).await;
    let (_, token) = app.signup("yuri").await;
    let cart = app.create_cart(&token).await;
    let (release, stalled) = tokio::sync::oneshot::channel();
    app.actors().carts.stall(cart, stalled).await.unwrap();

    let r = app.get(&format!("/carts/{cart}"), Some(&token)).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // Other carts are unaffected while this one is stuck.
    let other = app.create_cart(&token).await;
    assert_eq!(
        app.get(&format!("/carts/{other}"), Some(&token))
            .await
            .status(),
        StatusCode::OK
    );

    release.send(()).unwrap();
    assert_eq!(
        app.get(&format!("/carts/{cart}"), Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn readyz_reports_live_actors_and_healthz_answers() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["status"], "ready");
    assert!(body["live_actors"]["users"].as_u64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actor_failures_during_load_cost_only_that_actors_requests() {
    let app = std::sync::Arc::new(spawn_app().await);
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 100_000).await;
    let (_, token) = app.signup("zoe").await;
    let mut carts = Vec::new();
    for _ in 0..6 {
        carts.push(app.create_cart(&token).await);
    }
    let victim = carts[0];
    let mut load = tokio::task::JoinSet::new();
    for &cart in &carts {
        let (app, token) = (app.clone(), token.clone());
        load.spawn(async move {
            let mut ok = 0u64;
            for _ in 0..40 {
                match app.add(&token, cart, tea, 1).await.status() {
                    StatusCode::OK => ok += 1,
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(cart, victim, "only the victim fails")
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            (cart, ok)
        });
    }
    for _ in 0..3 {
        // Each failure is followed by a restart from storage.
        let _ = app
            .actors()
            .carts
            .fail_and_await_restart(victim)
            .await
            .unwrap();
    }
    let mut acknowledged = std::collections::HashMap::new();
    while let Some(r) = load.join_next().await {
        let (cart, ok) = r.unwrap();
        acknowledged.insert(cart, ok);
    }
    // Every cart holds exactly what was acknowledged: a failed actor drops only requests it
    // had not started, and the restarted one has every acknowledged line.
    let mut total = 0;
    for &cart in &carts {
        let q = app.cart(&token, cart).await["items"][0]["quantity"]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(q, acknowledged[&cart], "cart {cart}");
        total += q;
    }
    assert_eq!(stock_of(&app, tea).await, (100_000 - total, total));
    for &cart in &carts[1..] {
        assert_eq!(acknowledged[&cart], 40);
    }
}

#[tokio::test]
async fn a_stalled_disk_costs_a_bounded_503_and_the_write_lands_once_it_recovers() {
    use trolley::storage::keys;
    let app = spawn_app_with(|c| c.call_timeout = Duration::from_secs(1)).await;
    let (_, token) = app.signup("vera").await;
    // The disk stalls for new users and new carts.
    let users = app.store().hold_writes_putting(keys::USERS.to_vec(), 1);
    let carts = app.store().hold_writes_putting(b"c/".to_vec(), 1);

    let r = app.register("wanda", PASSWORD).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let r = app
        .post_json("/carts", Some(&token), &serde_json::json!({}))
        .await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    // The outcome was unknown, not failed: once the disk answers, the registration is there.
    users.release();
    carts.release();
    eventually(PATIENCE, "the held registration to land", || async {
        (app.login("wanda", PASSWORD).await.status() == StatusCode::OK).then_some(())
    })
    .await;
}

//! The operator console (`GET /console`): the live event feed across a server restart,
//! products editing with inline errors, and no console for a non-admin.

use crate::harness::{attempt, available, doc_screenshot, finish, Browser};
use crate::helpers::*;
use crate::storefront::log_in;
use std::time::Duration;
use trolley::App;

/// Stops the app and starts it again on the same data dir and the same port, so an open page
/// can reconnect to it.
async fn restart_on_the_same_port(app: TestApp) -> TestApp {
    let TestApp {
        base,
        client,
        app: running,
        data_dir,
        mut config,
    } = app;
    let running = running.expect("app running");
    config.addr = running.addr;
    running.shutdown().await;
    let started = eventually(PATIENCE, "the app to listen on its port again", || async {
        App::start(config.clone()).await.ok()
    })
    .await;
    TestApp {
        base,
        client,
        app: Some(started),
        data_dir,
        config,
    }
}

/// The feed's entries as `(seq, type)`, in the order shown.
async fn feed(b: &Browser) -> Vec<(u64, String)> {
    let script = "return [...document.querySelectorAll('#feed li')]
        .map(li => [Number(li.dataset.seq), li.dataset.type])";
    let rows = b.client.execute(script, vec![]).await.expect("feed read");
    serde_json::from_value(rows).expect("(seq, type) pairs")
}

/// Waits until the feed shows `n` entries of `kind`; returns the whole feed.
async fn feed_with(b: &Browser, kind: &str, n: usize) -> Vec<(u64, String)> {
    eventually(PATIENCE, &format!("{n} × {kind} in the feed"), || async {
        let rows = feed(b).await;
        (rows.iter().filter(|(_, t)| t == kind).count() >= n).then_some(rows)
    })
    .await
}

fn seq_of(rows: &[(u64, String)], kind: &str) -> u64 {
    rows.iter().find(|(_, t)| t == kind).expect(kind).0
}

#[tokio::test]
async fn the_feed_shows_reservation_then_checkout_and_resumes_after_a_restart_without_gap_or_repeat(
) {
    let test = "console_feed";
    if !available(test) {
        return;
    }
    let app = spawn_app_with(|c| c.shutdown_timeout = Duration::from_secs(1)).await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Green tea", 450, 50).await;
    app.create_product(&admin, "Lemon cake", 320, 12).await;
    let (_, token) = app.signup("eli").await;
    let br = Browser::start(1280, 1100).await;
    let outcome = attempt(test, &[&br], async {
        log_in(&br, &app.base, "/console", ADMIN, ADMIN_PASSWORD).await;
        br.wait_attr("#feed-state", "data-state", "live").await;
        let cart = app.create_cart(&token).await;
        assert_eq!(app.add(&token, cart, tea, 3).await.status(), 200);
        assert_eq!(app.checkout(&token, cart).await.status(), 201);
        let rows = feed_with(&br, "CartCheckedOut", 1).await;
        assert!(seq_of(&rows, "StockReserved") < seq_of(&rows, "CartCheckedOut"));
        br.wait_for(&format!(r#"#chart g[data-product-id="{tea}"]"#))
            .await;
        br.wait_text(r#"[data-figure="status"]"#, "ready").await;
        // Group-commit figures from the /metrics histograms: the checkout's flushes show.
        br.wait_text(r#"[data-figure="flush + sync (p99)"]"#, " ms")
            .await;
        br.wait_text(
            &format!(r#"#catalog [data-product-id="{tea}"] .reserved"#),
            "0",
        )
        .await;
        app
    })
    .await;
    let app = match outcome {
        Ok(app) => app,
        Err(e) => {
            br.close().await;
            return finish(Err(e));
        }
    };

    let app = restart_on_the_same_port(app).await;
    let outcome = attempt(test, &[&br], async {
        let token = app.token_of("eli", PASSWORD).await;
        let cart = app.create_cart(&token).await;
        assert_eq!(app.add(&token, cart, tea, 1).await.status(), 200);
        let rows = feed_with(&br, "StockReserved", 2).await;
        let seqs: Vec<u64> = rows.iter().map(|(s, _)| *s).collect();
        let expected: Vec<u64> = (seqs[0]..seqs[0] + seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "a gap or a repeat in {rows:?}");
        br.wait_attr("#feed-state", "data-state", "live").await;
        doc_screenshot(&br, "console.png").await;
    })
    .await;
    br.close().await;
    finish(outcome.map(drop));
}

#[tokio::test]
async fn an_admin_creates_and_edits_products_with_the_apis_errors_shown_inline() {
    let test = "console_products";
    if !available(test) {
        return;
    }
    let app = spawn_app().await;
    let br = Browser::start(1280, 900).await;
    let outcome = attempt(test, &[&br], async {
        log_in(&br, &app.base, "/console", ADMIN, ADMIN_PASSWORD).await;
        br.fill("#new-price_cents", "250").await;
        br.fill("#new-stock", "4").await;
        br.click("#new-product button[type=submit]").await;
        br.wait_text("#new-name-error", "name").await;
        br.wait_attr("#new-name", "aria-invalid", "true").await;

        br.fill("#new-name", "Kettle").await;
        br.click("#new-product button[type=submit]").await;
        br.wait_text("#status", "Created Kettle").await;
        let id: u64 = app
            .get("/products", None)
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["items"][0]["id"]
            .as_u64()
            .unwrap();
        let row = format!(r#"#catalog [data-product-id="{id}"]"#);
        br.wait_for(&row).await;
        br.fill(&format!("#product-{id}-price_cents"), "-5").await;
        br.click(&format!("{row} button")).await;
        br.wait_text(&format!("#product-{id}-price_cents-error"), "price")
            .await;
        assert_eq!(app.product(id).await["price_cents"], 250);

        br.fill(&format!("#product-{id}-price_cents"), "1999").await;
        br.fill(&format!("#product-{id}-stock"), "9").await;
        br.click(&format!("{row} button")).await;
        br.wait_text("#status", "Saved Kettle").await;
        let p = app.product(id).await;
        assert_eq!(
            (p["price_cents"].as_i64(), p["stock"].as_u64()),
            (Some(1999), Some(9))
        );
    })
    .await;
    br.close().await;
    finish(outcome);
}

#[tokio::test]
async fn a_shopper_who_is_not_an_admin_gets_no_console() {
    let test = "console_not_admin";
    if !available(test) {
        return;
    }
    let app = spawn_app().await;
    app.signup("finn").await;
    let br = Browser::start(1280, 900).await;
    let outcome = attempt(test, &[&br], async {
        log_in(&br, &app.base, "/console", "finn", PASSWORD).await;
        br.wait_text("#denied", "for administrators").await;
        assert!(br.shown("#denied").await);
        assert!(
            !br.shown("#admin").await,
            "the console's features are shown"
        );
        assert!(!br.shown("#feed-state").await);
        assert!(feed(&br).await.is_empty());
    })
    .await;
    br.close().await;
    finish(outcome);
}

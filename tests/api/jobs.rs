//! The maintenance jobs run independently: one that keeps failing is left stopped, shown as
//! such in `/readyz` and the metrics, and the others (hold expiry above all) go on.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;
use trolley::storage::keys;

#[tokio::test]
async fn a_session_purge_that_keeps_failing_is_shown_stopped_and_holds_still_expire() {
    let token_ttl = Duration::from_secs(3600);
    let hold_ttl = Duration::from_millis(500);
    // A short hold TTL makes every job sweep often.
    let app = spawn_app_with(|c| {
        c.token_ttl = token_ttl;
        c.hold_ttl = hold_ttl;
    })
    .await;
    app.signup("kim").await;
    // Kim's session expires, and every attempt to purge it fails.
    app.store()
        .fail_writes_removing(keys::SESSIONS.to_vec(), usize::MAX);
    app.advance_clock(token_ttl + Duration::from_secs(1));

    let ready = eventually(PATIENCE, "the session purge to be left stopped", || async {
        let r = app.get("/readyz", None).await;
        let body = json_of(r).await;
        (body["jobs"]["session_purge"]["running"] == false).then_some(body)
    })
    .await;
    let purge = &ready["jobs"]["session_purge"];
    assert!(purge["failures"].as_u64().unwrap() > 5, "{ready}");
    assert!(purge["last_error"].is_string(), "{ready}");
    for job in [
        "hold_expiry",
        "checkout_resume",
        "idempotency_sweep",
        "log_retention",
    ] {
        assert_eq!(ready["jobs"][job]["running"], true, "{job}: {ready}");
    }
    // The recorder is the process's: another test's app scraping at the same moment can set
    // the gauge for its own jobs between this scrape's setting and rendering it, so scrape
    // again until this app's view comes through whole.
    let series = [
        "trolley_job_running{job=\"session_purge\"} 0",
        "trolley_job_running{job=\"hold_expiry\"} 1",
        "trolley_job_failures_total{job=\"session_purge\"} ",
    ];
    eventually(PATIENCE, "the metrics to show the stopped job", || async {
        let metrics = app.get("/metrics", None).await.text().await.unwrap();
        series.iter().all(|s| metrics.contains(s)).then_some(())
    })
    .await;

    // With the purge stopped, a hold taken now still lapses and is released.
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("moe").await;
    let cart = app.create_cart(&token).await;
    assert_eq!(app.add(&token, cart, tea, 2).await.status(), StatusCode::OK);
    assert_eq!(stock_of(&app, tea).await, (3, 2));
    app.advance_clock(hold_ttl * 2);
    eventually(PATIENCE, "the lapsed hold to be released", || async {
        (stock_of(&app, tea).await == (5, 0)).then_some(())
    })
    .await;
}

//! Event-log retention while serving: `POST /admin/events/trim`, `--events-retain` and
//! `--events-retain-count`, never trimming what the stats subscriber still needs, and a 410
//! `events_trimmed` for readers resuming from a trimmed position.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

impl TestApp {
    /// Creates `n` products (one event each) and waits until the stats subscriber has read
    /// the whole log: returns the head.
    async fn events_handled(&self, admin: &str, n: usize, tag: &str) -> u64 {
        let mut last = 0;
        for i in 0..n {
            last = self
                .create_product(admin, &format!("{tag}-{i}"), 100, 1)
                .await;
        }
        let head = self.store().head();
        let head = *head.borrow();
        eventually(PATIENCE, "the stats subscriber to catch up", || async {
            let s = json_of(self.get(&format!("/products/{last}/stats"), None).await).await;
            (s["as_of_seq"] == head).then_some(())
        })
        .await;
        head
    }

    async fn trim(&self, admin: &str, body: Value) -> reqwest::Response {
        self.post_json("/admin/events/trim", Some(admin), &body)
            .await
    }

    async fn first_seq(&self, admin: &str) -> Option<u64> {
        let r = self.get("/events?limit=1", Some(admin)).await;
        assert_eq!(r.status(), StatusCode::OK);
        json_of(r).await["events"][0]["seq"].as_u64()
    }

    async fn stream_from(&self, admin: &str, last_event_id: u64) -> reqwest::Response {
        self.client
            .get(self.url("/events/stream"))
            .bearer_auth(admin)
            .header("last-event-id", last_event_id.to_string())
            .send()
            .await
            .expect("request sent")
    }
}

#[tokio::test]
async fn an_admin_trims_the_log_while_serving_and_readers_of_trimmed_positions_get_410() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let head = app.events_handled(&admin, 4, "p").await;

    let r = app.trim(&admin, json!({ "before": head }).clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = json_of(r).await;
    assert_eq!(done["removed"], head - 1);
    assert_eq!(done["oldest_seq"], head);
    assert_eq!(done["head_seq"], head);
    assert_eq!(app.first_seq(&admin).await, Some(head));

    // Resuming from a trimmed position: 410 naming the oldest sequence left.
    let gone = assert_error(
        app.get("/events?after=1", Some(&admin)).await,
        StatusCode::GONE,
        "events_trimmed",
    )
    .await;
    assert_eq!(gone["oldest_seq"], head);
    let gone = assert_error(
        app.stream_from(&admin, 0).await,
        StatusCode::GONE,
        "events_trimmed",
    )
    .await;
    assert_eq!(gone["oldest_seq"], head);
    // The public stock feed reads the same log: the same answer.
    let gone = assert_error(
        app.client
            .get(app.url("/products/stream"))
            .header("last-event-id", "0")
            .send()
            .await
            .expect("request sent"),
        StatusCode::GONE,
        "events_trimmed",
    )
    .await;
    assert_eq!(gone["oldest_seq"], head);
    // From just before the oldest event on, nothing is missing.
    let r = app
        .get(&format!("/events?after={}", head - 1), Some(&admin))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["events"][0]["seq"], head);
    assert_eq!(
        app.stream_from(&admin, head - 1).await.status(),
        StatusCode::OK
    );

    // The server goes on, and numbers continue after the old head.
    let later = app.events_handled(&admin, 1, "q").await;
    assert_eq!(later, head + 1);
}

#[tokio::test]
async fn a_position_past_the_log_head_is_409_naming_head_seq_on_every_reader() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let head = app.events_handled(&admin, 2, "p").await;

    // The head itself is a fine position: nothing yet, then what comes.
    let r = app
        .get(&format!("/events?after={head}"), Some(&admin))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["events"], json!([]));

    // One past it (a made-up id, or one from before a restore) is refused, not followed.
    let ahead = head + 1;
    let refused = assert_error(
        app.get(&format!("/events?after={ahead}"), Some(&admin))
            .await,
        StatusCode::CONFLICT,
        "position_ahead_of_log",
    )
    .await;
    assert_eq!(refused["head_seq"], head);
    let refused = assert_error(
        app.stream_from(&admin, ahead).await,
        StatusCode::CONFLICT,
        "position_ahead_of_log",
    )
    .await;
    assert_eq!(refused["head_seq"], head);
    for position in [format!("?after={ahead}"), format!("?after={}", u64::MAX)] {
        let r = app.get(&format!("/products/stream{position}"), None).await;
        let refused = assert_error(r, StatusCode::CONFLICT, "position_ahead_of_log").await;
        assert_eq!(refused["head_seq"], head);
    }
    assert_eq!(app.first_seq(&admin).await, Some(1), "nothing changed");
}

#[tokio::test]
async fn a_trim_that_would_remove_what_a_subscriber_still_needs_is_refused_unchanged() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let head = app.events_handled(&admin, 2, "p").await;
    // The projection now fails on every batch: its offset stays where it is.
    stall_the_stats_subscriber(&app);
    app.create_product(&admin, "unread", 100, 1).await;

    let refused = assert_error(
        app.trim(&admin, json!({ "before": head + 2 })).await,
        StatusCode::CONFLICT,
        "events_still_needed",
    )
    .await;
    assert_eq!(refused["max_before"], head + 1);
    assert_eq!(app.first_seq(&admin).await, Some(1), "nothing was trimmed");

    // Bad input changes nothing either.
    for body in [
        json!({ "before": -1 }),
        json!({ "before": null }),
        json!({ "after": 3 }),
        json!([]),
    ] {
        assert_error(
            app.trim(&admin, body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    let (_, user) = app.signup("mallory").await;
    assert_error(
        app.trim(&user, json!({ "before": 2 })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(app.first_seq(&admin).await, Some(1));
}

#[tokio::test]
async fn retention_by_count_and_by_age_never_passes_a_stalled_subscriber() {
    let app = spawn_app_with(|c| {
        c.events_retain_count = Some(3);
        c.events_retain = Some(std::time::Duration::from_secs(3600));
        // The reaper, which applies the retention, sweeps every tenth of this.
        c.hold_ttl = std::time::Duration::from_secs(1);
    })
    .await;
    let admin = app.admin_token().await;
    let head = app.events_handled(&admin, 6, "p").await;

    // An empty body applies the configured policy now: the 3 newest events stay.
    let done = json_of(app.trim(&admin, json!({})).await).await;
    assert_eq!(done["oldest_seq"], head - 2, "{done}");
    assert_eq!(app.first_seq(&admin).await, Some(head - 2));

    // A stalled subscriber holds retention back, whatever the age and count say.
    stall_the_stats_subscriber(&app);
    for i in 0..4 {
        app.create_product(&admin, &format!("late-{i}"), 100, 1)
            .await;
    }
    app.advance_clock(std::time::Duration::from_secs(7200));
    let done = json_of(app.trim(&admin, json!({})).await).await;
    assert_eq!(done["oldest_seq"], head + 1, "{done}");
    assert_eq!(done["head_seq"], head + 4);

    // Restarted, the subscriber catches up, and the server trims on its own schedule (the
    // restarted store's clock is real again, and its write faults are gone: only the count
    // applies).
    let app = app.restart().await;
    eventually(PATIENCE, "the reaper to apply the retention", || async {
        (app.first_seq(&admin).await == Some(head + 2)).then_some(())
    })
    .await;
}

/// Makes every write of the sales projection's batches (each puts its offset) fail, so the
/// subscriber stays where it is.
fn stall_the_stats_subscriber(app: &TestApp) {
    use trolley::actors::{bus::Projection, stats::SalesStats};
    let offset = trolley::storage::keys::subscriber(SalesStats::NAME);
    app.store().fail_writes_putting(offset, usize::MAX);
}

#[tokio::test]
async fn a_subscriber_that_would_start_on_a_trimmed_log_stops_the_server_from_starting() {
    use trolley::actors::{bus::Projection, stats::SalesStats};
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let head = app.events_handled(&admin, 3, "p").await;
    let r = app.trim(&admin, json!({ "before": head })).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The stats projection forgets how far it got, as a new projection would start: at 0.
    let offset = trolley::storage::keys::subscriber(SalesStats::NAME);
    let forget = trolley::storage::Unit::default().remove(offset);
    app.store().write(forget).await.expect("written");

    let TestApp {
        app: running,
        data_dir,
        config,
        ..
    } = app;
    running.expect("app running").shutdown().await;
    let refused = trolley::App::start(config)
        .await
        .err()
        .map(|e| e.to_string());
    let refused = refused.expect("the server refuses to start on a partial history");
    assert!(
        refused.contains("trimmed up to event") && refused.contains(SalesStats::NAME),
        "{refused}"
    );
    drop(data_dir);
}

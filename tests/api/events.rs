use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

impl TestApp {
    /// Events after `after`, as `(type, data)`.
    async fn events_after(&self, admin: &str, after: u64) -> Vec<Value> {
        let r = self
            .get(&format!("/events?after={after}&limit=1000"), Some(admin))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        json_of(r).await["events"].as_array().unwrap().clone()
    }

    async fn head(&self, admin: &str) -> u64 {
        self.events_after(admin, 0)
            .await
            .last()
            .map_or(0, |e| e["seq"].as_u64().unwrap())
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_action_appends_exactly_its_events_in_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let cake = app.create_product(&admin, "Cake", 100, 5).await;
    let (_, token) = app.signup("eve").await;
    let cart = app.create_cart(&token).await;

    // (what to do, the event types it must append)
    type Step<'a> = (&'a str, Vec<&'a str>);
    let steps: Vec<Step> = vec![
        ("register", vec!["UserRegistered"]),
        ("create product", vec!["ProductCreated"]),
        ("update product", vec!["ProductUpdated"]),
        ("create cart", vec!["CartCreated"]),
        ("add", vec!["StockReserved", "ProductAdded"]),
        ("add too many", vec!["StockRejected"]),
        ("set lower", vec!["StockReleased", "LineQuantitySet"]),
        ("add cake", vec!["StockReserved", "ProductAdded"]),
        ("remove cake", vec!["StockReleased", "LineQuantitySet"]),
        ("checkout", vec!["StockCommitted", "CartCheckedOut"]),
        ("abandon", vec!["StockReleased", "CartAbandoned"]),
        ("login", vec![]),
    ];
    for (action, expected) in steps {
        let before = app.head(&admin).await;
        let status = match action {
            "register" => app.register("frida", PASSWORD).await.status(),
            "create product" => app
                .post_json(
                    "/products",
                    Some(&admin),
                    &json!({ "name": "Jam", "price_cents": 300, "stock": 1 }),
                )
                .await
                .status(),
            "update product" => app
                .put_json(
                    &format!("/products/{tea}"),
                    Some(&admin),
                    &json!({ "name": "Tea", "price_cents": 260, "stock": 5 }),
                )
                .await
                .status(),
            "create cart" => app
                .post_json("/carts", Some(&token), &json!({}))
                .await
                .status(),
            "add" => app.add(&token, cart, tea, 3).await.status(),
            "add too many" => app.add(&token, cart, tea, 3).await.status(),
            "set lower" => app.set_line(&token, cart, tea, 2).await.status(),
            "add cake" => app.add(&token, cart, cake, 1).await.status(),
            "remove cake" => app
                .delete(&format!("/carts/{cart}/products/{cake}"), Some(&token))
                .await
                .status(),
            "checkout" => app.checkout(&token, cart).await.status(),
            "abandon" => {
                let other = app.create_cart(&token).await;
                app.add(&token, other, cake, 1).await;
                let before = app.head(&admin).await;
                let s = app
                    .delete(&format!("/carts/{other}"), Some(&token))
                    .await
                    .status();
                let got = types(&app.events_after(&admin, before).await);
                assert_eq!(got, expected, "{action}");
                assert_eq!(s, StatusCode::NO_CONTENT);
                continue;
            }
            "login" => app.login("eve", PASSWORD).await.status(),
            other => unreachable!("{other}"),
        };
        assert!(
            status.is_success() || status == StatusCode::CONFLICT,
            "{action}: {status}"
        );
        let got = types(&app.events_after(&admin, before).await);
        assert_eq!(got, expected, "{action}");
    }
}

#[tokio::test]
async fn events_carry_gap_free_sequences_timestamps_and_payloads() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (me, token) = app.signup("gil").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 2).await;

    let all = app.events_after(&admin, 0).await;
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let added = all.iter().find(|e| e["type"] == "ProductAdded").unwrap();
    assert_eq!(
        added["data"],
        json!({ "cart_id": cart, "product_id": tea, "quantity": 2, "line_quantity": 2 })
    );
    assert!(added["at"].as_str().unwrap().ends_with('Z'));
    let registered = all
        .iter()
        .find(|e| e["type"] == "UserRegistered" && e["data"]["user_id"] == me);
    assert!(registered.is_some());

    // Paging: `next_after` continues where a page ended.
    let page = json_of(app.get("/events?after=0&limit=2", Some(&admin)).await).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_after"], 2);
}

#[tokio::test]
async fn the_event_log_is_for_admins_only() {
    let app = spawn_app().await;
    let (_, token) = app.signup("hal").await;
    assert_error(
        app.get("/events", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/events", Some(&token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.get("/events/stream", Some(&token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let admin = app.admin_token().await;
    for bad in ["limit=0", "limit=1001", "after=x", "foo=1"] {
        let r = app.get(&format!("/events?{bad}"), Some(&admin)).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

/// Reads SSE frames until `n` events have arrived: `(id, type)` pairs.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(u64, String)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(PATIENCE, resp.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("stream still open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            if let (Some(id), Some(kind)) = (field("id:"), field("event:")) {
                out.push((id.parse().unwrap(), kind));
            }
        }
    }
    out
}

#[tokio::test]
async fn sse_delivers_live_events_and_resumes_after_last_event_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let head = app.head(&admin).await;
    let mut stream = app
        .client
        .get(app.url("/events/stream"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));

    app.create_product(&admin, "Tea", 250, 5).await;
    app.create_product(&admin, "Cake", 100, 5).await;
    let live = read_events(&mut stream, 2).await;
    assert_eq!(
        live,
        vec![
            (head + 1, "ProductCreated".into()),
            (head + 2, "ProductCreated".into())
        ]
    );
    drop(stream);

    // While disconnected, more happens; reconnecting after the last seen id gets exactly that.
    app.register("ivy", PASSWORD).await;
    let mut resumed = app
        .client
        .get(app.url("/events/stream"))
        .bearer_auth(&admin)
        .header("last-event-id", (head + 1).to_string())
        .send()
        .await
        .unwrap();
    let got = read_events(&mut resumed, 2).await;
    assert_eq!(
        got,
        vec![
            (head + 2, "ProductCreated".into()),
            (head + 3, "UserRegistered".into())
        ]
    );
}

#[tokio::test]
async fn sales_stats_follow_the_log() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 50).await;
    let cake = app.create_product(&admin, "Cake", 100, 50).await;
    let (_, token) = app.signup("jay").await;
    for (t, c) in [(3, 1), (2, 0), (1, 4)] {
        let cart = app.create_cart(&token).await;
        app.add(&token, cart, tea, t).await;
        if c > 0 {
            app.add(&token, cart, cake, c).await;
        }
        app.checkout(&token, cart).await;
    }
    let tea_stats = eventually(PATIENCE, "tea stats", || async {
        let s = json_of(app.get(&format!("/products/{tea}/stats"), None).await).await;
        (s["units_sold"] == 6).then_some(s)
    })
    .await;
    assert_eq!(tea_stats["orders"], 3);
    assert_eq!(tea_stats["cart_adds"], 3);
    assert_eq!(tea_stats["units_added"], 6);
    let top = eventually(PATIENCE, "top sellers", || async {
        let t = json_of(app.get("/stats/top?limit=5", None).await).await;
        (t["items"][1]["units_sold"] == 5).then_some(t)
    })
    .await;
    let ids: Vec<u64> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![tea, cake]);
    assert_eq!(top["items"][0]["name"], "Tea");
    assert_error(
        app.get("/products/999/stats", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/stats/top?limit=0", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn a_failing_projection_is_retried_without_losing_its_place() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 50).await;
    let (_, token) = app.signup("kit").await;
    // The projection's next two batches fail to be written (each writes its offset).
    use trolley::actors::{bus::Projection, stats::SalesStats};
    let offset_key = trolley::storage::keys::subscriber(SalesStats::NAME);
    app.store().fail_writes_putting(offset_key, 2);
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 4).await;
    app.checkout(&token, cart).await;
    let s = eventually(PATIENCE, "stats after failures", || async {
        let s = json_of(app.get(&format!("/products/{tea}/stats"), None).await).await;
        (s["units_sold"] == 4).then_some(s)
    })
    .await;
    assert_eq!(s["cart_adds"], 1);
    assert_eq!(app.store().faults_left(), 0, "both failures were met");
}

#[tokio::test]
async fn deleted_projection_data_is_rebuilt_from_the_log() {
    use trolley::storage::{keys, Unit};
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 50).await;
    let (_, token) = app.signup("lou").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 3).await;
    app.checkout(&token, cart).await;
    let expected = eventually(PATIENCE, "stats", || async {
        let s = json_of(app.get(&format!("/products/{tea}/stats"), None).await).await;
        (s["units_sold"] == 3).then_some(s)
    })
    .await;
    // Wipe the projection's own records (its stats, index and offset) while it is idle.
    {
        let store = app.store();
        let mut wipe = Unit::default().remove(keys::subscriber("stats"));
        for prefix in [b"st/".as_slice(), keys::TOP_SELLERS] {
            let end = [prefix, &[0xff; 17]].concat();
            for k in store.keys_between(prefix, &end, usize::MAX).unwrap() {
                wipe = wipe.remove(k);
            }
        }
        store.write(wipe).await.unwrap();
        let gone = json_of(app.get(&format!("/products/{tea}/stats"), None).await).await;
        assert_eq!(gone["units_sold"], 0);
    }
    let app = app.restart().await;
    let rebuilt = eventually(PATIENCE, "rebuilt stats", || async {
        let s = json_of(app.get(&format!("/products/{tea}/stats"), None).await).await;
        (s["units_sold"] == 3).then_some(s)
    })
    .await;
    assert_eq!(rebuilt["cart_adds"], expected["cart_adds"]);
    assert_eq!(rebuilt["orders"], expected["orders"]);
}

/// An event's `at`, as the time it stands for.
fn at_of(event: &Value) -> std::time::SystemTime {
    let at = event["at"].as_str().expect("every event has an `at`");
    humantime::parse_rfc3339(at).expect("`at` is RFC 3339")
}

#[tokio::test]
async fn events_are_stamped_by_the_same_clock_that_judges_deadlines() {
    let app = spawn_app().await;
    app.signup("before").await;
    let year = std::time::Duration::from_secs(365 * 24 * 3600);
    app.advance_clock(year);
    app.signup("after").await;
    let admin = app.admin_token().await;

    let events = app.events_after(&admin, 0).await;
    let registered = |name: &str| {
        events
            .iter()
            .find(|e| e["type"] == "UserRegistered" && e["data"]["username"] == name)
            .unwrap_or_else(|| panic!("{name}'s registration is in the log"))
            .clone()
    };
    let (before, after) = (at_of(&registered("before")), at_of(&registered("after")));
    let apart = after.duration_since(before).unwrap_or_default();
    assert!(
        apart >= year,
        "the clock moved a year between the two sign-ups, but their events are {apart:?} apart"
    );
}

use crate::helpers::*;
use reqwest::StatusCode;
use std::process::{Command, Stdio};

#[tokio::test]
async fn metrics_expose_the_named_series_after_some_traffic() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("moe").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    app.get("/nope/123", None).await;

    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for series in [
        "trolley_http_requests_total{route=\"/carts/{id}/products\",method=\"POST\",status=\"200\"}",
        "trolley_http_request_duration_seconds_bucket{route=\"/carts/{id}/products\",method=\"POST\",le=\"0.0005\"}",
        "trolley_http_request_duration_seconds_count{route=\"/carts/{id}/products\",method=\"POST\"}",
        "trolley_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"}",
        "trolley_store_batch_units_bucket{le=\"1\"}",
        "trolley_store_flush_seconds_bucket{le=\"0.001\"}",
        "trolley_store_flush_seconds_bucket{le=\"+Inf\"}",
        "# TYPE trolley_store_flush_seconds histogram",
        "# HELP trolley_http_requests_total ",
        "trolley_process_start_time_seconds ",
        "trolley_event_log_head ",
        "trolley_subscriber_lag_events{subscriber=\"stats\"}",
        "trolley_live_actors{kind=\"cart\"}",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}

/// The values a label takes across the series of `metric` in a Prometheus text exposition.
fn label_values(text: &str, metric: &str, label: &str) -> std::collections::BTreeSet<String> {
    let needle = format!("{label}=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(metric)?.strip_prefix('{'))
        .filter_map(|labels| {
            let from = labels.find(&needle)? + needle.len();
            let len = labels[from..].find('"')?;
            Some(labels[from..from + len].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_new_metric_series() {
    let app = spawn_app().await;
    for i in 0..60 {
        let method = reqwest::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        for path in [
            "/healthz",
            &format!("/nope-{i}"),
            &format!("/carts/{i}/x{i}"),
        ] {
            let r = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_client_error(),
                "{method} {path}: {}",
                r.status()
            );
        }
        app.get(&format!("/made/up/{i}"), None).await;
    }

    let text = app.get("/metrics", None).await.text().await.unwrap();
    // Other tests share the process's recorder; whatever they sent, labels stay in these sets.
    let known_methods = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "other",
    ];
    let known_routes: Vec<&str> = trolley::http::ROUTES
        .iter()
        .map(|r| r.template)
        .chain(["other"])
        .collect();
    for metric in [
        "trolley_http_requests_total",
        "trolley_http_request_duration_seconds_count",
    ] {
        let methods = label_values(&text, metric, "method");
        assert!(methods.contains("other"), "{metric}: {methods:?}");
        for m in &methods {
            assert!(known_methods.contains(&m.as_str()), "{metric} method {m:?}");
        }
        let routes = label_values(&text, metric, "route");
        for r in &routes {
            assert!(known_routes.contains(&r.as_str()), "{metric} route {r:?}");
        }
    }
}

/// `promtool` (Debian's `prometheus` package) if it is installed. Missing locally, the test
/// says so in one line and passes; missing in CI (`CI` set), it fails, since CI installs it.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("promtool");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "promtool is missing in CI: .ci/run installs Debian's prometheus package"
    );
    eprintln!("skipped: promtool not installed (apt-get install prometheus)");
    None
}

#[tokio::test]
async fn promtool_accepts_the_metrics_a_busy_server_exposes() {
    let Some(promtool) = promtool() else { return };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 5).await;
    let (_, token) = app.signup("lint").await;
    let cart = app.create_cart(&token).await;
    app.add(&token, cart, tea, 1).await;
    app.get("/nope/1", None).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();

    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    let mut stdin = check.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, text.as_bytes()));
    let out = check.wait_with_output().expect("promtool finishes");
    writer.join().unwrap().expect("metrics piped to promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

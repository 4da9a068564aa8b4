use crate::helpers::*;
use reqwest::StatusCode;

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
        "trolley_http_request_duration_seconds{route=\"/carts/{id}/products\",method=\"POST\",quantile=\"0.99\"}",
        "trolley_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"}",
        "trolley_store_batch_units{quantile=\"0.5\"}",
        "trolley_store_flush_seconds{quantile=\"0.99\"}",
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
        .copied()
        .chain(["other"])
        .collect();
    for metric in [
        "trolley_http_requests_total",
        "trolley_http_request_duration_seconds",
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

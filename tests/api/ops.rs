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

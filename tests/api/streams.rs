//! What every event stream goes through: the cap on open streams (503 with `Retry-After`
//! beyond it, the rest of the API still answering) and their end when shutdown begins.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

impl TestApp {
    /// Opens `path` as an event stream (as `token` if given).
    async fn open_stream(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }
}

#[tokio::test]
async fn streams_beyond_the_cap_get_503_with_retry_after_while_the_api_answers() {
    let app = spawn_app_with(|c| c.max_streams = 2).await;
    let admin = app.admin_token().await;
    let first = app.open_stream("/products/stream", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.open_stream("/events/stream", Some(&admin)).await;
    assert_eq!(second.status(), StatusCode::OK);

    for (path, token) in [("/products/stream", None), ("/events/stream", Some(&admin))] {
        let refused = app.open_stream(path, token.map(String::as_str)).await;
        let retry_after = refused.headers().get("retry-after").cloned();
        assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "too_many_streams").await;
        let secs: u64 = retry_after
            .expect("Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs > 0);
    }
    // Everything else still answers.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    app.create_product(&admin, "Tea", 250, 5).await;

    // A client that leaves frees its slot (noticed at the latest by the next keep-alive).
    drop(first);
    eventually(PATIENCE, "the slot to be free again", || async {
        let r = app.open_stream("/products/stream", None).await;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_instead_of_waiting_out_its_timeout() {
    // A timeout far above the bound below: shutdown must not need it.
    let shutdown_timeout = Duration::from_secs(600);
    let mut app = spawn_app_with(|c| c.shutdown_timeout = shutdown_timeout).await;
    let admin = app.admin_token().await;
    let mut products = app.open_stream("/products/stream", None).await;
    let mut events = app.open_stream("/events/stream", Some(&admin)).await;
    assert_eq!(products.status(), StatusCode::OK);
    assert_eq!(events.status(), StatusCode::OK);

    let running = app.app.take().expect("app running");
    // Generous on a loaded machine, and a tenth of the shutdown timeout.
    let bound = shutdown_timeout / 10;
    tokio::time::timeout(bound, running.shutdown())
        .await
        .expect("shutdown completes without waiting out its timeout");
    // Both streams ended: their bodies finish (cleanly or cut), they do not hang.
    for stream in [&mut products, &mut events] {
        let rest = tokio::time::timeout(bound, async {
            while let Ok(Some(_)) = stream.chunk().await {}
        });
        rest.await.expect("the stream ended");
    }
}

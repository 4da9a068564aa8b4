//! A request's id travels from the gateway into the log lines of every actor message the
//! request caused. Its own test binary: it installs a process-wide log subscriber that
//! captures everything into memory.

use std::io::Write;
use std::sync::{Arc, Mutex};
use trolley::{App, Config};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_request_id_reaches_the_actors_log_lines_and_is_echoed() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("trolley=debug,warp=info")
        .with_writer(logs.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().into());
    config.admin_username = Some("admin".into());
    config.admin_password = Some("admin-password".into());
    let app = App::start(config).await.unwrap();
    let base = format!("http://{}", app.addr);
    let c = reqwest::Client::new();
    let login = |u: &str, p: &str| {
        c.post(format!("{base}/login"))
            .json(&serde_json::json!({ "username": u, "password": p }))
    };
    let admin: serde_json::Value = login("admin", "admin-password")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = admin["token"].as_str().unwrap().to_owned();
    let product: serde_json::Value = c
        .post(format!("{base}/products"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "name": "Tea", "price_cents": 1, "stock": 5 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cart: serde_json::Value = c
        .post(format!("{base}/carts"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let r = c
        .post(format!("{base}/carts/{}/products", cart["id"]))
        .bearer_auth(&admin)
        .header("x-request-id", "trace-me-42")
        .json(&serde_json::json!({ "product_id": product["id"], "quantity": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");

    // Without one, a fresh id is made up and echoed.
    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 16);

    app.shutdown().await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let with_id: Vec<&str> = text.lines().filter(|l| l.contains("trace-me-42")).collect();
    for from in [
        "cart actor: add product",
        "inventory actor: reserve",
        "finished processing",
    ] {
        assert!(
            with_id.iter().any(|l| l.contains(from)),
            "no line from `{from}` carries the request id:\n{}",
            with_id.join("\n")
        );
    }
}

//! Measures what a keyed answer costs on disk: starts the app on a fresh temp data dir, fills a
//! cart with LINES lines, then sends KEYS adds to it, each with its own `Idempotency-Key`, and
//! prints the data dir's growth per key and the size of one answer.
//!
//! Usage: `cargo run --release --example idempotency_size [KEYS] [LINES] [unkeyed]` (default
//! 2000, 100); `unkeyed` sends the same adds without keys, for the growth the adds cost anyway.

use serde_json::{json, Value};
use std::path::Path;
use trolley::{App, Config};

/// The apparent size of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

async fn post(
    c: &reqwest::Client,
    url: String,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> Vec<u8> {
    let mut req = c.post(url).json(&body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let bytes = r.bytes().await.expect("body").to_vec();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

#[tokio::main]
async fn main() {
    let unkeyed = std::env::args().any(|a| a == "unkeyed");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| a != "unkeyed")
        .map(|a| a.parse().expect("a number"))
        .collect();
    let keys = args.first().copied().unwrap_or(2000);
    let lines = args.get(1).copied().unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    config.admin_username = Some("admin".into());
    config.admin_password = Some("admin-password".into());
    let app = App::start(config).await.expect("app starts");
    let base = format!("http://{}", app.addr);
    let c = reqwest::Client::new();
    let login = |name: &str, pw: &str| json!({ "username": name, "password": pw });
    let token = |b: Vec<u8>| {
        serde_json::from_slice::<Value>(&b).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin = token(
        post(
            &c,
            format!("{base}/login"),
            "",
            None,
            login("admin", "admin-password"),
        )
        .await,
    );
    post(
        &c,
        format!("{base}/register"),
        "",
        None,
        login("shopper", "shopper-password"),
    )
    .await;
    let user = token(
        post(
            &c,
            format!("{base}/login"),
            "",
            None,
            login("shopper", "shopper-password"),
        )
        .await,
    );
    let cart: Value =
        serde_json::from_slice(&post(&c, format!("{base}/carts"), &user, None, json!({})).await)
            .unwrap();
    let add_url = format!("{base}/carts/{}/products", cart["id"]);
    let mut products = Vec::new();
    for i in 0..lines {
        let body = json!({ "name": format!("product number {i}"), "price_cents": 100 + i, "stock": 1_000_000_000u64 });
        let p: Value =
            serde_json::from_slice(&post(&c, format!("{base}/products"), &admin, None, body).await)
                .unwrap();
        products.push(p["id"].as_u64().unwrap());
        post(
            &c,
            add_url.clone(),
            &user,
            None,
            json!({ "product_id": products[i as usize], "quantity": 1 }),
        )
        .await;
    }
    let before = dir_bytes(dir.path());
    let mut answer = 0;
    for k in 0..keys {
        let product = products[(k % lines) as usize];
        let key = format!("measure-{k}");
        answer = post(
            &c,
            add_url.clone(),
            &user,
            (!unkeyed).then_some(key.as_str()),
            json!({ "product_id": product, "quantity": 1 }),
        )
        .await
        .len();
    }
    let after = dir_bytes(dir.path());
    app.shutdown().await;
    let growth = after.saturating_sub(before);
    let kind = if unkeyed { "unkeyed" } else { "keyed" };
    println!(
        "{keys} {kind} adds on a {lines}-line cart: answer {answer} B, data dir +{:.1} MiB, {:.1} KiB per key",
        growth as f64 / (1024.0 * 1024.0),
        growth as f64 / 1024.0 / keys as f64
    );
}

//! Seeds a running Trolley for the benchmark: products with plenty of stock, users with one
//! cart each holding three lines. Writes `products.txt` (one id per line) and `users.txt` (`token cart_id` per
//! line) into the output directory for the load generator's scripts.
//!
//! Usage: bench_seed BASE_URL OUT_DIR PRODUCTS USERS (admin credentials from
//! TROLLEY_ADMIN_USERNAME / TROLLEY_ADMIN_PASSWORD).

use serde_json::{json, Value};
use std::sync::Arc;

async fn post(c: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = c.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, out, products, users] = &args[..] else {
        eprintln!("usage: bench_seed BASE_URL OUT_DIR PRODUCTS USERS");
        std::process::exit(2);
    };
    let (products, users): (usize, usize) = (products.parse().unwrap(), users.parse().unwrap());
    let admin_user = std::env::var("TROLLEY_ADMIN_USERNAME").expect("TROLLEY_ADMIN_USERNAME");
    let admin_pass = std::env::var("TROLLEY_ADMIN_PASSWORD").expect("TROLLEY_ADMIN_PASSWORD");
    let c = reqwest::Client::new();
    let admin = post(
        &c,
        format!("{base}/login"),
        None,
        json!({ "username": admin_user, "password": admin_pass }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let base = Arc::new(base.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (c, base, admin) = (c.clone(), base.clone(), admin.clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in (worker..products).step_by(16) {
                let body = json!({ "name": format!("product-{i}"), "price_cents": 100 + i, "stock": 1_000_000_000u64 });
                let p = post(&c, format!("{base}/products"), Some(&admin), body).await;
                ids.push(p["id"].as_u64().unwrap());
            }
            ids
        });
    }
    let mut product_ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        product_ids.extend(r.unwrap());
    }

    let product_ids = Arc::new(product_ids);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (c, base, products) = (c.clone(), base.clone(), product_ids.clone());
        tasks.spawn(async move {
            let mut lines = Vec::new();
            for i in (worker..users).step_by(8) {
                let creds =
                    json!({ "username": format!("bench-user-{i}"), "password": "bench-password" });
                post(&c, format!("{base}/register"), None, creds.clone()).await;
                let token = post(&c, format!("{base}/login"), None, creds).await["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let cart = post(&c, format!("{base}/carts"), Some(&token), json!({})).await;
                for k in 0..3 {
                    let product = products[(i * 7 + k * 131) % products.len()];
                    let body = json!({ "product_id": product, "quantity": 1 });
                    post(
                        &c,
                        format!("{base}/carts/{}/products", cart["id"]),
                        Some(&token),
                        body,
                    )
                    .await;
                }
                lines.push(format!("{token} {}", cart["id"]));
            }
            lines
        });
    }
    let mut user_lines = Vec::new();
    while let Some(r) = tasks.join_next().await {
        user_lines.extend(r.unwrap());
    }
    let ids: Vec<String> = product_ids.iter().map(u64::to_string).collect();
    std::fs::write(format!("{out}/products.txt"), ids.join("\n") + "\n").unwrap();
    std::fs::write(format!("{out}/users.txt"), user_lines.join("\n") + "\n").unwrap();
    println!(
        "seeded {} products and {} users with carts",
        ids.len(),
        user_lines.len()
    );
}

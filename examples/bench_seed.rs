//! Seeds a running Trolley for the benchmark: products with plenty of stock; USERS users with
//! a realistic cart each (3 lines of its own 10 products); and SIZED users each for carts of
//! exactly 1, 10 and 100 lines. Writes `products.txt` (one id per line), `users.txt` and
//! `sized-{1,10,100}.txt` (`token cart_id product…` per line: the cart's own products) into the
//! output directory for the load generator's scripts.
//!
//! Usage: bench_seed BASE_URL OUT_DIR PRODUCTS USERS SIZED (admin credentials from
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
    let [_, base, out, products, users, sized] = &args[..] else {
        eprintln!("usage: bench_seed BASE_URL OUT_DIR PRODUCTS USERS SIZED");
        std::process::exit(2);
    };
    let products: usize = products.parse().unwrap();
    let (users, sized): (usize, usize) = (users.parse().unwrap(), sized.parse().unwrap());
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
    // Realistic carts: each user's own 10 products, 3 of them in the cart already.
    let users_lines = seed_carts(&c, &base, &product_ids, "bench-user", users, 3, 10).await;
    std::fs::write(format!("{out}/users.txt"), users_lines.join("\n") + "\n").unwrap();
    // Carts of a fixed size: adds go to lines they have, so the size stays put.
    for size in [1, 10, 100].into_iter().filter(|s| *s <= product_ids.len()) {
        let name = format!("sized-{size}");
        let lines = seed_carts(&c, &base, &product_ids, &name, sized, size, size).await;
        std::fs::write(format!("{out}/{name}.txt"), lines.join("\n") + "\n").unwrap();
    }
    let ids: Vec<String> = product_ids.iter().map(u64::to_string).collect();
    std::fs::write(format!("{out}/products.txt"), ids.join("\n") + "\n").unwrap();
    println!(
        "seeded {} products, {users} realistic carts and {sized} carts of each size",
        ids.len()
    );
}

/// Registers `count` users named `{prefix}-{i}`, each with one cart holding `filled` lines of
/// its own `own` products (quantity 1 each). Returns `token cart_id p1 … p_own` per user.
async fn seed_carts(
    c: &reqwest::Client,
    base: &Arc<String>,
    products: &Arc<Vec<u64>>,
    prefix: &str,
    count: usize,
    filled: usize,
    own: usize,
) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    // 16: below the login limiter's 20 concurrent attempts per client address.
    for worker in 0..16 {
        let (c, base, products) = (c.clone(), base.clone(), products.clone());
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            let mut lines = Vec::new();
            for i in (worker..count).step_by(16) {
                let creds =
                    json!({ "username": format!("{prefix}-{i}"), "password": "bench-password" });
                post(&c, format!("{base}/register"), None, creds.clone()).await;
                let token = post(&c, format!("{base}/login"), None, creds).await["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let cart = post(&c, format!("{base}/carts"), Some(&token), json!({})).await;
                // 131 is prime: for a product count not a multiple of it, the `own` are distinct.
                let mine: Vec<u64> = (0..own)
                    .map(|k| products[(i * 7 + k * 131) % products.len()])
                    .collect();
                for product in &mine[..filled] {
                    let body = json!({ "product_id": product, "quantity": 1 });
                    let url = format!("{base}/carts/{}/products", cart["id"]);
                    post(&c, url, Some(&token), body).await;
                }
                let mine: Vec<String> = mine.iter().map(u64::to_string).collect();
                lines.push(format!("{token} {} {}", cart["id"], mine.join(" ")));
            }
            lines
        });
    }
    let mut lines = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lines.extend(r.unwrap());
    }
    lines
}

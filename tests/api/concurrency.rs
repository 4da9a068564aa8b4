use crate::helpers::*;
use reqwest::StatusCode;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_never_oversell() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin_token().await;
    let tea = app.create_product(&admin, "Tea", 250, 25).await;
    let (_, token) = app.signup("tara").await;
    let mut carts = Vec::new();
    for _ in 0..10 {
        carts.push(app.create_cart(&token).await);
    }

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..120 {
        let (app, token, cart) = (app.clone(), token.clone(), carts[i % carts.len()]);
        tasks.spawn(async move { app.add(&token, cart, tea, 1).await.status() });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 25);
    assert_eq!(stock_of(&app, tea).await, (0, 25));
    let mut in_lines = 0;
    for cart in carts {
        let c = app.cart(&token, cart).await;
        for item in c["items"].as_array().unwrap() {
            assert_eq!(item["reserved"], true);
            in_lines += item["quantity"].as_u64().unwrap();
        }
    }
    assert_eq!(in_lines, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_username_create_exactly_one_user() {
    let app = Arc::new(spawn_app().await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.spawn(async move { app.register("uma", &format!("password-{i}")).await.status() });
    }
    let mut created = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_product_name_create_exactly_one_product() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin_token().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (app, admin) = (app.clone(), admin.clone());
        tasks.spawn(async move {
            app.post_json(
                "/products",
                Some(&admin),
                &serde_json::json!({ "name": "Tea", "price_cents": i, "stock": 1 }),
            )
            .await
            .status()
        });
    }
    let mut created = 0;
    while let Some(status) = tasks.join_next().await {
        if status.unwrap() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    let list = json_of(app.get("/products", None).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

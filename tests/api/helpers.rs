//! `spawn_app()`: the real app on port 0 with a fresh temp data dir, and a real HTTP client.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Once;
use std::time::Duration;
use trolley::{App, Config, RunningApp};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password";
pub const PASSWORD: &str = "correct-horse";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// `Some` until the app is stopped.
    pub app: Option<RunningApp>,
    pub data_dir: tempfile::TempDir,
    pub config: Config,
}

/// Logs go to the test output only when `TEST_LOG` is set.
fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            trolley::telemetry::init("info", trolley::telemetry::LogFormat::Text);
        }
    });
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data_dir.path().to_path_buf(),
    );
    config.admin_username = Some(ADMIN.into());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    // Every test's client is 127.0.0.1: the per-address bound is tested on its own (quotas.rs).
    config.max_registrations_per_minute = 10_000;
    tweak(&mut config);
    start(config, data_dir).await
}

async fn start(config: Config, data_dir: tempfile::TempDir) -> TestApp {
    let app = App::start(config.clone()).await.expect("app starts");
    TestApp {
        base: format!("http://{}", app.addr),
        // No idle pooling: tests send bodies the server refuses early, after which it closes
        // the connection, and a pooled client could race to reuse it.
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        app: Some(app),
        data_dir,
        config,
    }
}

impl TestApp {
    pub fn actors(&self) -> &trolley::actors::Actors {
        &self.app.as_ref().expect("app running").actors
    }

    /// The store under the actors (the gateway cannot reach it; tests may).
    pub fn store(&self) -> &trolley::storage::Store {
        self.app.as_ref().expect("app running").store()
    }

    /// Moves this app's clock forward (hold and session deadlines), instead of waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.store().advance_clock(by);
    }

    /// Stops the app gracefully and starts it again on the same data dir and port 0.
    pub async fn restart(mut self) -> TestApp {
        self.app.take().expect("app running").shutdown().await;
        start(self.config.clone(), self.data_dir).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn with_token(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        Self::with_token(self.client.get(self.url(path)), token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        Self::with_token(self.client.post(self.url(path)), token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        Self::with_token(self.client.put(self.url(path)), token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// POST with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        Self::with_token(self.client.post(self.url(path)), token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/register",
            None,
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/login",
            None,
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers `username` and logs in: (user id, token). Set-up, so a 503 (a test's short
    /// call timeout on a loaded machine) is retried: a registration that landed anyway then
    /// answers 409 `username_taken`, which is as good.
    pub async fn signup(&self, username: &str) -> (u64, String) {
        let (r, attempts) = retry_503(|| self.register(username, PASSWORD)).await;
        let landed_before = r.status() == StatusCode::CONFLICT && attempts > 1;
        assert!(
            r.status() == StatusCode::CREATED || landed_before,
            "register {username}: {}",
            r.status()
        );
        let token = self.token_of(username, PASSWORD).await;
        let id = json_of(self.get("/me", Some(&token)).await).await["id"]
            .as_u64()
            .unwrap();
        (id, token)
    }

    pub async fn token_of(&self, username: &str, password: &str) -> String {
        let (r, _) = retry_503(|| self.login(username, password)).await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        json_of(r).await["token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_of(ADMIN, ADMIN_PASSWORD).await
    }

    /// Set-up with an `Idempotency-Key`, so a 503 is retried without a second product.
    pub async fn create_product(&self, admin: &str, name: &str, price: i64, stock: i64) -> u64 {
        let body = json!({ "name": name, "price_cents": price, "stock": stock });
        let r = self.post_keyed("/products", admin, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create product {name}");
        json_of(r).await["id"].as_u64().unwrap()
    }

    /// Set-up with an `Idempotency-Key`, so a 503 is retried without a second cart.
    pub async fn create_cart(&self, token: &str) -> u64 {
        let r = self.post_keyed("/carts", token, &json!({})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        json_of(r).await["id"].as_u64().unwrap()
    }

    /// A POST with a fresh `Idempotency-Key`, retried with the same key while it answers 503.
    async fn post_keyed(&self, path: &str, token: &str, body: &Value) -> Response {
        static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let key = format!(
            "setup-{}",
            KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let send = || async {
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .header("idempotency-key", &key)
                .json(body)
                .send()
                .await
                .expect("request sent")
        };
        retry_503(send).await.0
    }

    pub async fn add(&self, token: &str, cart: u64, product: u64, quantity: i64) -> Response {
        self.post_json(
            &format!("/carts/{cart}/products"),
            Some(token),
            &json!({ "product_id": product, "quantity": quantity }),
        )
        .await
    }

    pub async fn product(&self, id: u64) -> Value {
        let r = self.get(&format!("/products/{id}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        json_of(r).await
    }

    pub async fn cart(&self, token: &str, id: u64) -> Value {
        let r = self.get(&format!("/carts/{id}"), Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        json_of(r).await
    }
}

pub async fn json_of(r: Response) -> Value {
    r.json().await.expect("a JSON body")
}

/// Asserts the contract's error shape and code; returns the error object.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let body = json_of(r).await;
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    body["error"].clone()
}

/// (stock, reserved) of a product.
pub async fn stock_of(app: &TestApp, product: u64) -> (u64, u64) {
    let p = app.product(product).await;
    (
        p["stock"].as_u64().unwrap(),
        p["reserved"].as_u64().unwrap(),
    )
}

impl TestApp {
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        Self::with_token(self.client.delete(self.url(path)), token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn set_line(&self, token: &str, cart: u64, product: u64, quantity: i64) -> Response {
        self.put_json(
            &format!("/carts/{cart}/products/{product}"),
            Some(token),
            &json!({ "quantity": quantity }),
        )
        .await
    }

    pub async fn checkout(&self, token: &str, cart: u64) -> Response {
        Self::with_token(
            self.client
                .post(self.url(&format!("/carts/{cart}/checkout"))),
            Some(token),
        )
        .send()
        .await
        .expect("request sent")
    }

    /// Every order of the caller's, following `next` page by page.
    pub async fn orders(&self, token: &str) -> Vec<Value> {
        let mut orders = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/orders?limit=500&after={after}");
            let r = self.get(&path, Some(token)).await;
            assert_eq!(r.status(), StatusCode::OK);
            let page = json_of(r).await;
            orders.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_u64() {
                Some(next) => after = next,
                None => return orders,
            }
        }
    }
}

/// Sends a set-up request again while it answers 503 (bounded by [`PATIENCE`]): the last
/// answer and how many attempts it took.
async fn retry_503<F, Fut>(mut send: F) -> (Response, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut attempts = 0;
    loop {
        let r = send().await;
        attempts += 1;
        if r.status() != StatusCode::SERVICE_UNAVAILABLE || tokio::time::Instant::now() > deadline {
            return (r, attempts);
        }
    }
}

/// How long a test waits for something the server does on its own schedule before failing:
/// generous, since it only runs out when the test fails anyway, and a loaded 2-core machine
/// can be slow.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `probe` until it returns `Some`, failing the test after `within`. For effects that
/// happen on the server's own schedule (hold expiry, actor restarts); never a fixed sleep.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

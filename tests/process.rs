//! The real `trolley` binary as a child process: killed with SIGKILL under write load and
//! restarted, stopped with SIGTERM, and its offline `events trim` command.
//!
//! What the crash checker can and cannot see: SIGKILL ends the process but not the kernel, so
//! whatever sled has handed to the OS survives it even without an fsync (measured: with the
//! writer's `flush` removed, acknowledged writes still survive SIGKILL). The checker therefore
//! catches acknowledgements sent before the write reached the store — a reply on enqueue, a
//! lost unit, a half-applied batch, a sequence gap. Power loss, which the sync before every
//! acknowledgement protects against, is tested in `tests/power_cut.rs`.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-password";
const STOCK: u64 = 1_000_000;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(data: &Path) -> Server {
        Self::start_with(data, &[]).await
    }

    /// Starts the binary on port 0 and learns its address from the one line it prints on
    /// stdout once it serves (no free-port guess that another test could take first).
    async fn start_with(data: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trolley"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .env("TROLLEY_ADMIN_USERNAME", ADMIN)
            .env("TROLLEY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(120), line)
            .await
            .expect("server announced its address in time")
            .unwrap()
            .expect("stdout readable");
        let base = line
            .trim()
            .strip_prefix("trolley listening on ")
            .unwrap_or_else(|| panic!("server did not start; it printed {line:?}"))
            .to_owned();
        let server = Server { child, base };
        // Serving, and normally ready too; on a loaded machine /readyz (which asks every
        // directory) may need a moment longer.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ready = reqwest::get(format!("{}/readyz", server.base)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

/// A test that fails must not leave its server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Result<(u16, Value)> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Value {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn token(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/login",
                None,
                json!({ "username": username, "password": password }),
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
        body["token"].as_str().unwrap().to_owned()
    }

    /// Every event still in the log (the first page without `after`: from the oldest one).
    async fn all_events(&self, admin: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let from = after.map_or(String::new(), |a| format!("after={a}&"));
            let page = self
                .get(&format!("/events?{from}limit=1000"), Some(admin))
                .await;
            let events = page["events"].as_array().unwrap().clone();
            if events.is_empty() {
                return out;
            }
            after = page["next_after"].as_u64();
            out.extend(events);
        }
    }
}

/// A pseudo-random number from the clock; good enough to vary the kill moment.
fn jitter(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    nanos % max_ms
}

/// Checks everything the data dir must satisfy after a crash, given the adds acknowledged so
/// far per cart.
async fn check_recovered(
    c: &Client,
    admin: &str,
    user: &str,
    product: u64,
    carts: &[u64],
    acked: &[u64],
    unacked_max: u64,
) {
    let mut in_carts = 0;
    let mut lines = Vec::new();
    for (cart, &acked) in carts.iter().zip(acked) {
        let body = c.get(&format!("/carts/{cart}"), Some(user)).await;
        let quantity = body["items"][0]["quantity"].as_u64().unwrap_or(0);
        // Every acknowledged add survived; at most the one in flight per client landed unacked.
        assert!(
            quantity >= acked,
            "cart {cart}: {quantity} < {acked} acknowledged"
        );
        assert!(
            quantity <= acked.saturating_add(unacked_max),
            "cart {cart}: {quantity} > {acked} + {unacked_max}"
        );
        in_carts += quantity;
        lines.push(quantity);
    }
    let p = c.get(&format!("/products/{product}"), None).await;
    assert_eq!(
        p["reserved"].as_u64().unwrap(),
        in_carts,
        "Σ holds = Σ lines"
    );
    assert_eq!(
        p["stock"].as_u64().unwrap() + in_carts,
        STOCK,
        "on hand = available + holds"
    );

    // The log: gap-free, and one ProductAdded per unit in the carts (each add was 1 unit).
    let events = c.all_events(admin).await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "sequence has gaps"
    );
    for (cart, &quantity) in carts.iter().zip(&lines) {
        let added = events
            .iter()
            .filter(|e| e["type"] == "ProductAdded" && e["data"]["cart_id"] == *cart)
            .count() as u64;
        assert_eq!(
            added, quantity,
            "events of cart {cart} disagree with its line"
        );
    }
    // The stats projection equals a recount from the log (once it has caught up).
    let recount = events
        .iter()
        .filter(|e| e["type"] == "ProductAdded")
        .count() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = c.get(&format!("/products/{product}/stats"), None).await;
        if s["cart_adds"].as_u64() == Some(recount) && s["units_added"].as_u64() == Some(recount) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats {s} never matched {recount}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds one unit to `cart` again and again until `stop` is set or the server is gone
/// (refused or closed connection); returns how many adds were acknowledged, and counts each
/// in `progress` as it happens.
async fn add_until_gone(
    base: &str,
    user: &str,
    (cart, product): (u64, u64),
    stop: &AtomicBool,
    progress: &AtomicU64,
) -> u64 {
    let c = Client::new(base);
    let mut ok = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let body = json!({ "product_id": product, "quantity": 1 });
        match c
            .post(&format!("/carts/{cart}/products"), Some(user), body)
            .await
        {
            Ok((200, _)) => {
                ok += 1;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, body)) => panic!("unexpected {status}: {body}"),
            Err(_) => break, // the server is gone
        }
    }
    ok
}

/// Waits until the load clients have had `at_least` adds acknowledged.
async fn wait_for_progress(progress: &AtomicU64, at_least: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while progress.load(Ordering::Relaxed) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the load never got going"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A product with plenty of stock, a buyer, and 8 of the buyer's carts: (product, token, carts).
async fn seed_for_load(server: &Server) -> (u64, String, Vec<u64>) {
    let c = Client::new(&server.base);
    let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
    let body = json!({ "name": "Tea", "price_cents": 250, "stock": STOCK });
    let (_, p) = c.post("/products", Some(&admin), body).await.unwrap();
    let credentials = json!({ "username": "buyer", "password": "password-1" });
    c.post("/register", None, credentials).await.unwrap();
    let user = c.token("buyer", "password-1").await;
    let mut carts = Vec::new();
    for _ in 0..8 {
        let (_, cart) = c.post("/carts", Some(&user), json!({})).await.unwrap();
        carts.push(cart["id"].as_u64().unwrap());
    }
    (p["id"].as_u64().unwrap(), user, carts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_adds_survive_repeated_kill_9_and_the_log_stays_consistent() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (product, user, carts) = seed_for_load(&server).await;
    let mut acked = vec![0u64; carts.len()];
    let mut server = server;

    for cycle in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        let mut clients = tokio::task::JoinSet::new();
        for (i, &cart) in carts.iter().enumerate() {
            let (base, user) = (server.base.clone(), user.clone());
            let (stop, progress) = (stop.clone(), progress.clone());
            clients.spawn(async move {
                let acked = add_until_gone(&base, &user, (cart, product), &stop, &progress);
                (i, acked.await)
            });
        }
        // Kill at a random moment once the load is really on (however slow the machine).
        wait_for_progress(&progress, 50).await;
        tokio::time::sleep(Duration::from_millis(jitter(500))).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        while let Some(r) = clients.join_next().await {
            let (i, ok) = r.unwrap();
            acked[i] += ok;
        }
        assert!(
            acked.iter().sum::<u64>() > 0,
            "cycle {cycle}: no add was acknowledged"
        );

        server = Server::start(data.path()).await;
        let c = Client::new(&server.base);
        let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
        check_recovered(&c, &admin, &user, product, &carts, &acked, 1).await;
        // What landed unacknowledged counts from now on, like any other add.
        for (i, cart) in carts.iter().enumerate() {
            let body = c.get(&format!("/carts/{cart}"), Some(&user)).await;
            acked[i] = body["items"][0]["quantity"].as_u64().unwrap_or(0);
        }
    }
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_trim_keeps_what_subscribers_need() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let c = Client::new(&server.base);
    let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
    for name in ["A", "B", "C"] {
        c.post(
            "/products",
            Some(&admin),
            json!({ "name": name, "price_cents": 1, "stock": 1 }),
        )
        .await
        .unwrap();
    }
    let head = c.all_events(&admin).await.last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    // Wait for the stats subscriber to have read everything.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while c.get("/products/2/stats", None).await["as_of_seq"].as_u64() != Some(head) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscriber never caught up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(server.terminate().code(), Some(0), "SIGTERM exits 0");

    let trim = |before: u64| {
        Command::new(env!("CARGO_BIN_EXE_trolley"))
            .args(["events", "trim", "--before", &before.to_string()])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    let refused = trim(head + 2);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refusing"));
    let done = trim(head + 1);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains(&format!("removed {head} events")));

    // Restarted: the log is empty and continues after the old head, never reusing a number.
    let server = Server::start(data.path()).await;
    let c = Client::new(&server.base);
    let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
    assert!(c.all_events(&admin).await.is_empty());
    c.post(
        "/products",
        Some(&admin),
        json!({ "name": "D", "price_cents": 1, "stock": 1 }),
    )
    .await
    .unwrap();
    let events = c.all_events(&admin).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["seq"], head + 1);
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_accepted_request_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (product, user, carts) = seed_for_load(&server).await;
    let mut clients = tokio::task::JoinSet::new();
    let never = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    for &cart in &carts {
        let (base, user) = (server.base.clone(), user.clone());
        let (never, progress) = (never.clone(), progress.clone());
        clients.spawn(async move {
            let acked = add_until_gone(&base, &user, (cart, product), &never, &progress);
            (cart, acked.await)
        });
    }
    wait_for_progress(&progress, 50).await;
    tokio::time::sleep(Duration::from_millis(jitter(300))).await;
    assert_eq!(server.terminate().code(), Some(0), "graceful exit");
    let mut acked = std::collections::HashMap::new();
    while let Some(r) = clients.join_next().await {
        let (cart, ok) = r.unwrap();
        acked.insert(cart, ok);
    }

    let server = Server::start(data.path()).await;
    let c = Client::new(&server.base);
    for cart in &carts {
        let body = c.get(&format!("/carts/{cart}"), Some(&user)).await;
        let quantity = body["items"][0]["quantity"].as_u64().unwrap_or(0);
        // Equal, not just ≥: a request the server accepted was answered before it stopped,
        // so nothing landed that its client did not hear about.
        assert_eq!(quantity, acked[cart], "cart {cart}");
    }
    assert!(acked.values().sum::<u64>() > 0);
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passivation_returns_memory_and_state_survives_it() {
    const CARTS: usize = 5_000;
    let data = tempfile::tempdir().unwrap();
    // The idle timeout must outlast the whole touch phase below, or the first carts passivate
    // before the last are touched: that phase takes ~3 s here, over 10 s on a loaded machine.
    // One user makes every cart: lift the open-cart bound.
    let args = ["--idle-timeout", "40s", "--max-open-carts", "1000000"];
    let server = Server::start_with(data.path(), &args).await;
    let c = Client::new(&server.base);
    c.post(
        "/register",
        None,
        json!({ "username": "many", "password": "password-1" }),
    )
    .await
    .unwrap();
    let user = c.token("many", "password-1").await;
    let baseline = server.rss_kib();

    // Create many carts (no actor runs for a cart until it is used)...
    let per_client = CARTS / 16;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (base, user) = (server.base.clone(), user.clone());
        tasks.spawn(async move {
            let c = Client::new(&base);
            let mut ids = Vec::new();
            for _ in 0..per_client {
                let (status, cart) = c.post("/carts", Some(&user), json!({})).await.unwrap();
                assert_eq!(status, 201);
                ids.push(cart["id"].as_u64().unwrap());
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        ids.extend(r.unwrap());
    }
    // ...then touch them all quickly, so each gets a live actor.
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(per_client) {
        let (base, user, chunk) = (server.base.clone(), user.clone(), chunk.to_vec());
        tasks.spawn(async move {
            let c = Client::new(&base);
            for id in chunk {
                c.get(&format!("/carts/{id}"), Some(&user)).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let live = |c: &Client| {
        let c = Client::new(&c.base);
        async move {
            c.get("/readyz", None).await["live_actors"]["carts"]
                .as_u64()
                .unwrap()
        }
    };
    let peak_live = live(&c).await;
    let peak_rss = server.rss_kib();
    assert!(
        peak_live > (CARTS / 2) as u64,
        "{peak_live} carts live at the peak"
    );

    // Idle timeout plus a sweep interval (10 s), and room for a loaded machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while live(&c).await > 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "carts never passivated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_rss = server.rss_kib();
    eprintln!(
        "RSS: {baseline} KiB at start, {peak_rss} KiB with {peak_live} live carts, {idle_rss} KiB after passivation"
    );
    // Give the directories a sweep or two to trim what the stopped actors freed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut idle_rss = idle_rss;
    while idle_rss > peak_rss - (peak_rss - baseline) / 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "passivation gave back too little memory: {baseline} → {peak_rss} → {idle_rss} KiB"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        idle_rss = server.rss_kib();
    }
    eprintln!("RSS after trimming: {idle_rss} KiB");
    // Touched again, every cart comes back as it was.
    for id in ids.iter().step_by(97) {
        let cart = c.get(&format!("/carts/{id}"), Some(&user)).await;
        assert_eq!(cart["status"], "open");
        assert_eq!(cart["id"], *id);
    }
    assert_eq!(server.terminate().code(), Some(0));
}

fn trolley(args: &[&str], data: &Path, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trolley"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_commands_create_admins_offline_and_refuse_while_the_server_runs() {
    let data = tempfile::tempdir().unwrap();
    let created = trolley(
        &["user", "create", "--admin", "--username", "root"],
        data.path(),
        "root-password\n",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let plain = trolley(
        &["user", "create", "--username", "alice"],
        data.path(),
        "alice-password\n",
    );
    assert!(plain.status.success());
    let short = trolley(
        &["user", "create", "--username", "bob"],
        data.path(),
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));

    let server = Server::start(data.path()).await;
    let c = Client::new(&server.base);
    let root = c.token("root", "root-password").await;
    assert_eq!(c.get("/me", Some(&root)).await["is_admin"], true);
    let alice = c.token("alice", "alice-password").await;
    assert_eq!(c.get("/me", Some(&alice)).await["is_admin"], false);
    // The data dir is in use: the command says so instead of corrupting anything.
    let busy = trolley(&["user", "set-admin", "alice"], data.path(), "");
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("is the server running"));
    assert_eq!(server.terminate().code(), Some(0));

    let promoted = trolley(&["user", "set-admin", "alice"], data.path(), "");
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );
    let missing = trolley(&["user", "set-admin", "nobody"], data.path(), "");
    assert!(!missing.status.success());
    let server = Server::start(data.path()).await;
    let c = Client::new(&server.base);
    let alice = c.token("alice", "alice-password").await;
    assert_eq!(c.get("/me", Some(&alice)).await["is_admin"], true);
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn invalid_configuration_is_one_line_and_exit_code_2() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trolley"));
        cmd.args(args)
            .env_remove("TROLLEY_ADMIN_USERNAME")
            .env_remove("TROLLEY_ADMIN_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    for (args, env) in [
        (&["--hold-ttl", "soon"][..], &[][..]),
        (&["--addr", "nowhere"][..], &[][..]),
        (&["serve", "--log-format", "xml"][..], &[][..]),
        (&[][..], &[("TROLLEY_ADMIN_USERNAME", "admin")][..]),
    ] {
        let out = run(args, env);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines().next().is_some_and(|l| l.contains("invalid")),
            "{err}"
        );
    }
    let help = run(&["serve", "--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--addr",
        "--data-dir",
        "--hold-ttl",
        "--idle-timeout",
        "--log-format",
        "--admin-username",
        "--cache-bytes",
        "--shutdown-timeout",
    ] {
        assert!(text.contains(flag), "{flag} missing from serve --help");
    }
}

/// Reads SSE frames from `resp` until the stream ends (the server died): `(id, data)` pairs.
async fn read_until_gone(mut resp: reqwest::Response) -> Vec<(u64, Value)> {
    let mut buf = String::new();
    let mut seen = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            if let (Some(id), Some(data)) = (field("id:"), field("data:")) {
                seen.push((id.parse().unwrap(), serde_json::from_str(&data).unwrap()));
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_a_live_sse_client_saw_survives_kill_9_unchanged() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path()).await;
    let (product, user, carts) = seed_for_load(&server).await;
    let c = Client::new(&server.base);
    let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
    let stream = reqwest::Client::new()
        .get(format!("{}/events/stream?after=0", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(stream.status().is_success());
    let watcher = tokio::spawn(read_until_gone(stream));

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for &cart in &carts {
        let (base, user) = (server.base.clone(), user.clone());
        let (stop, progress) = (stop.clone(), progress.clone());
        clients.spawn(async move {
            add_until_gone(&base, &user, (cart, product), &stop, &progress).await
        });
    }
    wait_for_progress(&progress, 50).await;
    tokio::time::sleep(Duration::from_millis(jitter(300))).await;
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    while clients.join_next().await.is_some() {}
    let seen = watcher.await.unwrap();
    assert!(!seen.is_empty(), "the client saw events before the crash");

    let server = Server::start(data.path()).await;
    let c = Client::new(&server.base);
    let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
    let log: std::collections::HashMap<u64, Value> = c
        .all_events(&admin)
        .await
        .into_iter()
        .map(|e| (e["seq"].as_u64().unwrap(), e))
        .collect();
    for (seq, event) in &seen {
        assert_eq!(
            log.get(seq),
            Some(event),
            "event {seq} as the client saw it"
        );
    }
    assert_eq!(server.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_write_load_holds_every_earlier_write_and_restores_intact() {
    let data = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let backup_dir = backups.path().to_str().unwrap();
    let server = Server::start_with(data.path(), &["--backup-dir", backup_dir]).await;
    let (product, user, carts) = seed_for_load(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let per_cart: Arc<Vec<AtomicU64>> = Arc::new(carts.iter().map(|_| AtomicU64::new(0)).collect());
    let progress = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for (i, &cart) in carts.iter().enumerate() {
        let (base, user) = (server.base.clone(), user.clone());
        let (stop, progress, per_cart) = (stop.clone(), progress.clone(), per_cart.clone());
        clients.spawn(async move {
            let c = Client::new(&base);
            while !stop.load(Ordering::Relaxed) {
                let body = json!({ "product_id": product, "quantity": 1 });
                let (status, _) = c
                    .post(&format!("/carts/{cart}/products"), Some(&user), body)
                    .await
                    .unwrap();
                assert_eq!(status, 200);
                per_cart[i].fetch_add(1, Ordering::SeqCst);
                progress.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    wait_for_progress(&progress, 50).await;
    // Everything acknowledged so far must be in the backup.
    let before: Vec<u64> = per_cart.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    let target = backups.path().join("snap");
    let run_backup = |to: std::path::PathBuf| {
        let base = server.base.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_trolley"))
                .args(["backup", "--server", &base, "--to"])
                .arg(to)
                .env("TROLLEY_ADMIN_USERNAME", ADMIN)
                .env("TROLLEY_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .env("RUST_LOG", "off")
                .output()
                .unwrap()
        })
    };
    let out = run_backup(target.clone()).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let during = progress.load(Ordering::Relaxed);
    // The server kept taking writes during and after the backup.
    wait_for_progress(&progress, during + 20).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = clients.join_next().await {
        r.unwrap();
    }
    // A non-empty target is refused, and nothing is left behind.
    let again = run_backup(target.clone()).await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    assert_eq!(server.terminate().code(), Some(0));

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(target.join("BACKUP.json")).unwrap()).unwrap();
    let server = Server::start(&target).await;
    let c = Client::new(&server.base);
    let admin = c.token(ADMIN, ADMIN_PASSWORD).await;
    check_recovered(&c, &admin, &user, product, &carts, &before, u64::MAX).await;
    let events = c.all_events(&admin).await;
    assert_eq!(events.last().unwrap()["seq"], manifest["head_seq"]);
    // New ids in the restored server never collide with the copied ones.
    let (status, cart) = c.post("/carts", Some(&user), json!({})).await.unwrap();
    assert_eq!(status, 201);
    let new_id = cart["id"].as_u64().unwrap();
    assert!(
        carts.iter().all(|&old| new_id > old),
        "{new_id} vs {carts:?}"
    );
    assert_eq!(server.terminate().code(), Some(0));
}

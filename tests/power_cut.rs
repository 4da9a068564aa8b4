//! Power cuts under load. The real `trolley` binary keeps its data on the power-cut file system
//! (the `powercut` crate), where only what was fsync'd survives a cut — unlike `kill -9`, which
//! leaves everything handed to the kernel in place (see tests/process.rs). Each round drives
//! concurrent acknowledged writes (adds to carts, carts and checkouts, registrations), then at a
//! random moment kills the server with SIGKILL and cuts the power (now and then once more
//! during the next start-up, while sled recovers), restarts it on what is left and checks that
//! every acknowledged write is there and the invariants hold: no oversell, Σ holds = Σ
//! open-cart lines, an event log without gaps that agrees with the state.
//!
//! Needs FUSE (root and /dev/fuse); elsewhere it says so and passes, except under CI.
//! `POWERCUT_CUTS` sets the number of cuts (default 20).

use powercut::mount_or_skip;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-password";
const PASSWORD: &str = "password-1";
/// Stock of the product every checkout wants: small enough to run out during the test.
const SCARCE_STOCK: u64 = 300;
const PLENTY: u64 = 1_000_000;
/// Carts that only ever grow, one request at a time each.
const GROWING_CARTS: usize = 4;
/// Users who create a cart, add two products and check out, over and over.
const SHOPPERS: usize = 2;

/// The server as a child process, with its log lines kept for a failure report.
struct Server {
    child: Child,
    base: String,
    /// Its last log lines (stderr), read by `reader`.
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts the binary on `data` and waits until it serves; on failure, its last log lines.
    fn command(data: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trolley"));
        // Port 0, then the bound address from the log: no race for a free port.
        cmd.args(["--addr", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(data)
            .env("TROLLEY_ADMIN_USERNAME", ADMIN)
            .env("TROLLEY_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn,trolley=info")
            // Durability is tested here, not the per-account bounds (tests/api/quotas.rs): the
            // workload registers from one address and shops hard as few users.
            .env("TROLLEY_MAX_REGISTRATIONS_PER_MINUTE", "1000000")
            .env("TROLLEY_MAX_OPEN_CARTS", "1000000")
            .env("TROLLEY_MAX_IDEMPOTENCY_KEYS", "1000000")
            .env("TROLLEY_MAX_SESSIONS", "1000000")
            .stdout(Stdio::null());
        cmd
    }

    async fn start(data: &Path) -> Result<Server, String> {
        let mut child = Self::command(data)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run the binary: {e}"))?;
        let Some(stderr) = child.stderr.take() else {
            return Err("no stderr".into());
        };
        let (addr_tx, addr_rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = serving_addr(&line) {
                        let _ = addr_tx.send(addr);
                    }
                    let mut log = log.lock().unwrap();
                    log.push(line);
                    if log.len() > 40 {
                        log.remove(0);
                    }
                }
            })
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let addr = loop {
            if let Ok(addr) = addr_rx.try_recv() {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let _ = reader.join();
                let log = log.lock().unwrap().join("\n");
                return Err(format!("the server exited ({status}):\n{log}"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("the server did not serve within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let server = Server {
            child,
            base: format!("http://{addr}"),
            log,
            reader: Some(reader),
        };
        let c = Client::new(&server.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(c.get("/readyz", None).await, Ok((200, _))) {
            if Instant::now() > deadline {
                return Err("/readyz never answered 200".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    /// Starts the binary and kills it `after` into its start-up (sled's recovery and snapshot,
    /// the admin check, resumed checkouts), whether or not it serves by then.
    async fn kill_during_start(data: &Path, after: Duration) {
        let mut child = Self::command(data)
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs");
        // Not a synchronisation: this picks the moment of the cut.
        tokio::time::sleep(after).await;
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill9(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the server to exit by itself: its exit status and last log lines.
    async fn exit_on_its_own(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Its stderr is closed now: the reader reaches the end of the log.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log.lock().unwrap().join("\n");
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test must not leave the server holding the mount.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir` with its size: what the disk held after a cut.
fn listing(dir: &Path) -> String {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            match e.metadata() {
                Ok(m) if m.is_dir() => {
                    out.push(format!("{name}/"));
                    walk(&path, root, out);
                }
                Ok(m) => out.push(format!("{name} ({} bytes)", m.len())),
                Err(_) => out.push(name),
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    if out.is_empty() {
        "nothing".into()
    } else {
        out.join(", ")
    }
}

/// The address of a JSON log line saying "trolley is serving".
fn serving_addr(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    if v["fields"]["message"] != "trolley is serving" {
        return None;
    }
    Some(v["fields"]["addr"].as_str()?.to_owned())
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

/// How a state-changing request ended.
enum Answer {
    /// Acknowledged (the expected 2xx), with the body.
    Acked(Value),
    /// Refused with 409: nothing changed.
    Refused,
    /// No answer, or a 5xx: it may or may not have happened.
    Unknown,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Result<(u16, Value)> {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// A GET that must succeed (the server is up and the test asks for what it may read).
    async fn read(&self, path: &str, token: &str) -> Value {
        match self.get(path, Some(token)).await {
            Ok((200, v)) => v,
            other => panic!("GET {path}: {other:?}"),
        }
    }

    /// A POST expected to answer `ok`; a 4xx other than 409 is a bug in this test.
    async fn post(&self, path: &str, token: Option<&str>, body: Value, ok: u16) -> Answer {
        match self
            .send(reqwest::Method::POST, path, token, Some(body))
            .await
        {
            Ok((s, v)) if s == ok => Answer::Acked(v),
            Ok((409, _)) => Answer::Refused,
            Ok((s, v)) if (400..500).contains(&s) => panic!("POST {path}: {s} {v}"),
            _ => Answer::Unknown,
        }
    }

    async fn login(&self, username: &str, password: &str) -> Option<String> {
        let body = json!({ "username": username, "password": password });
        match self
            .send(reqwest::Method::POST, "/login", None, Some(body))
            .await
        {
            Ok((200, v)) => Some(v["token"].as_str()?.to_owned()),
            _ => None,
        }
    }
}

/// xorshift64*: varied cut moments and choices; the seed is printed to repeat a run's choices.
struct Rng(u64);

impl Rng {
    fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

struct User {
    name: String,
    token: String,
}

/// What the test knows about one cart: everything acknowledged, plus the one request whose
/// answer never came (it may or may not have landed).
#[derive(Clone, Default)]
struct CartRecord {
    /// Index into `Ledger::users`.
    owner: usize,
    /// Acknowledged quantity per product.
    lines: BTreeMap<u64, u64>,
    /// An add without an answer: (product, quantity).
    unknown_add: Option<(u64, u64)>,
    /// The order of an acknowledged checkout.
    order: Option<u64>,
    /// A checkout without an answer.
    unknown_checkout: bool,
}

/// Everything acknowledged so far.
struct Ledger {
    /// `users[0]` is the admin, then the growing carts' owner, then the shoppers.
    users: Vec<User>,
    /// (id, initial stock); the first is the scarce one.
    products: Vec<(u64, u64)>,
    carts: BTreeMap<u64, CartRecord>,
    /// Acknowledged registrations not yet checked by registering them again.
    new_usernames: Vec<String>,
    usernames: Vec<String>,
    acked: Acked,
}

#[derive(Default, Debug)]
struct Acked {
    adds: u64,
    carts: u64,
    checkouts: u64,
    registrations: u64,
}

/// What one check found.
#[derive(Default)]
struct Report {
    /// Acknowledged writes looked for.
    looked_for: u64,
    /// How many of them are gone.
    lost_writes: u64,
    /// What is gone.
    lost: Vec<String>,
    /// Invariants that do not hold.
    broken: Vec<String>,
}

impl Report {
    fn lose(&mut self, writes: u64, what: String) {
        self.lost_writes += writes;
        self.lost.push(what);
    }
}

impl Ledger {
    async fn seed(c: &Client) -> Ledger {
        let admin = c.login(ADMIN, ADMIN_PASSWORD).await.expect("admin logs in");
        let mut products = Vec::new();
        for (name, stock) in [("Saffron", SCARCE_STOCK), ("Tea", PLENTY), ("Rice", PLENTY)] {
            let body = json!({ "name": name, "price_cents": 100, "stock": stock });
            let Answer::Acked(p) = c.post("/products", Some(&admin), body, 201).await else {
                panic!("creating {name} failed");
            };
            products.push((p["id"].as_u64().unwrap(), stock));
        }
        let mut users = vec![User {
            name: ADMIN.into(),
            token: admin,
        }];
        let mut usernames = Vec::new();
        for i in 0..=SHOPPERS {
            let name = format!("buyer{i}");
            let body = json!({ "username": name, "password": PASSWORD });
            assert!(matches!(
                c.post("/register", None, body, 201).await,
                Answer::Acked(_)
            ));
            let token = c.login(&name, PASSWORD).await.expect("buyer logs in");
            usernames.push(name.clone());
            users.push(User { name, token });
        }
        let mut carts = BTreeMap::new();
        for _ in 0..GROWING_CARTS {
            let Answer::Acked(cart) = c
                .post("/carts", Some(&users[1].token), json!({}), 201)
                .await
            else {
                panic!("creating a cart failed");
            };
            let record = CartRecord {
                owner: 1,
                ..CartRecord::default()
            };
            carts.insert(cart["id"].as_u64().unwrap(), record);
        }
        let acked = Acked {
            carts: GROWING_CARTS as u64,
            registrations: usernames.len() as u64,
            ..Acked::default()
        };
        Ledger {
            users,
            products,
            carts,
            new_usernames: Vec::new(),
            usernames,
            acked,
        }
    }

    /// Drives writes for `load`, then kills the server and records what was acknowledged.
    async fn load_then_kill(&mut self, server: Server, load: Duration, rng: &mut Rng, round: u64) {
        let stop = Arc::new(AtomicBool::new(false));
        let growing: Vec<u64> = self
            .carts
            .iter()
            .filter(|(_, r)| r.owner == 1)
            .map(|(&id, _)| id)
            .collect();
        let plenty: Vec<u64> = self.products[1..].iter().map(|p| p.0).collect();
        let scarce = self.products[0].0;

        let mut grows = tokio::task::JoinSet::new();
        for (i, &cart) in growing.iter().enumerate() {
            let (base, token, stop) = (
                server.base.clone(),
                self.users[1].token.clone(),
                stop.clone(),
            );
            let record = self.carts[&cart].clone();
            let product = plenty[i % plenty.len()];
            grows.spawn(async move {
                (
                    cart,
                    grow(&base, &token, cart, record, product, &stop).await,
                )
            });
        }
        let mut shops = tokio::task::JoinSet::new();
        for owner in 2..2 + SHOPPERS {
            let (base, token, stop) = (
                server.base.clone(),
                self.users[owner].token.clone(),
                stop.clone(),
            );
            let (plenty, seed) = (plenty.clone(), rng.below(u64::MAX) | 1);
            shops.spawn(async move {
                shop(&base, &token, owner, scarce, &plenty, Rng(seed), &stop).await
            });
        }
        let registrar = {
            let (base, stop) = (server.base.clone(), stop.clone());
            tokio::spawn(async move { register(&base, round, &stop).await })
        };

        // Not a synchronisation: this picks the moment of the cut.
        tokio::time::sleep(load).await;
        server.kill9();
        stop.store(true, Ordering::Relaxed);

        while let Some(r) = grows.join_next().await {
            let (cart, (record, adds)) = r.unwrap();
            self.acked.adds += adds;
            self.carts.insert(cart, record);
        }
        while let Some(r) = shops.join_next().await {
            for (cart, record) in r.unwrap() {
                self.acked.carts += 1;
                self.acked.adds += record.lines.len() as u64;
                self.acked.checkouts += u64::from(record.order.is_some());
                self.carts.insert(cart, record);
            }
        }
        let names = registrar.await.unwrap();
        self.acked.registrations += names.len() as u64;
        self.new_usernames.extend(names);
    }

    /// Checks the restarted server against everything acknowledged, then takes what it shows
    /// (including writes that landed unacknowledged) as the new baseline.
    async fn check(&mut self, c: &Client) -> Report {
        let mut r = Report::default();

        // Sessions are acknowledged writes too (a login stores one).
        for u in &mut self.users {
            r.looked_for += 1;
            let status = c
                .get("/me", Some(&u.token))
                .await
                .map(|(s, _)| s)
                .unwrap_or(0);
            if status != 200 {
                r.lose(
                    1,
                    format!("{}'s login session: GET /me answers {status}", u.name),
                );
                let password = if u.name == ADMIN {
                    ADMIN_PASSWORD
                } else {
                    PASSWORD
                };
                match c.login(&u.name, password).await {
                    Some(token) => u.token = token,
                    None => {
                        r.looked_for += 1;
                        r.lose(1, format!("user {}: cannot log in", u.name))
                    }
                }
            }
        }
        let admin = self.users[0].token.clone();

        let mut products = HashMap::new();
        for &(id, _) in &self.products {
            r.looked_for += 1;
            match c.get(&format!("/products/{id}"), None).await {
                Ok((200, p)) => {
                    products.insert(id, p);
                }
                other => r.lose(1, format!("product {id}: {other:?}")),
            }
        }

        let mut orders: HashMap<u64, Value> = HashMap::new();
        for u in &self.users[1..] {
            // A user who is gone has been reported above; their carts are checked as admin.
            let mut after = 0;
            // Every page, following `next`.
            while let Ok((200, page)) = c
                .get(&format!("/orders?limit=500&after={after}"), Some(&u.token))
                .await
            {
                for o in page["items"].as_array().unwrap() {
                    orders.insert(o["id"].as_u64().unwrap(), o.clone());
                }
                let Some(next) = page["next"].as_u64() else {
                    break;
                };
                after = next;
            }
        }
        let mut ordered_carts = HashMap::new();
        for (&id, o) in &orders {
            ordered_carts.insert(o["cart_id"].as_u64().unwrap(), id);
        }

        // Carts: acknowledged lines and checkouts, and the holds they account for.
        let mut held: HashMap<u64, u64> = HashMap::new();
        let mut in_state: HashMap<u64, BTreeMap<u64, u64>> = HashMap::new();
        let mut fetched = get_carts(c, &admin, self.carts.keys().copied().collect()).await;
        for (&id, rec) in &mut self.carts {
            r.looked_for += 1 + rec.lines.len() as u64 + u64::from(rec.order.is_some());
            let cart = match fetched.remove(&id) {
                Some(Ok((200, cart))) => cart,
                other => {
                    let writes = 1 + rec.lines.len() as u64 + u64::from(rec.order.is_some());
                    r.lose(writes, format!("cart {id}: {other:?}"));
                    continue;
                }
            };
            let checked_out = cart["status"] == "checked_out";
            let lines: BTreeMap<u64, u64> = if checked_out {
                let Some(order) = ordered_carts.get(&id).and_then(|o| orders.get(o)) else {
                    r.broken
                        .push(format!("cart {id} is checked out but has no order"));
                    continue;
                };
                lines_of(&order["lines"])
            } else {
                lines_of(&cart["items"])
            };
            match (rec.order, checked_out) {
                (Some(order), true) if ordered_carts.get(&id) != Some(&order) => r.lose(
                    1,
                    format!(
                        "cart {id}: acknowledged order {order}, found {:?}",
                        ordered_carts.get(&id)
                    ),
                ),
                (Some(order), false) => r.lose(
                    1,
                    format!(
                        "cart {id}: acknowledged checkout (order {order}) gone, cart {}",
                        cart["status"]
                    ),
                ),
                (None, true) if !rec.unknown_checkout => r
                    .broken
                    .push(format!("cart {id} checked out without being asked to")),
                (None, false) if cart["status"] != "open" => {
                    r.broken.push(format!("cart {id} is {}", cart["status"]))
                }
                _ => {}
            }
            let mut products_seen: Vec<u64> =
                rec.lines.keys().chain(lines.keys()).copied().collect();
            products_seen.sort_unstable();
            products_seen.dedup();
            for p in products_seen {
                let acked = rec.lines.get(&p).copied().unwrap_or(0);
                let maybe = match rec.unknown_add {
                    Some((q, n)) if q == p => n,
                    _ => 0,
                };
                let found = lines.get(&p).copied().unwrap_or(0);
                if found < acked {
                    r.lose(
                        1,
                        format!("cart {id}: product {p} ×{found}, {acked} acknowledged"),
                    );
                } else if found > acked + maybe {
                    r.broken.push(format!("cart {id}: product {p} ×{found}, only {acked} (+{maybe} unanswered) asked for"));
                }
            }
            if !checked_out {
                for item in cart["items"].as_array().unwrap() {
                    if item["reserved"] == true {
                        *held
                            .entry(item["product_id"].as_u64().unwrap())
                            .or_default() += item["quantity"].as_u64().unwrap();
                    }
                }
            }
            // What is there now is the baseline for the next round.
            rec.lines = lines.clone();
            rec.order = ordered_carts.get(&id).copied();
            rec.unknown_add = None;
            rec.unknown_checkout = false;
            in_state.insert(id, lines);
        }
        for (&order, o) in &orders {
            let cart = o["cart_id"].as_u64().unwrap();
            if !self.carts.contains_key(&cart) {
                r.broken
                    .push(format!("order {order} is for cart {cart}, never created"));
            }
        }

        // No oversell, and Σ holds = Σ open-cart lines.
        let mut sold: HashMap<u64, u64> = HashMap::new();
        for o in orders.values() {
            for (p, q) in lines_of(&o["lines"]) {
                *sold.entry(p).or_default() += q;
            }
        }
        for &(id, initial) in &self.products {
            let Some(p) = products.get(&id) else { continue };
            let (stock, reserved) = (
                p["stock"].as_u64().unwrap(),
                p["reserved"].as_u64().unwrap(),
            );
            let sold = sold.get(&id).copied().unwrap_or(0);
            if stock + reserved + sold != initial {
                r.broken.push(format!(
                    "product {id}: stock {stock} + reserved {reserved} + sold {sold} ≠ {initial}"
                ));
            }
            let held = held.get(&id).copied().unwrap_or(0);
            if reserved != held {
                r.broken.push(format!(
                    "product {id}: reserved {reserved}, open carts hold {held}"
                ));
            }
        }

        // Registrations: registering the name again must find it taken.
        for name in std::mem::take(&mut self.new_usernames) {
            r.looked_for += 1;
            let body = json!({ "username": name, "password": PASSWORD });
            match c.post("/register", None, body, 201).await {
                Answer::Refused => {}
                Answer::Acked(_) => r.lose(1, format!("registration of {name}")),
                Answer::Unknown => r
                    .broken
                    .push(format!("registering {name} again: no answer")),
            }
            self.usernames.push(name);
        }

        self.check_log(c, &admin, &in_state, &orders, &sold, &mut r)
            .await;
        r
    }

    /// The log: gap-free, and agreeing with the state just read.
    async fn check_log(
        &self,
        c: &Client,
        admin: &str,
        carts: &HashMap<u64, BTreeMap<u64, u64>>,
        orders: &HashMap<u64, Value>,
        sold: &HashMap<u64, u64>,
        r: &mut Report,
    ) {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = c
                .read(&format!("/events?after={after}&limit=1000"), admin)
                .await;
            let batch = page["events"].as_array().unwrap();
            if batch.is_empty() {
                break;
            }
            events.extend(batch.iter().cloned());
            after = page["next_after"].as_u64().unwrap();
        }
        if let Some((i, e)) = events
            .iter()
            .enumerate()
            .find(|(i, e)| e["seq"].as_u64() != Some(*i as u64 + 1))
        {
            r.broken.push(format!(
                "event log gap: event #{} has seq {}",
                i + 1,
                e["seq"]
            ));
        }
        let mut added: HashMap<(u64, u64), u64> = HashMap::new();
        let mut committed: HashMap<u64, u64> = HashMap::new();
        let mut checked_out: Vec<u64> = Vec::new();
        let mut registered: HashMap<String, u64> = HashMap::new();
        for e in &events {
            let d = &e["data"];
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            match e["type"].as_str().unwrap_or("") {
                "ProductAdded" => {
                    *added.entry((n("cart_id"), n("product_id"))).or_default() += n("quantity")
                }
                "StockCommitted" => *committed.entry(n("product_id")).or_default() += n("quantity"),
                "CartCheckedOut" => checked_out.push(n("order_id")),
                "UserRegistered" => {
                    *registered
                        .entry(d["username"].as_str().unwrap_or("").to_owned())
                        .or_default() += 1
                }
                _ => {}
            }
        }
        for (&cart, lines) in carts {
            for (&p, &q) in lines {
                let logged = added.get(&(cart, p)).copied().unwrap_or(0);
                if logged != q {
                    r.broken
                        .push(format!("cart {cart}: product {p} ×{q}, log adds {logged}"));
                }
            }
        }
        for &(id, _) in &self.products {
            let (logged, sold) = (
                committed.get(&id).copied().unwrap_or(0),
                sold.get(&id).copied().unwrap_or(0),
            );
            if logged != sold {
                r.broken
                    .push(format!("product {id}: {sold} sold, log commits {logged}"));
            }
        }
        checked_out.sort_unstable();
        let mut order_ids: Vec<u64> = orders.keys().copied().collect();
        order_ids.sort_unstable();
        if checked_out != order_ids {
            r.broken.push(format!(
                "{} CartCheckedOut events for {} orders",
                checked_out.len(),
                order_ids.len()
            ));
        }
        for name in &self.usernames {
            if registered.get(name) != Some(&1) {
                r.broken.push(format!(
                    "{name}: {:?} UserRegistered events",
                    registered.get(name)
                ));
            }
        }
    }
}

/// `GET /carts/{id}` for each of `ids`, a few at a time (the carts add up over the rounds).
async fn get_carts(
    c: &Client,
    token: &str,
    ids: Vec<u64>,
) -> HashMap<u64, reqwest::Result<(u16, Value)>> {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(8).max(1)) {
        let (c, token, chunk) = (c.clone(), token.to_owned(), chunk.to_vec());
        tasks.spawn(async move {
            let mut out = Vec::new();
            for id in chunk {
                out.push((id, c.get(&format!("/carts/{id}"), Some(&token)).await));
            }
            out
        });
    }
    let mut all = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.unwrap());
    }
    all
}

/// Product → quantity of a cart's `items` or an order's `lines`.
fn lines_of(lines: &Value) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for l in lines.as_array().into_iter().flatten() {
        *out.entry(l["product_id"].as_u64().unwrap()).or_default() +=
            l["quantity"].as_u64().unwrap();
    }
    out
}

/// Adds one `product` to `cart` again and again until stopped or unanswered.
async fn grow(
    base: &str,
    token: &str,
    cart: u64,
    mut record: CartRecord,
    product: u64,
    stop: &AtomicBool,
) -> (CartRecord, u64) {
    let c = Client::new(base);
    let mut adds = 0;
    while !stop.load(Ordering::Relaxed) {
        let body = json!({ "product_id": product, "quantity": 1 });
        match c
            .post(&format!("/carts/{cart}/products"), Some(token), body, 200)
            .await
        {
            Answer::Acked(_) => {
                *record.lines.entry(product).or_default() += 1;
                adds += 1;
            }
            Answer::Refused => panic!("plenty of stock, yet refused"),
            Answer::Unknown => {
                record.unknown_add = Some((product, 1));
                break;
            }
        }
    }
    (record, adds)
}

/// Cart, two adds (the scarce product, which runs out, and a plentiful one), checkout; again
/// and again until stopped or unanswered. Returns the carts it created.
async fn shop(
    base: &str,
    token: &str,
    owner: usize,
    scarce: u64,
    plenty: &[u64],
    mut rng: Rng,
    stop: &AtomicBool,
) -> Vec<(u64, CartRecord)> {
    let c = Client::new(base);
    let mut carts = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Answer::Acked(cart) = c.post("/carts", Some(token), json!({}), 201).await else {
            break;
        };
        let id = cart["id"].as_u64().unwrap();
        let mut record = CartRecord {
            owner,
            ..CartRecord::default()
        };
        let wanted = [
            (scarce, 1 + rng.below(3)),
            (plenty[rng.below(plenty.len() as u64) as usize], 1),
        ];
        let mut answered = true;
        for (product, quantity) in wanted {
            let body = json!({ "product_id": product, "quantity": quantity });
            match c
                .post(&format!("/carts/{id}/products"), Some(token), body, 200)
                .await
            {
                Answer::Acked(_) => *record.lines.entry(product).or_default() += quantity,
                Answer::Refused => {}
                Answer::Unknown => {
                    record.unknown_add = Some((product, quantity));
                    answered = false;
                    break;
                }
            }
        }
        if answered {
            match c
                .post(
                    &format!("/carts/{id}/checkout"),
                    Some(token),
                    json!({}),
                    201,
                )
                .await
            {
                Answer::Acked(order) => record.order = order["id"].as_u64(),
                Answer::Refused => {}
                Answer::Unknown => {
                    record.unknown_checkout = true;
                    answered = false;
                }
            }
        }
        carts.push((id, record));
        if !answered {
            break;
        }
    }
    carts
}

/// Registers new users until stopped or unanswered; returns the acknowledged names.
async fn register(base: &str, round: u64, stop: &AtomicBool) -> Vec<String> {
    let c = Client::new(base);
    let mut names = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name = format!("r{round}u{n}");
        let body = json!({ "username": name, "password": PASSWORD });
        match c.post("/register", None, body, 201).await {
            Answer::Acked(_) => names.push(name),
            Answer::Refused => panic!("{name} taken"),
            Answer::Unknown => break,
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_power_cuts() {
    let backing = tempfile::tempdir().unwrap();
    let mountpoint = tempfile::tempdir().unwrap();
    let Some(mut mount) = mount_or_skip(backing.path(), mountpoint.path()) else {
        return;
    };
    let cuts: u64 = std::env::var("POWERCUT_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = Rng::from_clock();
    eprintln!("power cuts: {cuts}, seed {}", rng.0);
    let data = mount.path().join("data");

    let mut server = Server::start(&data).await.unwrap();
    let mut ledger = Ledger::seed(&Client::new(&server.base)).await;
    let (mut file_syncs, mut dir_syncs, mut start_cuts) = (0, 0, 0);
    for cut in 1..=cuts {
        let load = Duration::from_millis(100 + rng.below(1400));
        ledger.load_then_kill(server, load, &mut rng, cut).await;
        let stats = mount.stats();
        file_syncs += stats.file_syncs;
        dir_syncs += stats.dir_syncs;
        mount.power_cut().unwrap();
        // Now and then a second cut while the server starts on what the first one left.
        if rng.below(3) == 0 {
            Server::kill_during_start(&data, Duration::from_millis(rng.below(300))).await;
            let stats = mount.stats();
            file_syncs += stats.file_syncs;
            dir_syncs += stats.dir_syncs;
            mount.power_cut().unwrap();
            start_cuts += 1;
        }
        let disk = listing(backing.path());

        server = match Server::start(&data).await {
            Ok(s) => s,
            Err(e) => panic!(
                "cut {cut} (after {load:?} of load; {start_cuts} cuts during start-up, \
                 {file_syncs} file and {dir_syncs} directory fsyncs so far; the disk held: \
                 {disk}): the store does not open: {e}"
            ),
        };
        let report = ledger.check(&Client::new(&server.base)).await;
        if !report.lost.is_empty() || !report.broken.is_empty() {
            let list = |v: &[String]| {
                v.iter()
                    .take(12)
                    .map(|s| format!("\n  - {s}"))
                    .collect::<String>()
            };
            panic!(
                "cut {cut} (after {load:?} of load; {start_cuts} cuts during start-up, \
                 {file_syncs} file and {dir_syncs} directory fsyncs so far; acknowledged so far: {:?}): {} of {} acknowledged writes looked \
                 for are lost:{}\n{} invariant violations:{}\nthe disk held: {}",
                ledger.acked,
                report.lost_writes,
                report.looked_for,
                list(&report.lost),
                report.broken.len(),
                list(&report.broken),
                disk,
            );
        }
    }
    eprintln!(
        "{cuts} power cuts under load and {start_cuts} during start-up survived; acknowledged: \
         {:?}; {file_syncs} file and {dir_syncs} directory fsyncs",
        ledger.acked
    );
    server.kill9();
}

/// A server on a fresh power-cut mount with the ledger's seed, and the one cart the fault
/// tests add to (user 1's, product 1).
struct Faulty {
    // Held for the mount's lifetime.
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    mount: powercut::Mount,
    data: std::path::PathBuf,
    server: Option<Server>,
    c: Client,
    ledger: Ledger,
    cart: u64,
    product: u64,
    token: String,
}

impl Faulty {
    /// `None` (after one line saying so) where FUSE is unavailable.
    async fn start() -> Option<Faulty> {
        let backing = tempfile::tempdir().unwrap();
        let mountpoint = tempfile::tempdir().unwrap();
        let mount = mount_or_skip(backing.path(), mountpoint.path())?;
        let data = mount.path().join("data");
        let server = Server::start(&data).await.unwrap();
        let c = Client::new(&server.base);
        let ledger = Ledger::seed(&c).await;
        let cart = *ledger.carts.keys().next().unwrap();
        let (product, token) = (ledger.products[1].0, ledger.users[1].token.clone());
        Some(Faulty {
            _dirs: (backing, mountpoint),
            mount,
            data,
            server: Some(server),
            c,
            ledger,
            cart,
            product,
            token,
        })
    }

    /// Adds one unit to the cart and records what the answer says in the ledger.
    async fn add(&mut self) -> &'static str {
        let body = json!({ "product_id": self.product, "quantity": 1 });
        let path = format!("/carts/{}/products", self.cart);
        let answer = self.c.post(&path, Some(&self.token), body, 200).await;
        let record = self.ledger.carts.get_mut(&self.cart).unwrap();
        match answer {
            Answer::Acked(_) => {
                *record.lines.entry(self.product).or_default() += 1;
                "acked"
            }
            Answer::Refused => panic!("plenty of stock, yet refused"),
            Answer::Unknown => {
                let (_, n) = record.unknown_add.unwrap_or((self.product, 0));
                record.unknown_add = Some((self.product, n + 1));
                "unknown"
            }
        }
    }

    /// Cuts the power (the server must be gone), restarts, and checks every acknowledged
    /// write against the ledger.
    async fn cut_restart_and_check(mut self) {
        self.mount.power_cut().unwrap();
        let server = Server::start(&self.data)
            .await
            .unwrap_or_else(|e| panic!("the store does not open: {e}"));
        let report = self.ledger.check(&Client::new(&server.base)).await;
        assert!(
            report.lost.is_empty() && report.broken.is_empty(),
            "lost: {:?}; broken: {:?}",
            report.lost,
            report.broken
        );
        server.kill9();
    }
}

/// One failed fsync, then writes go on. Linux marks the pages of a failed write-back clean, so
/// later fsyncs succeed without them: a store that kept acknowledging lost one event of an
/// atomic unit whose state survived (measured: "cart 8: product 3 ×11, log adds 10").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_after_a_failed_fsync_survive_a_cut() {
    let Some(mut f) = Faulty::start().await else {
        return;
    };
    for _ in 0..5 {
        f.add().await;
    }
    // The disk fails one sync; Linux then drops the data that sync was to write.
    f.mount.fail_syncs(Some(powercut::Errno::EIO));
    f.add().await;
    f.mount.fail_syncs(None);
    for _ in 0..5 {
        f.add().await;
    }
    if let Some(server) = f.server.take() {
        server.kill9();
    }
    f.cut_restart_and_check().await;
}

/// The disk fills up: the write that hit it is answered 507 (nothing acknowledged that is not
/// durable), the server stops with a clear message and a non-zero exit rather than go on with
/// a store sled cannot trust, and once there is space a restart recovers every acknowledged
/// write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_stops_the_server_and_a_restart_recovers() {
    let Some(mut f) = Faulty::start().await else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(f.add().await, "acked", "a healthy disk takes the add");
    }
    // Let the background writers (the sales projection's offset) settle first, so the add is
    // the write that meets the full disk.
    let admin = f.ledger.users[0].token.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = f.c.read("/events?after=0&limit=1000", &admin).await;
        let stats =
            f.c.read(&format!("/products/{}/stats", f.product), &admin)
                .await;
        if stats["as_of_seq"].as_u64() == log["next_after"].as_u64() {
            break;
        }
        assert!(Instant::now() < deadline, "the projection never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.mount.fail_syncs(Some(powercut::Errno::ENOSPC));
    let path = format!("/carts/{}/products", f.cart);
    let body = json!({ "product_id": f.product, "quantity": 1 });
    let full =
        f.c.send(reqwest::Method::POST, &path, Some(&f.token), Some(body))
            .await
            .unwrap();
    assert_eq!(full.0, 507, "{full:?}");
    assert_eq!(full.1["error"]["code"], "insufficient_storage");
    let record = f.ledger.carts.get_mut(&f.cart).unwrap();
    record.unknown_add = Some((f.product, 1));

    let server = f.server.take().unwrap();
    let (status, log) = server.exit_on_its_own().await;
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("the disk failed"), "{log}");

    // Space again; the power goes too, for good measure.
    f.mount.fail_syncs(None);
    f.cut_restart_and_check().await;
}

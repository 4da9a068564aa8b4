//! Random sequences of cart operations, each perhaps with a stalled disk on the way, every one
//! retried (with its `Idempotency-Key` where it has one) until it gets a definite answer, as a
//! careful client would. A model replays the same sequence; afterwards the server must agree
//! with it exactly: every line, every status, every product's stock and holds, one order per
//! checkout, and a gap-free event log whose sales match the orders.
//!
//! A stall holds the whole disk (every write waits, in order) until the client has had its
//! answer (a 503 after the short call timeout), so the retry meets an attempt whose outcome is
//! unknown and whose writes land later.

use crate::helpers::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const CARTS: usize = 3;
const PRODUCTS: usize = 3;
const STOCK: u64 = 6;

#[derive(Debug, Clone)]
enum Op {
    Add {
        cart: usize,
        product: usize,
        qty: u64,
    },
    Set {
        cart: usize,
        product: usize,
        qty: u64,
    },
    Remove {
        cart: usize,
        product: usize,
    },
    Checkout {
        cart: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let cart = 0..CARTS;
    let product = 0..PRODUCTS;
    prop_oneof![
        4 => (cart.clone(), product.clone(), 1u64..4)
            .prop_map(|(cart, product, qty)| Op::Add { cart, product, qty }),
        2 => (cart.clone(), product.clone(), 0u64..5)
            .prop_map(|(cart, product, qty)| Op::Set { cart, product, qty }),
        1 => (cart.clone(), product).prop_map(|(cart, product)| Op::Remove { cart, product }),
        1 => cart.prop_map(|cart| Op::Checkout { cart }),
    ]
}

/// Operations, each with whether the disk stalls under its first attempt.
fn case() -> impl Strategy<Value = Vec<(Op, bool)>> {
    let stall = prop_oneof![4 => Just(false), 1 => Just(true)];
    proptest::collection::vec((op(), stall), 1..14)
}

/// What the server should hold, computed without it.
#[derive(Debug, Default)]
struct Model {
    /// Per cart: product → quantity, and whether it is checked out.
    lines: [BTreeMap<usize, u64>; CARTS],
    closed: [bool; CARTS],
    sold: [u64; PRODUCTS],
    orders: usize,
}

impl Model {
    /// Units of `product` held by open carts.
    fn held(&self, product: usize) -> u64 {
        (0..CARTS)
            .filter(|c| !self.closed[*c])
            .filter_map(|c| self.lines[c].get(&product))
            .sum()
    }

    fn available(&self, product: usize) -> u64 {
        STOCK - self.sold[product] - self.held(product)
    }

    /// The status `op` must end in, applying it if it succeeds.
    fn apply(&mut self, op: &Op) -> StatusCode {
        match *op {
            Op::Add { cart, .. } | Op::Set { cart, .. } | Op::Remove { cart, .. }
                if self.closed[cart] =>
            {
                StatusCode::CONFLICT
            }
            Op::Add { cart, product, qty } => {
                if qty > self.available(product) {
                    return StatusCode::CONFLICT;
                }
                *self.lines[cart].entry(product).or_default() += qty;
                StatusCode::OK
            }
            Op::Set { cart, product, qty } => {
                let line = self.lines[cart].get(&product).copied().unwrap_or(0);
                if qty > line && qty - line > self.available(product) {
                    return StatusCode::CONFLICT;
                }
                if qty == 0 {
                    self.lines[cart].remove(&product);
                } else {
                    self.lines[cart].insert(product, qty);
                }
                StatusCode::OK
            }
            Op::Remove { cart, product } => match self.lines[cart].remove(&product) {
                Some(_) => StatusCode::OK,
                None => StatusCode::NOT_FOUND,
            },
            Op::Checkout { cart } if self.closed[cart] || self.lines[cart].is_empty() => {
                StatusCode::CONFLICT
            }
            Op::Checkout { cart } => {
                for (product, qty) in &self.lines[cart] {
                    self.sold[*product] += qty;
                }
                self.closed[cart] = true;
                self.orders += 1;
                StatusCode::CREATED
            }
        }
    }
}

struct World {
    app: TestApp,
    token: String,
    admin: String,
    carts: Vec<u64>,
    products: Vec<u64>,
}

impl World {
    async fn new() -> World {
        // A short call timeout makes each stall cost little; a slow machine only adds 503s,
        // which the client retries like any other.
        let app = spawn_app_with(|c| c.call_timeout = Duration::from_millis(500)).await;
        let admin = app.admin_token().await;
        let mut products = Vec::new();
        for i in 0..PRODUCTS {
            products.push(
                app.create_product(&admin, &format!("P{i}"), 100, STOCK as i64)
                    .await,
            );
        }
        let (_, token) = app.signup("mona").await;
        let mut carts = Vec::new();
        for _ in 0..CARTS {
            carts.push(app.create_cart(&token).await);
        }
        World {
            app,
            token,
            admin,
            carts,
            products,
        }
    }

    /// One attempt of `op`.
    async fn send(&self, op: &Op, key: &str) -> reqwest::Response {
        let (client, app, t) = (&self.app.client, &self.app, &self.token);
        let req = match *op {
            Op::Add { cart, product, qty } => client
                .post(app.url(&format!("/carts/{}/products", self.carts[cart])))
                .header("idempotency-key", key)
                .json(&json!({ "product_id": self.products[product], "quantity": qty })),
            Op::Set { cart, product, qty } => client
                .put(app.url(&format!(
                    "/carts/{}/products/{}",
                    self.carts[cart], self.products[product]
                )))
                .json(&json!({ "quantity": qty })),
            Op::Remove { cart, product } => client.delete(app.url(&format!(
                "/carts/{}/products/{}",
                self.carts[cart], self.products[product]
            ))),
            Op::Checkout { cart } => client
                .post(app.url(&format!("/carts/{}/checkout", self.carts[cart])))
                .header("idempotency-key", key),
        };
        req.bearer_auth(t).send().await.expect("request sent")
    }

    /// `op` retried until its answer is definite, the first attempt perhaps over a stalled
    /// disk: the final status, its error code, and whether it took a retry.
    async fn run(&self, op: &Op, key: &str, stall: bool) -> (StatusCode, Value, bool) {
        let store = self.app.store();
        let stalled = stall.then(|| store.stall_disk());
        let mut answer = Some(self.send(op, key).await);
        drop(stalled);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut retried = false;
        loop {
            let r = match answer.take() {
                Some(r) => r,
                None => self.send(op, key).await,
            };
            let status = r.status();
            let code = json_of(r).await["error"]["code"].clone();
            // A careful client retries a 503 and a 409 that says to retry the key later.
            let again = status == StatusCode::SERVICE_UNAVAILABLE
                || code == "idempotency_request_in_progress";
            if !again {
                assert!(!status.is_server_error(), "{op:?}: {status} {code}");
                return (status, code, retried);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{op:?} never settled"
            );
            retried = true;
        }
    }

    /// Waits until no checkout is left half done (a failed one is resumed by a successor).
    async fn settle(&self) {
        eventually(PATIENCE, "pending checkouts to finish", || async {
            for &c in &self.carts {
                let r = self
                    .app
                    .get(&format!("/carts/{c}"), Some(&self.token))
                    .await;
                if r.status() != StatusCode::OK {
                    return None;
                }
            }
            let pending = trolley::actors::cart::interrupted_checkouts(self.app.store())
                .expect("store readable");
            pending.is_empty().then_some(())
        })
        .await
    }

    async fn assert_agrees_with(&self, model: &Model) {
        for (i, &c) in self.carts.iter().enumerate() {
            let cart = self.app.cart(&self.token, c).await;
            let status = if model.closed[i] {
                "checked_out"
            } else {
                "open"
            };
            assert_eq!(cart["status"], status, "cart {i}: {cart}");
            let lines: BTreeMap<usize, u64> = cart["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let p = self.products.iter().position(|p| l["product_id"] == *p);
                    (p.unwrap(), l["quantity"].as_u64().unwrap())
                })
                .collect();
            assert_eq!(lines, model.lines[i], "cart {i}: {cart}");
        }
        for (i, &p) in self.products.iter().enumerate() {
            let expect = (STOCK - model.sold[i] - model.held(i), model.held(i));
            assert_eq!(stock_of(&self.app, p).await, expect, "product {i}");
        }
        assert_eq!(self.app.orders(&self.token).await.len(), model.orders);
        let log = json_of(self.app.get("/events?limit=1000", Some(&self.admin)).await).await;
        let events = log["events"].as_array().unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["seq"], i as u64 + 1, "the log has no gaps");
        }
        let sold: u64 = events
            .iter()
            .filter(|e| e["type"] == "StockCommitted")
            .map(|e| e["data"]["quantity"].as_u64().unwrap())
            .sum();
        assert_eq!(sold, model.sold.iter().sum::<u64>(), "the log's sales");
    }
}

#[test]
fn random_interleavings_with_stalls_and_retries_keep_every_invariant() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |ops| {
            rt.block_on(async {
                let world = World::new().await;
                let mut model = Model::default();
                for (i, (op, stall)) in ops.iter().enumerate() {
                    let (got, code, retried) = world.run(op, &format!("op-{i}"), *stall).await;
                    let expected = model.apply(op);
                    // After an unknown outcome, a retry may find the work done: the line
                    // already gone, the checkout already finished.
                    let done_before = retried
                        && matches!(
                            (op, expected, got, code.as_str()),
                            (Op::Remove { .. }, StatusCode::OK, StatusCode::NOT_FOUND, _)
                                | (
                                    Op::Checkout { .. },
                                    StatusCode::CREATED,
                                    StatusCode::CONFLICT,
                                    Some("cart_closed")
                                )
                        );
                    prop_assert!(
                        got == expected || done_before,
                        "step {}: {:?} (stall {}) got {} {} expected {}",
                        i,
                        op,
                        stall,
                        got,
                        code,
                        expected
                    );
                }
                world.settle().await;
                world.assert_agrees_with(&model).await;
                Ok(())
            })
        })
        .unwrap();
}

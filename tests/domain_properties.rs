//! Property tests of the domain state machines, driven the way the actors drive them: random
//! sequences of add / set / remove / expire / checkout / abandon / restock across several carts
//! and products must keep the invariants of the design:
//! - available ≥ 0 and on hand = available + Σ holds, for every product;
//! - sold only grows, and on hand + sold only changes by restocking;
//! - every hold belongs to an open cart whose line for that product has exactly the held
//!   quantity (so Σ holds of a product = Σ reserved lines of it over open carts).

use proptest::prelude::*;
use trolley::domain::{
    Cart, CartId, CartStatus, Inventory, Millis, PriceCents, Product, ProductId, ProductName,
    Stock, UserId,
};

const PRODUCTS: usize = 3;
const CARTS: usize = 4;
const TTL: Millis = 100;

#[derive(Debug, Clone)]
enum Op {
    Add {
        cart: usize,
        product: usize,
        quantity: u64,
    },
    Set {
        cart: usize,
        product: usize,
        quantity: u64,
    },
    Remove {
        cart: usize,
        product: usize,
    },
    Wait {
        millis: Millis,
    },
    Expire {
        product: usize,
    },
    Checkout {
        cart: usize,
    },
    Abandon {
        cart: usize,
    },
    Restock {
        product: usize,
        stock: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let cart = 0..CARTS;
    let product = 0..PRODUCTS;
    prop_oneof![
        4 => (cart.clone(), product.clone(), 1..8u64)
            .prop_map(|(cart, product, quantity)| Op::Add { cart, product, quantity }),
        2 => (cart.clone(), product.clone(), 0..8u64)
            .prop_map(|(cart, product, quantity)| Op::Set { cart, product, quantity }),
        1 => (cart.clone(), product.clone()).prop_map(|(cart, product)| Op::Remove { cart, product }),
        2 => (0..2 * TTL).prop_map(|millis| Op::Wait { millis }),
        2 => product.clone().prop_map(|product| Op::Expire { product }),
        2 => cart.clone().prop_map(|cart| Op::Checkout { cart }),
        1 => cart.prop_map(|cart| Op::Abandon { cart }),
        1 => (product, 0..20u64).prop_map(|(product, stock)| Op::Restock { product, stock }),
    ]
}

struct World {
    now: Millis,
    inventories: Vec<Inventory>,
    carts: Vec<Cart>,
    /// Units that ever entered the shop: on hand + sold must equal it.
    received: Vec<u64>,
}

impl World {
    fn new(stock: &[u64]) -> Self {
        let inventories = stock
            .iter()
            .enumerate()
            .map(|(i, &on_hand)| {
                let product = Product {
                    id: ProductId(i as u64),
                    name: ProductName::parse(&format!("p{i}")).unwrap(),
                    price: PriceCents::new(100).unwrap(),
                    on_hand,
                    sold: 0,
                    created_at: 0,
                };
                Inventory::new(product, [])
            })
            .collect();
        let carts = (0..CARTS)
            .map(|c| Cart::new(CartId(c as u64), UserId(1), 0))
            .collect();
        Self {
            now: 0,
            inventories,
            carts,
            received: stock.to_vec(),
        }
    }

    /// The cart actor's change of one line: the hold first, then (if granted) the line.
    fn set_line(&mut self, c: usize, p: usize, quantity: u64) {
        let cart = &self.carts[c];
        if cart.status != CartStatus::Open {
            return;
        }
        let id = cart.id;
        if self.inventories[p]
            .reserve(id, quantity, self.now + TTL)
            .is_ok()
        {
            self.carts[c] = self.carts[c].with_line(ProductId(p as u64), quantity, self.now);
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Add {
                cart,
                product,
                quantity,
            } => {
                if let Ok(total) =
                    self.carts[cart].quantity_after_add(ProductId(product as u64), quantity)
                {
                    self.set_line(cart, product, total);
                }
            }
            Op::Set {
                cart,
                product,
                quantity,
            } => self.set_line(cart, product, quantity),
            Op::Remove { cart, product } => {
                if self.carts[cart].line(ProductId(product as u64)).is_some() {
                    self.set_line(cart, product, 0);
                }
            }
            Op::Wait { millis } => self.now += millis,
            Op::Expire { product } => {
                let inv = &mut self.inventories[product];
                for cart in inv.expired(self.now) {
                    inv.release(cart);
                }
            }
            Op::Checkout { cart } => self.checkout(cart),
            Op::Abandon { cart } => {
                if self.carts[cart].status != CartStatus::Open {
                    return;
                }
                let id = self.carts[cart].id;
                for line in self.carts[cart].lines.clone() {
                    self.inventories[line.product_id.0 as usize]
                        .reserve(id, 0, self.now)
                        .unwrap();
                }
                self.carts[cart] = self.carts[cart].closed(CartStatus::Abandoned, self.now);
            }
            Op::Restock { product, stock } => {
                let inv = &mut self.inventories[product];
                let before = inv.product.on_hand;
                inv.set_available(Stock::new(stock as i64).unwrap());
                self.received[product] = self.received[product] + inv.product.on_hand - before;
            }
        }
    }

    fn checkout(&mut self, c: usize) {
        let cart = self.carts[c].clone();
        if cart.status != CartStatus::Open || cart.lines.is_empty() {
            return;
        }
        // Secure every hold; stop at the first refusal (holds re-reserved so far stay).
        for line in &cart.lines {
            let inv = &mut self.inventories[line.product_id.0 as usize];
            if inv.reserve(cart.id, line.quantity, self.now + TTL).is_err() {
                return;
            }
        }
        // Every hold is in place, so every commit must succeed.
        for line in &cart.lines {
            self.inventories[line.product_id.0 as usize]
                .commit(cart.id, line.quantity)
                .expect("a secured hold commits");
        }
        self.carts[c] = cart.closed(CartStatus::CheckedOut, self.now);
    }

    fn check(&self, sold_before: &[u64]) -> Result<(), TestCaseError> {
        for (i, inv) in self.inventories.iter().enumerate() {
            let p = &inv.product;
            prop_assert!(inv.reserved() <= p.on_hand, "available < 0 for product {i}");
            prop_assert_eq!(p.on_hand, inv.available() + inv.reserved());
            let summed: u64 = inv.holds().map(|(_, h)| h.quantity).sum();
            prop_assert_eq!(inv.reserved(), summed, "cached Σ holds drifted");
            prop_assert!(p.sold >= sold_before[i], "sold went down");
            prop_assert_eq!(
                p.on_hand + p.sold,
                self.received[i],
                "units appeared or vanished"
            );
            for (cart_id, hold) in inv.holds() {
                let cart = &self.carts[cart_id.0 as usize];
                prop_assert_eq!(cart.status, CartStatus::Open, "hold of a closed cart");
                prop_assert_eq!(cart.quantity_of(p.id), hold.quantity, "hold ≠ line");
            }
            let reserved_lines: u64 = self
                .carts
                .iter()
                .filter(|c| c.status == CartStatus::Open)
                .filter(|c| inv.hold_of(c.id) > 0)
                .map(|c| c.quantity_of(p.id))
                .sum();
            prop_assert_eq!(inv.reserved(), reserved_lines);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_invariants_hold_after_every_step(
        stock in proptest::collection::vec(0..15u64, PRODUCTS),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut world = World::new(&stock);
        world.check(&[0; PRODUCTS])?;
        for op in &ops {
            let sold: Vec<u64> = world.inventories.iter().map(|i| i.product.sold).collect();
            world.apply(op);
            world.check(&sold)?;
        }
    }
}

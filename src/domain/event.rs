//! Domain events: every state change is also recorded as one of these, in the same atomic write
//! as the state (the outbox). The stored record carries the codec's format-version byte, so a
//! payload can evolve by adding a new format beside the old one.

use super::{CartId, OrderId, ProductId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    UserRegistered {
        user_id: UserId,
        username: String,
    },
    ProductCreated {
        product_id: ProductId,
        name: String,
        price_cents: i64,
        stock: u64,
    },
    ProductUpdated {
        product_id: ProductId,
        name: String,
        price_cents: i64,
        stock: u64,
    },
    CartCreated {
        cart_id: CartId,
        user_id: UserId,
    },
    /// The hold of `cart_id` on `product_id` is now exactly `quantity`.
    StockReserved {
        product_id: ProductId,
        cart_id: CartId,
        quantity: u64,
    },
    /// A hold of `quantity` was refused: only `available` could be had. Nothing changed.
    StockRejected {
        product_id: ProductId,
        cart_id: CartId,
        quantity: u64,
        available: u64,
    },
    /// `quantity` units were added to the cart's line, which now has `line_quantity`.
    ProductAdded {
        cart_id: CartId,
        product_id: ProductId,
        quantity: u64,
        line_quantity: u64,
    },
    /// The cart's line was set to `quantity` (0: removed).
    LineQuantitySet {
        cart_id: CartId,
        product_id: ProductId,
        quantity: u64,
    },
    /// `released` units of the cart's hold went back to available; `quantity` remain held.
    StockReleased {
        product_id: ProductId,
        cart_id: CartId,
        released: u64,
        quantity: u64,
    },
    /// The cart's hold lapsed after the cart was idle for the hold TTL.
    HoldExpired {
        product_id: ProductId,
        cart_id: CartId,
        quantity: u64,
    },
    /// The cart's hold was sold as part of `order_id`.
    StockCommitted {
        product_id: ProductId,
        cart_id: CartId,
        order_id: OrderId,
        quantity: u64,
    },
    CartCheckedOut {
        cart_id: CartId,
        order_id: OrderId,
        total_cents: i64,
    },
    CartAbandoned {
        cart_id: CartId,
    },
}

impl Event {
    /// The contract's name for the event type.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::UserRegistered { .. } => "UserRegistered",
            Event::ProductCreated { .. } => "ProductCreated",
            Event::ProductUpdated { .. } => "ProductUpdated",
            Event::CartCreated { .. } => "CartCreated",
            Event::StockReserved { .. } => "StockReserved",
            Event::StockRejected { .. } => "StockRejected",
            Event::ProductAdded { .. } => "ProductAdded",
            Event::LineQuantitySet { .. } => "LineQuantitySet",
            Event::StockReleased { .. } => "StockReleased",
            Event::HoldExpired { .. } => "HoldExpired",
            Event::StockCommitted { .. } => "StockCommitted",
            Event::CartCheckedOut { .. } => "CartCheckedOut",
            Event::CartAbandoned { .. } => "CartAbandoned",
        }
    }
}

/// An event as stored in the log: its place in the one global sequence and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: u64,
    pub at: super::Millis,
    pub event: Event,
}

//! A product as its inventory actor last decided it: name, price, stock and units held.
//!
//! Inventory actors publish their product here whenever they load or change it, before they
//! answer the change, so building a cart view costs a map lookup per line instead of a round
//! trip to every product's actor, and a page of `GET /products` starts no actors while still
//! showing every acknowledged change. Only inventory actors write it; a product not yet loaded
//! is simply missing, and readers then use its stored records (exact, since only its actor
//! changes them), without starting its actor.

use crate::domain::ProductId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    pub name: Arc<str>,
    pub price_cents: i64,
    /// Available to add to carts.
    pub stock: u64,
    /// Held by open carts.
    pub reserved: u64,
}

#[derive(Clone, Default)]
pub struct Catalog(Arc<RwLock<HashMap<ProductId, ProductInfo>>>);

impl Catalog {
    pub fn get(&self, id: ProductId) -> Option<ProductInfo> {
        self.0.read().ok()?.get(&id).cloned()
    }

    /// Each of `ids`' info (or `None`), under one read of the lock.
    pub fn get_all(&self, ids: impl Iterator<Item = ProductId>) -> Vec<Option<ProductInfo>> {
        match self.0.read() {
            Ok(map) => ids.map(|id| map.get(&id).cloned()).collect(),
            Err(_) => ids.map(|_| None).collect(),
        }
    }

    /// Sets `id`'s entry; the name is copied only when it changed (most publishes are stock).
    pub fn publish(&self, id: ProductId, name: &str, price_cents: i64, stock: u64, reserved: u64) {
        let Ok(mut map) = self.0.write() else {
            return;
        };
        match map.get_mut(&id) {
            Some(info) if *info.name == *name => {
                info.price_cents = price_cents;
                info.stock = stock;
                info.reserved = reserved;
            }
            _ => {
                let info = ProductInfo {
                    name: name.into(),
                    price_cents,
                    stock,
                    reserved,
                };
                map.insert(id, info);
            }
        }
    }
}

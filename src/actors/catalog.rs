//! What carts show of a product besides their own lines: its current name and price.
//!
//! Inventory actors publish their product here whenever they load or change it, so building a
//! cart view costs a map lookup per line instead of a round trip to every product's actor.
//! Only inventory actors write it; a product not yet loaded is simply missing, and the cart
//! then reads its stored record (without starting its actor).

use crate::domain::ProductId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    pub name: Arc<str>,
    pub price_cents: i64,
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

    pub fn publish(&self, id: ProductId, info: ProductInfo) {
        if let Ok(mut map) = self.0.write() {
            map.insert(id, info);
        }
    }
}

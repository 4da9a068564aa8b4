//! The sales projection: per-product units sold, orders, and cart adds, maintained from the
//! event log by a bus [`Subscriber`](super::bus::Subscriber). It owns the `st/` and `stu/`
//! records; delete them with its offset and it rebuilds itself from the log.

use super::bus::Projection;
use crate::domain::event::EventRecord;
use crate::domain::{Event, ProductId};
use crate::storage::{codec, keys, StorageError, Store, Unit};
use ractor::ActorProcessingErr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductStats {
    /// Units sold (Σ `StockCommitted.quantity`).
    pub units_sold: u64,
    /// Orders the product was part of.
    pub orders: u64,
    /// Times it was added to a cart (`ProductAdded` events).
    pub cart_adds: u64,
    /// Units added to carts (Σ `ProductAdded.quantity`).
    pub units_added: u64,
}

impl ProductStats {
    /// What `event` changes for `product`, if anything.
    pub fn apply(&mut self, event: &Event) {
        match *event {
            Event::StockCommitted { quantity, .. } => {
                self.units_sold += quantity;
                self.orders += 1;
            }
            Event::ProductAdded { quantity, .. } => {
                self.cart_adds += 1;
                self.units_added += quantity;
            }
            _ => {}
        }
    }
}

/// The product an event counts for, if it is one this projection follows.
fn counted_product(event: &Event) -> Option<ProductId> {
    match *event {
        Event::StockCommitted { product_id, .. } | Event::ProductAdded { product_id, .. } => {
            Some(product_id)
        }
        _ => None,
    }
}

pub fn stats_of(store: &Store, product: ProductId) -> Result<ProductStats, StorageError> {
    Ok(store.get(&keys::stats(product))?.unwrap_or_default())
}

/// Products by units sold, most first (ties by id).
pub fn top(store: &Store, limit: usize) -> Result<Vec<(ProductId, ProductStats)>, StorageError> {
    let end = [keys::TOP_SELLERS, &[0xff; 17]].concat();
    let mut out = Vec::new();
    for k in store.keys_between(keys::TOP_SELLERS, &end, limit)? {
        if let Some(id) = keys::id_of(&k).map(ProductId) {
            out.push((id, stats_of(store, id)?));
        }
    }
    Ok(out)
}

/// Failure injection for tests: the next `failures` batches fail.
#[derive(Debug, Default)]
pub struct StatsHooks {
    pub failures: std::sync::atomic::AtomicU32,
}

#[derive(Clone, Default)]
pub struct SalesStats {
    pub hooks: Arc<StatsHooks>,
}

impl Projection for SalesStats {
    const NAME: &'static str = "stats";

    fn apply(
        &self,
        store: &Store,
        events: &[EventRecord],
        unit: Unit,
    ) -> Result<Unit, ActorProcessingErr> {
        use std::sync::atomic::Ordering;
        let left = self.hooks.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.hooks.failures.store(left - 1, Ordering::SeqCst);
            return Err("stats projection failure injected by a test".into());
        }
        let mut changed: BTreeMap<ProductId, (ProductStats, ProductStats)> = BTreeMap::new();
        for record in events {
            let Some(product) = counted_product(&record.event) else {
                continue;
            };
            let entry = match changed.entry(product) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let before = stats_of(store, product)?;
                    v.insert((before, before))
                }
            };
            entry.1.apply(&record.event);
        }
        let mut unit = unit;
        for (product, (before, after)) in changed {
            unit = unit.put(keys::stats(product), codec::encode(&after));
            if before.units_sold != after.units_sold {
                if before.units_sold > 0 {
                    unit = unit.remove(keys::top_seller(before.units_sold, product));
                }
                unit = unit.put(keys::top_seller(after.units_sold, product), Vec::new());
            }
        }
        Ok(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, OrderId};

    #[test]
    fn sales_and_adds_are_counted_per_product() {
        let mut s = ProductStats::default();
        s.apply(&Event::ProductAdded {
            cart_id: CartId(1),
            product_id: ProductId(2),
            quantity: 3,
            line_quantity: 3,
        });
        s.apply(&Event::StockCommitted {
            product_id: ProductId(2),
            cart_id: CartId(1),
            order_id: OrderId(9),
            quantity: 3,
        });
        s.apply(&Event::CartAbandoned { cart_id: CartId(1) });
        assert_eq!(
            s,
            ProductStats {
                units_sold: 3,
                orders: 1,
                cart_adds: 1,
                units_added: 3
            }
        );
    }
}

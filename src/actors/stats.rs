//! The sales projection: per-product units sold, orders, and cart adds, maintained from the
//! event log by a bus [`Subscriber`](super::bus::Subscriber). It owns the `st/` and `stu/`
//! records; delete them with its offset and it rebuilds itself from the log.

use super::bus::Projection;
use crate::domain::event::EventRecord;
use crate::domain::stats::counted_product;
pub use crate::domain::stats::ProductStats;
use crate::domain::ProductId;
use crate::storage::{codec, keys, StorageError, Store, Unit};
use ractor::ActorProcessingErr;
use std::collections::BTreeMap;

pub fn stats_of(store: &Store, product: ProductId) -> Result<ProductStats, StorageError> {
    Ok(store.get(&keys::stats(product))?.unwrap_or_default())
}

/// Products by units sold, most first (ties by id).
pub fn top(store: &Store, limit: usize) -> Result<Vec<(ProductId, ProductStats)>, StorageError> {
    let mut out = Vec::new();
    let end = keys::prefix_end(keys::TOP_SELLERS);
    for k in store.keys_between(keys::TOP_SELLERS, &end, limit)? {
        if let Some(id) = keys::id_of(&k).map(ProductId) {
            out.push((id, stats_of(store, id)?));
        }
    }
    Ok(out)
}

/// The sales projection's behaviour; its state is all in the store.
#[derive(Clone, Copy, Default)]
pub struct SalesStats;

impl Projection for SalesStats {
    const NAME: &'static str = "stats";

    fn apply(
        &self,
        store: &Store,
        events: &[EventRecord],
        unit: Unit,
    ) -> Result<Unit, ActorProcessingErr> {
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

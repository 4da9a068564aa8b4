//! The public feed of stock changes behind `GET /products/stream`, derived from the durable
//! event log.
//!
//! The log says *which* product's stock changed and *when* (its sequence number); the
//! product's inventory actor says what the stock now is. Its state may already include a
//! reservation it has decided and handed to the writer but that is not yet durable, so the
//! feed publishes the values only after a store barrier: once everything queued before it is
//! durable. A change that a crash could still lose is never shown.

use super::{Actors, Error, InventoryMsg};
use crate::domain::event::EventRecord;
use crate::domain::{Event, ProductId};
use serde::Serialize;
use std::collections::BTreeMap;

/// One product's stock after a change: what a storefront shows. No user or cart data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockChange {
    /// The log sequence of the (last) event that changed it: the SSE `id`.
    #[serde(skip)]
    pub seq: u64,
    pub product_id: ProductId,
    /// Available to add to carts.
    pub stock: u64,
    /// Held by open carts.
    pub reserved: u64,
}

/// The product whose available or reserved stock `event` changes, if any.
pub fn stock_changed_by(event: &Event) -> Option<ProductId> {
    match event {
        Event::ProductCreated { product_id, .. }
        | Event::ProductUpdated { product_id, .. }
        | Event::StockReserved { product_id, .. }
        | Event::StockReleased { product_id, .. }
        | Event::HoldExpired { product_id, .. }
        | Event::StockCommitted { product_id, .. } => Some(*product_id),
        _ => None,
    }
}

/// The stock feed's [`Source`](super::follow::Source): each page of the log as the stock
/// changes in it, with values read after a store barrier.
pub struct StockChanges(pub Actors);

impl super::follow::Source for StockChanges {
    type Item = StockChange;

    async fn items(&self, events: &[EventRecord]) -> Result<Vec<StockChange>, Error> {
        changes_in(&self.0, events.iter().map(|r| (r.seq, &r.event))).await
    }
}

/// One page of the log as stock changes: one per product it touches (at the product's last
/// event in the page), in log order, with values that are durable.
async fn changes_in<'a>(
    actors: &Actors,
    events: impl Iterator<Item = (u64, &'a Event)>,
) -> Result<Vec<StockChange>, Error> {
    let mut last: BTreeMap<ProductId, u64> = BTreeMap::new();
    for (seq, event) in events {
        if let Some(product) = stock_changed_by(event) {
            last.insert(product, seq);
        }
    }
    let mut touched: Vec<(u64, ProductId)> = last.into_iter().map(|(p, s)| (s, p)).collect();
    touched.sort_unstable();
    let mut changes = Vec::with_capacity(touched.len());
    for (seq, product) in touched {
        let now = actors
            .inventory
            .call(product.0, |reply| InventoryMsg::Get { reply })
            .await?;
        changes.push(StockChange {
            seq,
            product_id: product,
            stock: now.stock,
            reserved: now.reserved,
        });
    }
    if !changes.is_empty() {
        // What the inventories answered may include decided, queued, not yet durable writes.
        actors.store.barrier().await?;
    }
    Ok(changes)
}

//! What the inventory decides about holds: reservations, renewals, checkout's securing and
//! selling, and expiry. Each decision is made in memory and handed to the store writer as one
//! unit, in the order decided.

use super::{InventoryActor, Refusal, Reservation, Sale, SaleRecord, Secured};
use crate::actors::Error;
use crate::domain::inventory::reservation_event;
use crate::domain::{CartId, Event, Hold, Inventory, Millis, OrderId, ProductId, StockRejected};
use crate::storage::{codec, keys, Unit};

impl InventoryActor {
    /// Adds to `unit` the records of a hold going from `before` to `after`: the hold itself
    /// and its entry in the expiry index. Only this actor writes a product's holds, so the
    /// writer sees them in the order they were decided.
    fn hold_change(
        unit: Unit,
        product: ProductId,
        cart: CartId,
        before: Option<Hold>,
        after: Option<Hold>,
    ) -> Unit {
        let mut unit = unit;
        if let Some(b) = before {
            if after.map(|a| a.expires_at) != Some(b.expires_at) {
                unit = unit.remove(keys::expiry(b.expires_at, product, cart));
            }
        }
        match after {
            // The expiry entry is already there when the deadline did not move.
            Some(a) if before.map(|b| b.expires_at) == Some(a.expires_at) => {
                unit.put(keys::hold(product, cart), codec::encode(&a))
            }
            Some(a) => unit
                .put(keys::hold(product, cart), codec::encode(&a))
                .put(keys::expiry(a.expires_at, product, cart), Vec::new()),
            None => unit.remove(keys::hold(product, cart)),
        }
    }

    pub(super) fn reserve(
        &self,
        inv: &mut Inventory,
        cart_id: CartId,
        quantity: u64,
        with: Unit,
    ) -> Result<Reservation, Refusal> {
        let before = inv.hold(cart_id);
        let id = inv.product.id;
        tracing::debug!(product_id = %id, %cart_id, quantity, "inventory actor: reserve");
        let deadline = (self.holds).deadline_after(self.store.now(), before.map(|h| h.expires_at));
        if let Err(StockRejected { available }) = inv.reserve(cart_id, quantity, deadline) {
            // Nothing changed, but the refusal is part of the story subscribers follow.
            let event = Event::StockRejected {
                product_id: id,
                cart_id,
                quantity,
                available,
            };
            let logged = self.store.submit(Unit::default().event(event));
            return Err(Refusal { available, logged });
        }
        let mut unit = Self::hold_change(with, id, cart_id, before, inv.hold(cart_id));
        let old = before.map_or(0, |h| h.quantity);
        if let Some(event) = reservation_event(id, cart_id, old, quantity) {
            unit = unit.event_first(event);
        }
        Ok(Reservation {
            expires_at: inv.hold(cart_id).map_or(0, |h| h.expires_at),
            durable: self.store.submit(unit),
        })
    }

    pub(super) fn touch(&self, inv: &mut Inventory, cart_id: CartId) -> Option<Millis> {
        let before = inv.hold(cart_id);
        let after = inv.touch(cart_id, self.deadline());
        if after.is_some() && after != before {
            let unit = Self::hold_change(Unit::default(), inv.product.id, cart_id, before, after);
            // Not waited for: a lost touch only lets the hold lapse at its earlier deadline.
            drop(self.store.submit(unit));
        }
        after.map(|h| h.expires_at)
    }

    fn sold_before(&self, inv: &Inventory, order: OrderId) -> Result<Option<SaleRecord>, Error> {
        Ok(self.store.get(&keys::sale(inv.product.id, order))?)
    }

    pub(super) async fn secure(
        &self,
        inv: &mut Inventory,
        cart_id: CartId,
        quantity: u64,
        order_id: OrderId,
    ) -> Result<Secured, Error> {
        if self.sold_before(inv, order_id)?.is_some() {
            return Ok(Secured::AlreadySold);
        }
        match self.reserve(inv, cart_id, quantity, Unit::default()) {
            Ok(r) => Ok(Secured::Held {
                expires_at: r.expires_at,
                durable: r.durable,
            }),
            Err(refusal) => {
                let _ = self.store.settle(refusal.logged).await;
                Err(Error::InsufficientStock {
                    product_id: inv.product.id,
                    available: refusal.available,
                })
            }
        }
    }

    pub(super) fn commit(
        &self,
        inv: &mut Inventory,
        cart_id: CartId,
        quantity: u64,
        order_id: OrderId,
    ) -> Result<Sale, Error> {
        if let Some(record) = self.sold_before(inv, order_id)? {
            return Ok(Sale {
                record,
                durable: None,
            });
        }
        let before = inv.hold(cart_id);
        let mut next = inv.clone();
        next.commit(cart_id, quantity).map_err(|m| {
            Error::Invariant(format!(
                "cart {cart_id} holds {} of product {}, not {quantity}",
                m.held, inv.product.id
            ))
        })?;
        let p = &next.product;
        let record = SaleRecord {
            quantity,
            name: p.name.as_str().to_owned(),
            unit_price_cents: p.price.get(),
        };
        let unit = Self::hold_change(Unit::default(), p.id, cart_id, before, None)
            .put(keys::product(p.id), codec::encode(p))
            .put(keys::sale(p.id, order_id), codec::encode(&record))
            .event(Event::StockCommitted {
                product_id: p.id,
                cart_id,
                order_id,
                quantity,
            });
        *inv = next;
        Ok(Sale {
            record,
            durable: Some(self.store.submit(unit)),
        })
    }

    pub(super) async fn expire(&self, inv: &mut Inventory) -> Result<(), Error> {
        let id = inv.product.id;
        let mut unit = Unit::default();
        let mut next = inv.clone();
        let in_checkout = |cart| self.store.contains(&keys::checkout(cart));
        for cart_id in inv.releasable(self.store.now(), in_checkout)? {
            if let Some(hold) = next.release(cart_id) {
                unit = Self::hold_change(unit, id, cart_id, Some(hold), None).event(
                    Event::HoldExpired {
                        product_id: id,
                        cart_id,
                        quantity: hold.quantity,
                    },
                );
            }
        }
        if unit.ops.is_empty() {
            return Ok(());
        }
        let expired = unit.events.len() as u64;
        self.store.write(unit).await?;
        *inv = next;
        metrics::counter!(crate::telemetry::names::HOLDS_EXPIRED).increment(expired);
        Ok(())
    }
}

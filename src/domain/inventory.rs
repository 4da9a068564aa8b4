//! The inventory of one product: how many units are on hand, and which carts hold how many.
//!
//! `available = on_hand − Σ holds` is derived, never stored, so it cannot drift from the holds.
//! Holds are set to an absolute quantity per cart, which makes a retried or replayed reservation
//! harmless.

use super::{CartId, Event, Millis, PriceCents, ProductId, ProductName, Stock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stored product record. Holds are stored beside it, one record per (product, cart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub name: ProductName,
    pub price: PriceCents,
    /// Units in the shop, held or not; sold units have left it.
    pub on_hand: u64,
    /// Units sold so far; only ever grows.
    pub sold: u64,
    pub created_at: Millis,
}

/// A reservation was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockRejected {
    /// What the cart could still have added, so the client can retry with less.
    pub available: u64,
}

/// Units held for one cart, until a deadline that the cart's activity pushes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub quantity: u64,
    /// When the hold lapses if the cart stays idle.
    pub expires_at: Millis,
}

/// A commit found a hold different from what the cart is buying; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldMismatch {
    pub held: u64,
}

/// One product's stock and the holds of carts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub product: Product,
    holds: BTreeMap<CartId, Hold>,
    /// Σ holds, kept in step with `holds` so reads are O(1) on products with many carts.
    reserved: u64,
}

impl Inventory {
    pub fn new(product: Product, holds: impl IntoIterator<Item = (CartId, Hold)>) -> Self {
        let holds: BTreeMap<CartId, Hold> =
            holds.into_iter().filter(|(_, h)| h.quantity > 0).collect();
        let reserved = holds.values().map(|h| h.quantity).sum();
        Self {
            product,
            holds,
            reserved,
        }
    }

    /// Units held by open carts.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Sets (or with 0, drops) the hold of `cart`, keeping the sum in step.
    fn put_hold(&mut self, cart: CartId, hold: Option<Hold>) -> Option<Hold> {
        let old = match hold.filter(|h| h.quantity > 0) {
            Some(h) => self.holds.insert(cart, h),
            None => self.holds.remove(&cart),
        };
        self.reserved =
            self.reserved - old.map_or(0, |h| h.quantity) + hold.map_or(0, |h| h.quantity);
        old
    }

    pub fn holds(&self) -> impl Iterator<Item = (CartId, Hold)> + '_ {
        self.holds.iter().map(|(c, h)| (*c, *h))
    }

    pub fn hold(&self, cart: CartId) -> Option<Hold> {
        self.holds.get(&cart).copied()
    }

    /// Units that can still be added to carts. Saturates rather than underflows should stored
    /// data ever break the invariant, so a read never panics.
    pub fn available(&self) -> u64 {
        self.product.on_hand.saturating_sub(self.reserved())
    }

    pub fn hold_of(&self, cart: CartId) -> u64 {
        self.hold(cart).map_or(0, |h| h.quantity)
    }

    /// Sets the hold of `cart` to exactly `quantity` (0 releases it), lapsing at `expires_at`.
    /// Growing a hold needs the extra units to be available; shrinking always succeeds.
    pub fn reserve(
        &mut self,
        cart: CartId,
        quantity: u64,
        expires_at: Millis,
    ) -> Result<(), StockRejected> {
        let current = self.hold_of(cart);
        if quantity > current {
            let available = self.available();
            if quantity - current > available {
                return Err(StockRejected { available });
            }
        }
        self.put_hold(
            cart,
            Some(Hold {
                quantity,
                expires_at,
            }),
        );
        Ok(())
    }

    /// Pushes back the deadline of `cart`'s hold, if it has one.
    pub fn touch(&mut self, cart: CartId, expires_at: Millis) -> Option<Hold> {
        let hold = self.holds.get_mut(&cart)?;
        hold.expires_at = hold.expires_at.max(expires_at);
        Some(*hold)
    }

    /// Carts whose holds lapsed at or before `now`.
    pub fn expired(&self, now: Millis) -> Vec<CartId> {
        self.holds
            .iter()
            .filter(|(_, h)| h.expires_at <= now)
            .map(|(c, _)| *c)
            .collect()
    }

    /// Carts whose lapsed holds are released now: a cart in the middle of checkout
    /// (`in_checkout`) keeps its holds, for they are about to be sold.
    pub fn releasable<E>(
        &self,
        now: Millis,
        in_checkout: impl Fn(CartId) -> Result<bool, E>,
    ) -> Result<Vec<CartId>, E> {
        let mut out = Vec::new();
        for cart in self.expired(now) {
            if !in_checkout(cart)? {
                out.push(cart);
            }
        }
        Ok(out)
    }

    /// Drops `cart`'s hold; its units become available again.
    pub fn release(&mut self, cart: CartId) -> Option<Hold> {
        self.put_hold(cart, None)
    }

    /// Sells what `cart` holds: the hold must be exactly `quantity`. The units leave the shop.
    pub fn commit(&mut self, cart: CartId, quantity: u64) -> Result<(), HoldMismatch> {
        let held = self.hold_of(cart);
        if held != quantity || quantity == 0 {
            return Err(HoldMismatch { held });
        }
        self.put_hold(cart, None);
        self.product.on_hand -= quantity;
        self.product.sold += quantity;
        Ok(())
    }

    /// Sets what is available (the admin's `stock`) without touching any hold.
    pub fn set_available(&mut self, stock: Stock) {
        self.product.on_hand = stock.get() + self.reserved();
    }
}

/// The event a hold of `cart` on `product` going from `old` to `new` units tells subscribers:
/// a reservation when it grows, a release when it shrinks, nothing when it stays.
pub fn reservation_event(product: ProductId, cart: CartId, old: u64, new: u64) -> Option<Event> {
    use std::cmp::Ordering;
    match new.cmp(&old) {
        Ordering::Greater => Some(Event::StockReserved {
            product_id: product,
            cart_id: cart,
            quantity: new,
        }),
        Ordering::Less => Some(Event::StockReleased {
            product_id: product,
            cart_id: cart,
            released: old - new,
            quantity: new,
        }),
        Ordering::Equal => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deadline for tests that do not look at expiry.
    const T: Millis = 1_000;

    fn tea(on_hand: u64) -> Inventory {
        let product = Product {
            id: ProductId(1),
            name: ProductName::parse("Tea").unwrap(),
            price: PriceCents::new(250).unwrap(),
            on_hand,
            sold: 0,
            created_at: 0,
        };
        Inventory::new(product, [])
    }

    #[test]
    fn reserving_moves_units_from_available_to_reserved() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 4, T).unwrap();
        assert_eq!((inv.available(), inv.reserved()), (6, 4));
        assert_eq!(inv.product.on_hand, inv.available() + inv.reserved());
    }

    #[test]
    fn holds_are_absolute_so_repeating_a_reservation_changes_nothing() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 4, T).unwrap();
        inv.reserve(CartId(1), 4, T).unwrap();
        assert_eq!(inv.hold_of(CartId(1)), 4);
        assert_eq!(inv.available(), 6);
    }

    #[test]
    fn growing_a_hold_beyond_available_is_rejected_and_changes_nothing() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 4, T).unwrap();
        inv.reserve(CartId(2), 5, T).unwrap();
        let before = inv.clone();
        assert_eq!(
            inv.reserve(CartId(1), 6, T),
            Err(StockRejected { available: 1 })
        );
        assert_eq!(inv, before);
        // Growing by exactly what is available is fine.
        inv.reserve(CartId(1), 5, T).unwrap();
        assert_eq!(inv.available(), 0);
    }

    #[test]
    fn shrinking_or_releasing_a_hold_always_succeeds() {
        let mut inv = tea(3);
        inv.reserve(CartId(1), 3, T).unwrap();
        inv.reserve(CartId(1), 1, T).unwrap();
        assert_eq!(inv.available(), 2);
        inv.reserve(CartId(1), 0, T).unwrap();
        assert_eq!((inv.available(), inv.reserved()), (3, 0));
    }

    #[test]
    fn setting_available_stock_keeps_holds() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 4, T).unwrap();
        inv.set_available(Stock::new(2).unwrap());
        assert_eq!((inv.available(), inv.reserved()), (2, 4));
        assert_eq!(inv.product.on_hand, 6);
    }

    #[test]
    fn lapsed_holds_are_found_and_touching_pushes_the_deadline_back() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 2, 100).unwrap();
        inv.reserve(CartId(2), 3, 200).unwrap();
        assert_eq!(inv.expired(99), vec![]);
        assert_eq!(inv.expired(150), vec![CartId(1)]);
        inv.touch(CartId(1), 300);
        assert_eq!(inv.expired(250), vec![CartId(2)]);
        // A touch never brings a deadline forward.
        inv.touch(CartId(1), 10);
        assert_eq!(inv.hold(CartId(1)).unwrap().expires_at, 300);
        assert_eq!(inv.touch(CartId(9), 300), None);
        assert_eq!(inv.release(CartId(2)).unwrap().quantity, 3);
        assert_eq!(inv.available(), 8);
    }

    #[test]
    fn committing_sells_exactly_the_held_units() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 4, T).unwrap();
        assert_eq!(inv.commit(CartId(1), 3), Err(HoldMismatch { held: 4 }));
        assert_eq!(inv.commit(CartId(2), 1), Err(HoldMismatch { held: 0 }));
        inv.commit(CartId(1), 4).unwrap();
        assert_eq!(inv.product.on_hand, 6);
        assert_eq!(inv.product.sold, 4);
        assert_eq!((inv.available(), inv.reserved()), (6, 0));
    }

    #[test]
    fn a_cart_in_checkout_keeps_its_lapsed_holds() {
        let mut inv = tea(10);
        inv.reserve(CartId(1), 2, 100).unwrap();
        inv.reserve(CartId(2), 3, 100).unwrap();
        let in_checkout = |c: CartId| Ok::<_, ()>(c == CartId(2));
        assert_eq!(inv.releasable(150, in_checkout), Ok(vec![CartId(1)]));
        assert_eq!(inv.releasable(50, in_checkout), Ok(vec![]));
    }

    #[test]
    fn a_growing_hold_is_a_reservation_and_a_shrinking_one_a_release() {
        let (p, c) = (ProductId(1), CartId(2));
        assert!(matches!(
            reservation_event(p, c, 1, 3),
            Some(Event::StockReserved { quantity: 3, .. })
        ));
        assert!(matches!(
            reservation_event(p, c, 3, 1),
            Some(Event::StockReleased {
                released: 2,
                quantity: 1,
                ..
            })
        ));
        assert_eq!(reservation_event(p, c, 2, 2), None);
    }
}

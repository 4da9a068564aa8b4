//! The cart as its owner sees it: lines with current names and prices, and whether each is held.

use super::{CartActor, CartState};
use crate::actors::Error;
use crate::domain::UserId;
use crate::domain::{order, rfc3339, Cart, CartId, CartStatus, HoldPolicy, Product, ProductId};
use crate::storage::keys;
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// A cart as its owner sees it, with current names and prices.
#[derive(Debug, Clone, Serialize)]
pub struct CartView {
    pub id: CartId,
    pub user_id: UserId,
    pub status: CartStatus,
    pub items: Vec<CartItemView>,
    pub total_cents: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CartItemView {
    pub product_id: ProductId,
    /// Shared with the catalog: a view costs no copy of each name.
    #[serde(serialize_with = "as_str")]
    pub name: Arc<str>,
    pub quantity: u64,
    pub unit_price_cents: i64,
    /// Whether the inventory holds the line's units (false after the hold expired).
    pub reserved: bool,
    /// When the hold lapses unless the cart is active again (RFC 3339); absent when not held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expires_at: Option<String>,
}

impl CartView {
    /// A cart without lines (just created).
    pub fn empty(cart: &Cart) -> Self {
        Self {
            id: cart.id,
            user_id: cart.user_id,
            status: cart.status,
            items: Vec::new(),
            total_cents: 0,
        }
    }
}

impl CartActor {
    /// Builds the view with current names and prices (from the catalog) and whether each
    /// line is still held (from the deadlines this actor knows).
    pub(super) fn view(&self, state: &CartState) -> Result<CartView, Error> {
        let cart = &state.cart;
        let now = self.store.now();
        let mut items = Vec::with_capacity(cart.lines.len());
        // One look at the catalog for every line; only products it lacks cost a call.
        let known = self
            .catalog
            .get_all(cart.lines.iter().map(|l| l.product_id));
        for (line, info) in cart.lines.iter().zip(known) {
            let (name, price_cents) = match info {
                Some(info) => (info.name, info.price_cents),
                None => self.name_and_price(line.product_id)?,
            };
            let held_until = state.held_until.get(&line.product_id).copied();
            let reserved = HoldPolicy::is_reserved(cart.status, held_until, now);
            items.push(CartItemView {
                product_id: line.product_id,
                name,
                quantity: line.quantity,
                unit_price_cents: price_cents,
                reserved,
                hold_expires_at: held_until.filter(|_| reserved).map(rfc3339),
            });
        }
        let total_cents = order::total(items.iter().map(|i| (i.quantity, i.unit_price_cents)));
        Ok(CartView {
            items,
            total_cents,
            ..CartView::empty(cart)
        })
    }

    /// The name and price of a product the catalog lacks (not loaded in this process yet),
    /// from its stored record, read without starting its actor, so building a view never
    /// waits on another actor (nor scans the product's holds: a view needs neither stock nor
    /// what is held).
    fn name_and_price(&self, product: ProductId) -> Result<(Arc<str>, i64), Error> {
        let stored = self.store.get::<Product>(&keys::product(product))?;
        let p = stored
            .ok_or_else(|| Error::Invariant(format!("cart line of missing product {product}")))?;
        Ok((p.name.as_str().into(), p.price.get()))
    }
}

fn as_str<S: Serializer>(s: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(s)
}

//! Checkout: sells every line or none, and survives a crash at any point (see the steps in
//! the module docs of [`super`]).

use super::{CartActor, CartState};
use crate::actors::inventory::{InventoryMsg, SaleRecord, Secured};
use crate::actors::{Deadline, Error};
use crate::domain::{Cart, CartLine, CartStatus, Event, Order, OrderId, OrderLine, UserId};
use crate::storage::{codec, keys, Unit};

/// What step 2 found: whether any line had been sold already, and the first refusal.
#[derive(Default)]
struct Securing {
    sold_any: bool,
    refused: Option<Error>,
}

impl CartActor {
    pub(super) async fn checkout(
        &self,
        state: &mut CartState,
        user: UserId,
        deadline: Deadline,
    ) -> Result<Order, Error> {
        let cart = &mut state.cart;
        if cart.pending_checkout_for(user)?.is_some() {
            // A retry of a checkout that did not finish: the same order, never a second one.
            return self.finish_checkout(state, deadline).await;
        }
        cart.ensure_changeable_by(user)?;
        // Step 1: the intent, durably.
        let order_id = OrderId(self.store.next_id()?);
        let next = cart.begin_checkout(order_id, self.store.now())?;
        self.write(
            deadline,
            Unit::default()
                .put(keys::cart(cart.id), codec::encode(&next))
                .put(keys::checkout(cart.id), codec::encode(&order_id)),
        )
        .await?;
        *cart = next;
        self.finish_checkout(state, deadline).await
    }

    /// Steps 2–4 of checkout; safe to run again after a crash at any point.
    pub(super) async fn finish_checkout(
        &self,
        state: &mut CartState,
        deadline: Deadline,
    ) -> Result<Order, Error> {
        let Some(order_id) = state.cart.checkout_pending() else {
            return Err(Error::CartClosed(state.cart.status));
        };
        let secured = self.secure_lines(state, order_id, deadline).await?;
        if let Some(refused) = secured.refused {
            if secured.sold_any {
                // Holds of a cart in checkout do not expire: leave the intent in place so a
                // restart retries, and say so loudly.
                return Err(Error::Invariant(format!(
                    "checkout of cart {} into order {order_id} lost a hold after selling part of it",
                    state.cart.id
                )));
            }
            self.abort_checkout(&mut state.cart, deadline).await?;
            return Err(refused);
        }
        let lines = self.sell_lines(&state.cart, order_id, deadline).await?;
        self.close_into_order(&mut state.cart, (order_id, lines), deadline)
            .await
    }

    /// Step 2: every line held (re-reserving lapsed holds), or the first refusal.
    async fn secure_lines(
        &self,
        state: &mut CartState,
        order_id: OrderId,
        deadline: Deadline,
    ) -> Result<Securing, Error> {
        let cart_id = state.cart.id;
        let mut found = Securing::default();
        for &CartLine {
            product_id,
            quantity,
        } in &state.cart.lines
        {
            let secured = self
                .inventory
                .call_by(deadline, product_id.0, |reply| InventoryMsg::Secure {
                    cart_id,
                    quantity,
                    order_id,
                    reply,
                })
                .await?;
            match secured {
                Ok(Secured::AlreadySold) => found.sold_any = true,
                Ok(Secured::Held {
                    expires_at,
                    durable,
                }) => {
                    self.durable(deadline, durable).await?;
                    // The stored deadline, which may be earlier than a fresh one
                    // (`HoldPolicy::deadline_after`): what a reload would show.
                    state.held_until.insert(product_id, expires_at);
                }
                Err(e @ Error::InsufficientStock { .. }) => {
                    found.refused.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Undoes step 1: the cart is open again and its holds may lapse.
    async fn abort_checkout(&self, cart: &mut Cart, deadline: Deadline) -> Result<(), Error> {
        let next = cart.abort_checkout(self.store.now());
        self.write(
            deadline,
            Unit::default()
                .put(keys::cart(cart.id), codec::encode(&next))
                .remove(keys::checkout(cart.id)),
        )
        .await?;
        *cart = next;
        Ok(())
    }

    /// Step 3: sells each hold (idempotent per product and order).
    async fn sell_lines(
        &self,
        cart: &Cart,
        order_id: OrderId,
        deadline: Deadline,
    ) -> Result<Vec<OrderLine>, Error> {
        let mut lines = Vec::with_capacity(cart.lines.len());
        for line in &cart.lines {
            #[cfg(feature = "test-hooks")]
            crate::testing::checkout_commit_point(&self.store, lines.len());
            let record = self.sell(cart, line, (order_id, deadline)).await?;
            lines.push(OrderLine {
                product_id: line.product_id,
                name: record.name,
                quantity: record.quantity,
                unit_price_cents: record.unit_price_cents,
            });
        }
        Ok(lines)
    }

    async fn sell(
        &self,
        cart: &Cart,
        line: &CartLine,
        (order_id, deadline): (OrderId, Deadline),
    ) -> Result<SaleRecord, Error> {
        let (cart_id, quantity, product_id) = (cart.id, line.quantity, line.product_id);
        let sale = self
            .inventory
            .call_by(deadline, product_id.0, |reply| InventoryMsg::Commit {
                cart_id,
                quantity,
                order_id,
                reply,
            })
            .await??;
        if let Some(pending) = sale.durable {
            if let Err(e) = self.durable(deadline, pending).await {
                self.inventory
                    .cast_if_live(product_id.0, InventoryMsg::Reload);
                return Err(e);
            }
        }
        Ok(sale.record)
    }

    /// Step 4: the order, the closed cart and the end of the intent, in one unit.
    async fn close_into_order(
        &self,
        cart: &mut Cart,
        (order_id, lines): (OrderId, Vec<OrderLine>),
        deadline: Deadline,
    ) -> Result<Order, Error> {
        let now = self.store.now();
        let order = Order::new(order_id, cart.id, cart.user_id, lines, now);
        let next = cart.closed(CartStatus::CheckedOut, now);
        self.write(
            deadline,
            Unit::default()
                .put(keys::order(order_id), codec::encode(&order))
                .put(keys::user_order(cart.user_id, order_id), Vec::new())
                .put(keys::cart(cart.id), codec::encode(&next))
                .remove(keys::open_cart(cart.user_id, cart.id))
                .remove(keys::checkout(cart.id))
                .event(Event::CartCheckedOut {
                    cart_id: cart.id,
                    order_id,
                    total_cents: order.total_cents,
                }),
        )
        .await?;
        *cart = next;
        Ok(order)
    }
}

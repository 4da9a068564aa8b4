//! Changing a cart's lines: every change goes through the product's inventory, which decides
//! the hold and writes it together with the cart's new record as one unit.

use super::{CartActor, CartMsg, CartState, CartView};
use crate::actors::inventory::{InventoryMsg, Reservation};
use crate::actors::{Deadline, Error};
use crate::domain::{Cart, CartId, CartStatus, Event, ProductId, Quantity, UserId};
use crate::storage::idempotency::Mark;
use crate::storage::{codec, keys, settle, Pending, Unit};
use ractor::ActorRef;

/// One line change: the line's new quantity (0 removes it), its event, and the request's
/// `Idempotency-Key` mark if it has one.
pub(super) struct Change {
    pub product_id: ProductId,
    pub quantity: u64,
    pub event: Event,
    pub mark: Option<Mark>,
    /// The request's deadline.
    pub deadline: Deadline,
}

impl CartActor {
    /// Waits for a queued write, until `deadline`.
    pub(super) async fn durable(&self, deadline: Deadline, pending: Pending) -> Result<(), Error> {
        deadline.bound("store write", settle(pending)).await??;
        Ok(())
    }

    pub(super) async fn write(&self, deadline: Deadline, unit: Unit) -> Result<(), Error> {
        self.durable(deadline, self.store.submit(unit)).await
    }

    /// Sets the line of `product` to `quantity` through the inventory: the hold and the cart
    /// record become durable in one unit, then the cart adopts the change.
    pub(super) async fn change_line(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        change: Change,
    ) -> Result<CartView, Error> {
        if let Some(mark) = &change.mark {
            // An earlier attempt of this key did the work already (its answer was lost and the
            // gateway looked before it landed); the state loaded here includes it.
            if self.store.contains(mark.key())? {
                return Err(Error::KeyInUse);
            }
        }
        let (product_id, quantity, deadline) =
            (change.product_id, change.quantity, change.deadline);
        let next = state.cart.with_line(product_id, quantity, self.store.now());
        let reservation = self.reserve(&next, change).await?;
        if let Err(e) = self.durable(deadline, reservation.durable).await {
            // The hold and the line may or may not be stored: let both owners reload from the
            // store rather than guess.
            tracing::error!(cart_id = %next.id, error = %e, "cart change not confirmed durable");
            self.inventory
                .cast_if_live(product_id.0, InventoryMsg::Reload);
            myself.stop(Some("write outcome unknown".into()));
            return Err(e);
        }
        state.cart = next;
        if quantity == 0 {
            state.held_until.remove(&product_id);
        } else {
            state.held_until.insert(product_id, reservation.expires_at);
        }
        self.renew_other_holds(myself, state, product_id);
        // Built from memory and local reads, never waiting on another actor: the change is
        // durable, and its answer must not turn into a 503 now.
        self.view(state)
    }

    /// Asks the inventory to set the hold for `change`, writing `next` (the cart after it)
    /// in the same unit; a refusal is answered once its event is logged.
    async fn reserve(&self, next: &Cart, change: Change) -> Result<Reservation, Error> {
        let with = Unit::default()
            .put(keys::cart(next.id), codec::encode(next))
            .event(change.event);
        let with = Mark::apply_to(change.mark, with, next.id.0);
        let (cart_id, product_id, quantity) = (next.id, change.product_id, change.quantity);
        let deadline = change.deadline;
        let reservation = self
            .inventory
            .call_by(deadline, product_id.0, |reply| InventoryMsg::Reserve {
                cart_id,
                quantity,
                with,
                reply,
            })
            .await?;
        match reservation {
            Ok(r) => Ok(r),
            Err(refusal) => {
                // The refusal's event is logged before we answer; its fate changes nothing.
                let _ = self.durable(deadline, refusal.logged).await;
                Err(Error::InsufficientStock {
                    product_id,
                    available: refusal.available,
                })
            }
        }
    }

    /// Activity on the cart keeps its other holds alive too (the changed one was just renewed
    /// by its reservation), as often as the hold policy says. Not part of the change, so off
    /// its reply path: a slow product actor (a passivated one is started by `call`) delays
    /// only the renewal, and the deadlines the inventory stored come back as
    /// [`CartMsg::HoldsRenewed`]. A renewal that fails leaves the hold its earlier deadline.
    fn renew_other_holds(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        changed: ProductId,
    ) {
        let now = self.store.now();
        if !self.holds.renewal_due(now, state.renewed_at) {
            return;
        }
        state.renewed_at = now;
        let cart_id = state.cart.id;
        let products: Vec<ProductId> = (state.cart.lines.iter())
            .map(|l| l.product_id)
            .filter(|p| *p != changed && state.held_until.get(p).is_some_and(|u| *u > now))
            .collect();
        if products.is_empty() {
            return;
        }
        let (inventory, myself) = (self.inventory.clone(), myself.clone());
        tokio::spawn(async move {
            let mut renewed = Vec::with_capacity(products.len());
            for product_id in products {
                let touch = |reply| InventoryMsg::Touch { cart_id, reply };
                match inventory.call(product_id.0, touch).await {
                    Ok(Some(until)) => renewed.push((product_id, until)),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        %cart_id, %product_id, error = %e,
                        "could not renew a hold; it keeps its earlier deadline"
                    ),
                }
            }
            let _ = myself.cast(CartMsg::HoldsRenewed { renewed });
        });
    }

    pub(super) async fn add_product(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        user: UserId,
        (product_id, quantity, mark): (ProductId, Quantity, Option<Mark>),
        deadline: Deadline,
    ) -> Result<CartView, Error> {
        let cart = &state.cart;
        tracing::debug!(cart_id = %cart.id, %product_id, quantity = quantity.get(), "cart actor: add product");
        cart.ensure_changeable_by(user)?;
        let line_quantity = cart.quantity_after_add(product_id, quantity.get())?;
        let event = Event::ProductAdded {
            cart_id: cart.id,
            product_id,
            quantity: quantity.get(),
            line_quantity,
        };
        let change = Change {
            product_id,
            quantity: line_quantity,
            event,
            mark,
            deadline,
        };
        self.change_line(myself, state, change).await
    }

    /// Sets a line to `quantity`; 0 removes it, and removing an absent line changes nothing.
    pub(super) async fn set_line(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        user: UserId,
        (product_id, quantity): (ProductId, u64),
        deadline: Deadline,
    ) -> Result<CartView, Error> {
        let cart = &state.cart;
        cart.ensure_changeable_by(user)?;
        if quantity == 0 && cart.line(product_id).is_none() {
            return self.view(state);
        }
        let change = Change {
            product_id,
            quantity,
            event: Event::LineQuantitySet {
                cart_id: cart.id,
                product_id,
                quantity,
            },
            mark: None,
            deadline,
        };
        self.change_line(myself, state, change).await
    }

    pub(super) async fn remove_line(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        user: UserId,
        product_id: ProductId,
        deadline: Deadline,
    ) -> Result<CartView, Error> {
        state.cart.ensure_changeable_by(user)?;
        state.cart.ensure_has_line(product_id)?;
        self.set_line(myself, state, user, (product_id, 0), deadline)
            .await
    }

    /// Releases each hold (one atomic step per product, so every intermediate state is a
    /// valid open cart), then closes the cart.
    pub(super) async fn abandon(
        &self,
        cart: &mut Cart,
        user: UserId,
        deadline: Deadline,
    ) -> Result<(), Error> {
        cart.ensure_changeable_by(user)?;
        let cart_id = cart.id;
        for line in &cart.lines {
            self.release(cart_id, line.product_id, deadline).await?;
        }
        let next = cart.closed(CartStatus::Abandoned, self.store.now());
        self.write(
            deadline,
            Unit::default()
                .put(keys::cart(cart_id), codec::encode(&next))
                .remove(keys::open_cart(cart.user_id, cart_id))
                .event(Event::CartAbandoned { cart_id }),
        )
        .await?;
        *cart = next;
        Ok(())
    }

    async fn release(
        &self,
        cart_id: CartId,
        product: ProductId,
        deadline: Deadline,
    ) -> Result<(), Error> {
        let released = self
            .inventory
            .call_by(deadline, product.0, |reply| InventoryMsg::Reserve {
                cart_id,
                quantity: 0,
                with: Unit::default(),
                reply,
            })
            .await?
            .map_err(|_| Error::Invariant("releasing a hold was refused".into()))?;
        self.durable(deadline, released.durable).await
    }
}

//! `CartActor`: one per cart. It owns the cart's lines and status, asks the inventory for
//! holds, and answers only once the change is durable.
//!
//! Checkout sells every line or none, and survives a crash at any point:
//! 1. record the intent (`cart.checkout = order id`, plus a `ck/` marker that keeps the cart's
//!    holds from expiring), durably;
//! 2. make sure every line is held (re-reserving lapsed holds); if one cannot be, undo the
//!    intent and answer 409 — nothing has been sold;
//! 3. commit each hold into a sale (idempotent per product and order);
//! 4. write the order, close the cart and drop the marker in one unit.
//!
//! A cart actor that starts and finds step 1 done but not step 4 runs 2–4 again before it
//! handles any message; startup does so for every marked cart before the app reports ready.

mod change;
mod checkout;
mod view;

pub use view::{CartItemView, CartView};

use super::catalog::Catalog;
use super::{Deadline, Entity, Error, Handle, InventoryActor};
use crate::domain::{Cart, CartId, CartStatus, Event, Hold, HoldPolicy, Millis, Order, ProductId};
use crate::domain::{Quantity, UserId};
use crate::storage::idempotency::Mark;
use crate::storage::{codec, keys, Store, Unit};
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::HashMap;
use std::time::Duration;

/// Each change carries its request's [`Deadline`]: the cart's calls to the inventory and its
/// waits for the store use what is left of it.
pub enum CartMsg {
    /// The cart, if `user` may see it (its owner, or an admin).
    Get {
        user: UserId,
        is_admin: bool,
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Adds `quantity` units of a product to the owner's open cart, reserving them.
    AddProduct {
        user: UserId,
        product_id: ProductId,
        quantity: Quantity,
        /// The request's `Idempotency-Key` mark, written with the change.
        mark: Option<Mark>,
        deadline: Deadline,
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Sets the line of a product to `quantity` (0 removes it), re-asserting its hold.
    SetLine {
        user: UserId,
        product_id: ProductId,
        quantity: u64,
        deadline: Deadline,
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Removes the line of a product, releasing its hold.
    RemoveLine {
        user: UserId,
        product_id: ProductId,
        deadline: Deadline,
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Sells every line or none; answers with the order.
    Checkout {
        user: UserId,
        deadline: Deadline,
        reply: RpcReplyPort<Result<Order, Error>>,
    },
    /// Releases every hold and closes the cart.
    Abandon {
        user: UserId,
        deadline: Deadline,
        reply: RpcReplyPort<Result<(), Error>>,
    },
    /// Deadlines the inventory gave the cart's other holds when its activity renewed them
    /// (sent by the cart to itself, off the reply path of the change that renewed them).
    HoldsRenewed { renewed: Vec<(ProductId, Millis)> },
    /// The cart's status, once any checkout an earlier incarnation began is resumed (start-up
    /// recovery asks this of every cart with an interrupted checkout).
    Status { reply: RpcReplyPort<CartStatus> },
}

#[derive(Clone)]
pub struct CartActor {
    store: Store,
    inventory: Handle<InventoryActor>,
    /// Current names and prices, for views without a call per line.
    catalog: Catalog,
    /// How long holds last and when activity renews them.
    holds: HoldPolicy,
    /// The deadline of work no request waits for (resuming a checkout at start).
    write_timeout: Duration,
}

impl CartActor {
    pub fn new(
        store: Store,
        inventory: Handle<InventoryActor>,
        catalog: Catalog,
        write_timeout: Duration,
        hold_ttl: Duration,
    ) -> Self {
        Self {
            store,
            inventory,
            catalog,
            holds: HoldPolicy::new(hold_ttl),
            write_timeout,
        }
    }
}

/// A cart actor's state: the cart, and what it knows of its holds.
pub struct CartState {
    cart: Cart,
    /// When activity last pushed back the holds' deadlines.
    renewed_at: Millis,
    /// Until when each line's hold lasts, as far as this actor knows: set from every
    /// reservation, read from the hold records on load. A line past its deadline shows
    /// `reserved: false` (the reaper releases the hold itself).
    held_until: HashMap<ProductId, Millis>,
}

impl CartState {
    /// Adopts the deadlines the inventory gave renewed holds.
    fn renewed(&mut self, renewed: Vec<(ProductId, Millis)>) {
        for (product, until) in renewed {
            // A later change of the line may have set a deadline since: keep the later.
            if let Some(held) = self.held_until.get_mut(&product) {
                *held = (*held).max(until);
            }
        }
    }
}

impl Entity for CartActor {
    const KIND: &'static str = "cart";
    /// Whatever a predecessor queued must be visible before this one loads, even if the
    /// predecessor's own wait for it (`post_stop`) ran out on a slow disk: a stale load would
    /// let this actor overwrite a change that lands after it.
    const ALWAYS_AWAIT_WRITER: bool = true;

    type Msg = CartMsg;
    type State = CartState;

    fn store(&self) -> &Store {
        &self.store
    }

    async fn load(&self, id: u64) -> Result<Option<CartState>, Error> {
        let Some(cart) = self.store.get::<Cart>(&keys::cart(CartId(id)))? else {
            return Ok(None);
        };
        let mut held_until = HashMap::with_capacity(cart.lines.len());
        for line in &cart.lines {
            let hold = self
                .store
                .get::<Hold>(&keys::hold(line.product_id, cart.id))?;
            if let Some(hold) = hold {
                held_until.insert(line.product_id, hold.expires_at);
            }
        }
        Ok(Some(CartState {
            cart,
            renewed_at: 0,
            held_until,
        }))
    }

    /// Finishes (or undoes) a checkout that an earlier incarnation began.
    async fn resume(&self, state: &mut CartState) -> Result<(), ActorProcessingErr> {
        if let Some(order_id) = state.cart.checkout_pending() {
            tracing::info!(cart_id = %state.cart.id, %order_id, "resuming an interrupted checkout");
            let deadline = Deadline::after(self.write_timeout);
            match Box::pin(self.finish_checkout(state, deadline)).await {
                Ok(_) | Err(Error::InsufficientStock { .. }) => {}
                Err(e) => return Err(Box::new(e)),
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CartMsg>,
        message: CartMsg,
        state: &mut CartState,
    ) -> Result<(), ActorProcessingErr> {
        // Boxed: an idle actor's task keeps room for its largest pending future.
        match message {
            CartMsg::Get {
                user,
                is_admin,
                reply,
            } => {
                let visible = state.cart.ensure_visible_to(user, is_admin);
                let _ = reply.send(match visible {
                    Ok(()) => self.view(state),
                    Err(e) => Err(e.into()),
                });
            }
            change @ (CartMsg::AddProduct { .. }
            | CartMsg::SetLine { .. }
            | CartMsg::RemoveLine { .. }) => self.on_change(&myself, state, change).await,
            CartMsg::Checkout {
                user,
                deadline,
                reply,
            } => return self.on_checkout(state, (user, deadline), reply).await,
            CartMsg::Abandon {
                user,
                deadline,
                reply,
            } => {
                self.on_abandon(&myself, state, (user, deadline), reply)
                    .await
            }
            CartMsg::HoldsRenewed { renewed } => state.renewed(renewed),
            CartMsg::Status { reply } => {
                let _ = reply.send(state.cart.status);
            }
        }
        Ok(())
    }
}

impl CartActor {
    /// A change of the cart's lines, answered once durable.
    async fn on_change(&self, myself: &ActorRef<CartMsg>, state: &mut CartState, msg: CartMsg) {
        match msg {
            CartMsg::AddProduct {
                user,
                product_id,
                quantity,
                mark,
                deadline,
                reply,
            } => {
                let add = (product_id, quantity, mark);
                let add = self.add_product(myself, state, user, add, deadline);
                let _ = reply.send(Box::pin(add).await);
            }
            CartMsg::SetLine {
                user,
                product_id,
                quantity,
                deadline,
                reply,
            } => {
                let set = self.set_line(myself, state, user, (product_id, quantity), deadline);
                let _ = reply.send(Box::pin(set).await);
            }
            CartMsg::RemoveLine {
                user,
                product_id,
                deadline,
                reply,
            } => {
                let remove = self.remove_line(myself, state, user, product_id, deadline);
                let _ = reply.send(Box::pin(remove).await);
            }
            _ => {}
        }
    }

    async fn on_abandon(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        (user, deadline): (UserId, Deadline),
        reply: RpcReplyPort<Result<(), Error>>,
    ) {
        let result = Box::pin(self.abandon(&mut state.cart, user, deadline)).await;
        if matches!(&result, Err(e) if e.outcome_unknown()) {
            // The cart may or may not be closed in the store: a successor reads it.
            myself.stop(Some("write outcome unknown".into()));
        }
        let _ = reply.send(result);
    }

    async fn on_checkout(
        &self,
        state: &mut CartState,
        (user, deadline): (UserId, Deadline),
        reply: RpcReplyPort<Result<Order, Error>>,
    ) -> Result<(), ActorProcessingErr> {
        let result = Box::pin(self.checkout(state, user, deadline)).await;
        let failed_midway = match &result {
            Ok(_) => false,
            Err(e) => state.cart.checkout_pending().is_some() || e.outcome_unknown(),
        };
        let _ = reply.send(result);
        if failed_midway {
            // The intent is (or may be) durable but this incarnation no longer knows how far
            // the steps got: fail, and let the restart resume the same order from what is
            // stored, as after a crash.
            return Err("checkout failed after its intent may have been stored".into());
        }
        Ok(())
    }
}

/// Creates an empty open cart for `user`.
pub async fn create(store: &Store, user: UserId) -> Result<CartView, Error> {
    create_marked(store, user, None).await
}

/// [`create`], with an `Idempotency-Key`'s mark written in the same unit.
pub async fn create_marked(
    store: &Store,
    user: UserId,
    mark: Option<Mark>,
) -> Result<CartView, Error> {
    let cart = Cart::new(CartId(store.next_id()?), user, store.now());
    let unit = Unit::default()
        .put(keys::cart(cart.id), codec::encode(&cart))
        .put(keys::open_cart(user, cart.id), Vec::new())
        .event(Event::CartCreated {
            cart_id: cart.id,
            user_id: user,
        });
    let unit = Mark::apply_to(mark, unit, cart.id.0);
    store.write(unit).await?;
    Ok(CartView::empty(&cart))
}

/// How many open carts `user` has, counting up to `up_to` (carts created before the open-cart
/// index existed are not counted).
pub fn open_carts_of(store: &Store, user: UserId, up_to: usize) -> Result<usize, Error> {
    let (start, end) = keys::user_range(keys::OPEN_CARTS, user);
    Ok(store.keys_between(&start, &end, up_to)?.len())
}

/// Cart ids with a checkout begun and not finished (to resume at startup).
pub fn interrupted_checkouts(store: &Store) -> Result<Vec<CartId>, Error> {
    Ok(store
        .keys_between(
            keys::CHECKOUTS,
            &keys::prefix_end(keys::CHECKOUTS),
            usize::MAX,
        )?
        .iter()
        .filter_map(|k| keys::id_of(k).map(CartId))
        .collect())
}

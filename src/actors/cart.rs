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

use super::catalog::{Catalog, ProductInfo};
use super::inventory::{InventoryMsg, Secured};
use super::{Entity, Error, Handle, InventoryActor, Missing, Spawn};
use crate::domain::{
    order, Cart, CartId, CartStatus, Event, Hold, Millis, Order, OrderId, OrderLine, ProductId,
    Quantity, UserId,
};
use crate::storage::idempotency::Mark;
use crate::storage::{codec, keys, settle, Pending, Store, Unit};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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
    pub name: String,
    pub quantity: u64,
    pub unit_price_cents: i64,
    /// Whether the inventory holds the line's units (false after the hold expired).
    pub reserved: bool,
    /// When the hold lapses unless the cart is active again (RFC 3339); absent when not held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expires_at: Option<String>,
}

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
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Sets the line of a product to `quantity` (0 removes it), re-asserting its hold.
    SetLine {
        user: UserId,
        product_id: ProductId,
        quantity: u64,
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Removes the line of a product, releasing its hold.
    RemoveLine {
        user: UserId,
        product_id: ProductId,
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    /// Sells every line or none; answers with the order.
    Checkout {
        user: UserId,
        reply: RpcReplyPort<Result<Order, Error>>,
    },
    /// Releases every hold and closes the cart.
    Abandon {
        user: UserId,
        reply: RpcReplyPort<Result<(), Error>>,
    },
    #[cfg(feature = "test-hooks")]
    Fail,
    /// Blocks the actor until `until` resolves, to test callers' timeouts.
    #[cfg(feature = "test-hooks")]
    Stall {
        until: tokio::sync::oneshot::Receiver<()>,
    },
}

/// Failure injection for tests, shared by every cart actor of one app.
#[derive(Debug, Default)]
pub struct TestHooks {
    /// Makes checkouts fail their actor (a panic, as in a crash) after committing some lines.
    pub crash_checkout: std::sync::Mutex<Option<CrashPlan>>,
}

#[derive(Debug, Clone, Copy)]
pub struct CrashPlan {
    /// Lines committed before the crash.
    pub after_commits: usize,
    /// How many more times to crash there (restarts resume the checkout and meet it again).
    pub times: u32,
}

impl TestHooks {
    /// Crashes still to come.
    pub fn crashes_left(&self) -> u32 {
        let plan = match self.crash_checkout.lock() {
            Ok(p) => *p,
            Err(poisoned) => *poisoned.into_inner(),
        };
        plan.map_or(0, |p| p.times)
    }
}

#[derive(Clone)]
pub struct CartActor {
    store: Store,
    inventory: Handle<InventoryActor>,
    /// Current names and prices, for views without a call per line.
    catalog: Catalog,
    /// How long a hold lasts while the cart is idle.
    hold_ttl: Duration,
    /// How long to wait for a write to become durable before giving up with 503.
    write_timeout: Duration,
    /// Activity pushes back the cart's other holds at most this often (a twentieth of the
    /// hold TTL): holds lapse between 95% and 100% of the TTL after the last activity, and a
    /// busy cart does not rewrite all its holds on every change.
    touch_every: Duration,
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    hooks: Arc<TestHooks>,
}

/// One line change: the line's new quantity (0 removes it), its event, and the request's
/// `Idempotency-Key` mark if it has one.
struct Change {
    product_id: ProductId,
    quantity: u64,
    event: Event,
    mark: Option<Mark>,
}

impl CartActor {
    pub fn new(
        store: Store,
        inventory: Handle<InventoryActor>,
        catalog: Catalog,
        write_timeout: Duration,
        hold_ttl: Duration,
        hooks: Arc<TestHooks>,
    ) -> Self {
        Self {
            store,
            inventory,
            catalog,
            hold_ttl,
            write_timeout,
            touch_every: hold_ttl / 20,
            hooks,
        }
    }

    /// Builds the view with current names and prices (from the catalog) and whether each
    /// line is still held (from the deadlines this actor knows).
    async fn view(&self, state: &CartState) -> Result<CartView, Error> {
        let cart = &state.cart;
        let now = self.store.now();
        let mut items = Vec::with_capacity(cart.lines.len());
        for line in &cart.lines {
            let info = match self.catalog.get(line.product_id) {
                Some(info) => info,
                None => {
                    // Not loaded in this process yet: its actor loads and publishes it.
                    let p = self
                        .inventory
                        .call(line.product_id.0, |reply| InventoryMsg::Get { reply })
                        .await?;
                    ProductInfo {
                        name: p.name.into(),
                        price_cents: p.price_cents,
                    }
                }
            };
            let held_until = state
                .held_until
                .get(&line.product_id)
                .filter(|until| **until > now && cart.status == CartStatus::Open);
            items.push(CartItemView {
                product_id: line.product_id,
                name: info.name.to_string(),
                quantity: line.quantity,
                unit_price_cents: info.price_cents,
                reserved: held_until.is_some(),
                hold_expires_at: held_until.map(|until| crate::domain::rfc3339(*until)),
            });
        }
        let total_cents = order::total(items.iter().map(|i| (i.quantity, i.unit_price_cents)));
        Ok(CartView {
            id: cart.id,
            user_id: cart.user_id,
            status: cart.status,
            items,
            total_cents,
        })
    }

    /// Waits (bounded) for a queued write.
    async fn durable(&self, pending: Pending) -> Result<(), Error> {
        match tokio::time::timeout(self.write_timeout, settle(pending)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Error::Unavailable("store write timed out".into())),
        }
    }

    async fn write(&self, unit: Unit) -> Result<(), Error> {
        self.durable(self.store.submit(unit)).await
    }

    /// Sets the line of `product` to `quantity` through the inventory: the hold and the cart
    /// record become durable in one unit, then the cart adopts the change.
    async fn change_line(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        change: Change,
    ) -> Result<CartView, Error> {
        let Change {
            product_id,
            quantity,
            event,
            mark,
        } = change;
        if let Some(mark) = &mark {
            // An earlier attempt of this key did the work already (its answer was lost and the
            // gateway looked before it landed); the state loaded here includes it.
            if self.store.contains(mark.key())? {
                return Err(Error::KeyInUse);
            }
        }
        let cart = &state.cart;
        let next = cart.with_line(product_id, quantity, self.store.now());
        let with = Unit::default()
            .put(keys::cart(cart.id), codec::encode(&next))
            .event(event);
        let with = Mark::apply_to(mark, with, cart.id.0);
        let cart_id = cart.id;
        let reservation = self
            .inventory
            .call(product_id.0, |reply| InventoryMsg::Reserve {
                cart_id,
                quantity,
                with,
                reply,
            })
            .await?;
        let reservation = match reservation {
            Ok(r) => r,
            Err(refusal) => {
                // The refusal's event is logged before we answer; its fate changes nothing.
                let _ = self.durable(refusal.logged).await;
                return Err(Error::InsufficientStock {
                    product_id,
                    available: refusal.available,
                });
            }
        };
        if let Err(e) = self.durable(reservation.durable).await {
            // The hold and the line may or may not be stored: let both owners reload from the
            // store rather than guess.
            tracing::error!(%cart_id, error = %e, "cart change not confirmed durable");
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
        // Activity on the cart keeps its other holds alive too (the changed one was just
        // renewed by the reservation). A product's actor may have been passivated while the
        // hold lasts (the idle timeout can be shorter than the hold TTL): `send` starts it.
        let now = self.store.now();
        if now.saturating_sub(state.touched_at) >= self.touch_every.as_millis() as u64 {
            state.touched_at = now;
            let renewed = now.saturating_add(self.hold_ttl.as_millis() as u64);
            for line in state
                .cart
                .lines
                .iter()
                .filter(|l| l.product_id != product_id)
            {
                if let Some(until) = state.held_until.get_mut(&line.product_id) {
                    if *until > now {
                        let touch = InventoryMsg::Touch { cart_id };
                        match self.inventory.send(line.product_id.0, touch).await {
                            Ok(()) => *until = renewed,
                            // The change itself is durable; only this renewal is lost.
                            Err(e) => tracing::warn!(
                                %cart_id, product_id = %line.product_id, error = %e,
                                "could not renew a hold; it keeps its earlier deadline"
                            ),
                        }
                    }
                }
            }
        }
        self.view(state).await
    }

    async fn add_product(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        user: UserId,
        (product_id, quantity, mark): (ProductId, Quantity, Option<Mark>),
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
        };
        self.change_line(myself, state, change).await
    }

    async fn set_line(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        user: UserId,
        product_id: ProductId,
        quantity: u64,
    ) -> Result<CartView, Error> {
        let cart = &state.cart;
        cart.ensure_changeable_by(user)?;
        if quantity == 0 && cart.line(product_id).is_none() {
            // Already absent: setting it to 0 changes nothing.
            return self.view(state).await;
        }
        let event = Event::LineQuantitySet {
            cart_id: cart.id,
            product_id,
            quantity,
        };
        let change = Change {
            product_id,
            quantity,
            event,
            mark: None,
        };
        self.change_line(myself, state, change).await
    }

    async fn remove_line(
        &self,
        myself: &ActorRef<CartMsg>,
        state: &mut CartState,
        user: UserId,
        product_id: ProductId,
    ) -> Result<CartView, Error> {
        let cart = &state.cart;
        cart.ensure_changeable_by(user)?;
        cart.ensure_has_line(product_id)?;
        let event = Event::LineQuantitySet {
            cart_id: cart.id,
            product_id,
            quantity: 0,
        };
        let change = Change {
            product_id,
            quantity: 0,
            event,
            mark: None,
        };
        self.change_line(myself, state, change).await
    }

    /// Releases each hold (one atomic step per product, so every intermediate state is a
    /// valid open cart), then closes the cart.
    async fn abandon(&self, cart: &mut Cart, user: UserId) -> Result<(), Error> {
        cart.ensure_changeable_by(user)?;
        let cart_id = cart.id;
        for line in &cart.lines {
            let released = self
                .inventory
                .call(line.product_id.0, |reply| InventoryMsg::Reserve {
                    cart_id,
                    quantity: 0,
                    with: Unit::default(),
                    reply,
                })
                .await?
                .map_err(|_| Error::Unavailable("releasing a hold".into()))?;
            self.durable(released.durable).await?;
        }
        let next = cart.closed(CartStatus::Abandoned, self.store.now());
        self.write(
            Unit::default()
                .put(keys::cart(cart_id), codec::encode(&next))
                .event(Event::CartAbandoned { cart_id }),
        )
        .await?;
        *cart = next;
        Ok(())
    }

    async fn checkout(&self, state: &mut CartState, user: UserId) -> Result<Order, Error> {
        let cart = &mut state.cart;
        if cart.pending_checkout_for(user)?.is_some() {
            // A retry of a checkout that did not finish: the same order, never a second one.
            return self.finish_checkout(state).await;
        }
        cart.ensure_changeable_by(user)?;
        let order_id = OrderId(self.store.next_id()?);
        let next = cart.begin_checkout(order_id, self.store.now())?;
        self.write(
            Unit::default()
                .put(keys::cart(cart.id), codec::encode(&next))
                .put(keys::checkout(cart.id), codec::encode(&order_id)),
        )
        .await?;
        *cart = next;
        self.finish_checkout(state).await
    }

    /// Steps 2–4 of checkout; safe to run again after a crash at any point.
    async fn finish_checkout(&self, state: &mut CartState) -> Result<Order, Error> {
        let renewed = self
            .store
            .now()
            .saturating_add(self.hold_ttl.as_millis() as u64);
        let CartState {
            cart, held_until, ..
        } = state;
        let Some(order_id) = cart.checkout_pending() else {
            return Err(Error::CartClosed(cart.status));
        };
        let cart_id = cart.id;

        // Step 2: every line held, or undo the intent.
        let mut sold_any = false;
        let mut refused = None;
        for line in &cart.lines {
            let quantity = line.quantity;
            let secured = self
                .inventory
                .call(line.product_id.0, |reply| InventoryMsg::Secure {
                    cart_id,
                    quantity,
                    order_id,
                    reply,
                })
                .await?;
            match secured {
                Ok(Secured::AlreadySold) => sold_any = true,
                Ok(Secured::Held(pending)) => {
                    self.durable(pending).await?;
                    held_until.insert(line.product_id, renewed);
                }
                Err(e @ Error::InsufficientStock { .. }) => {
                    refused.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(refused) = refused {
            if sold_any {
                // Cannot happen: holds of a cart in checkout do not expire. Leave the intent
                // in place so a restart retries, and say so loudly.
                tracing::error!(%cart_id, %order_id, "checkout lost a hold after selling part of the cart");
                return Err(Error::Unavailable("checkout".into()));
            }
            let next = cart.abort_checkout(self.store.now());
            self.write(
                Unit::default()
                    .put(keys::cart(cart_id), codec::encode(&next))
                    .remove(keys::checkout(cart_id)),
            )
            .await?;
            *cart = next;
            return Err(refused);
        }

        // Step 3: sell each hold.
        let mut lines = Vec::with_capacity(cart.lines.len());
        for (committed, line) in cart.lines.iter().enumerate() {
            #[cfg(feature = "test-hooks")]
            self.crash_if_asked(committed);
            let _ = committed;
            let quantity = line.quantity;
            let product_id = line.product_id;
            let sale = self
                .inventory
                .call(product_id.0, |reply| InventoryMsg::Commit {
                    cart_id,
                    quantity,
                    order_id,
                    reply,
                })
                .await??;
            if let Some(pending) = sale.durable {
                if let Err(e) = self.durable(pending).await {
                    self.inventory
                        .cast_if_live(product_id.0, InventoryMsg::Reload);
                    return Err(e);
                }
            }
            lines.push(OrderLine {
                product_id,
                name: sale.record.name,
                quantity: sale.record.quantity,
                unit_price_cents: sale.record.unit_price_cents,
            });
        }

        // Step 4: the order, the closed cart and the end of the intent, in one unit.
        let now = self.store.now();
        let order = Order::new(order_id, cart_id, cart.user_id, lines, now);
        let next = cart.closed(CartStatus::CheckedOut, now);
        self.write(
            Unit::default()
                .put(keys::order(order_id), codec::encode(&order))
                .put(keys::user_order(cart.user_id, order_id), Vec::new())
                .put(keys::cart(cart_id), codec::encode(&next))
                .remove(keys::checkout(cart_id))
                .event(Event::CartCheckedOut {
                    cart_id,
                    order_id,
                    total_cents: order.total_cents,
                }),
        )
        .await?;
        *cart = next;
        Ok(order)
    }

    /// Panics (the actor fails, as on a crash) if a test asked for it at this point.
    #[cfg(feature = "test-hooks")]
    fn crash_if_asked(&self, committed: usize) {
        let mut plan = match self.hooks.crash_checkout.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = plan
            .as_mut()
            .filter(|p| p.after_commits == committed && p.times > 0)
        {
            p.times -= 1;
            drop(plan);
            panic!("crash injected by a test after {committed} commits");
        }
    }
}

impl Entity for CartActor {
    const KIND: &'static str = "cart";

    #[cfg(feature = "test-hooks")]
    fn fail_message() -> CartMsg {
        CartMsg::Fail
    }
}

/// A cart actor's state: the cart, and when it last pushed back its holds' deadlines.
pub struct CartState {
    cart: Cart,
    /// When activity last pushed back the holds' deadlines.
    touched_at: Millis,
    /// Until when each line's hold lasts, as far as this actor knows: set from every
    /// reservation, read from the hold records on load. A line past its deadline shows
    /// `reserved: false` (the reaper releases the hold itself).
    held_until: HashMap<ProductId, Millis>,
}

impl Actor for CartActor {
    type Msg = CartMsg;
    type State = CartState;
    type Arguments = Spawn;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        Spawn { id, .. }: Spawn,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Whatever a predecessor queued must be visible before this one loads, even if the
        // predecessor's own wait for it (`post_stop`) ran out on a slow disk: a stale load
        // would let this actor overwrite a change that lands after it. If the disk is still
        // stalled, the start fails (503) rather than load stale state.
        self.store.barrier().await?;
        let Some(cart) = self.store.get::<Cart>(&keys::cart(CartId(id)))? else {
            return Err(Missing.into());
        };
        let mut held_until = HashMap::with_capacity(cart.lines.len());
        for line in &cart.lines {
            if let Some(hold) = self
                .store
                .get::<Hold>(&keys::hold(line.product_id, cart.id))?
            {
                held_until.insert(line.product_id, hold.expires_at);
            }
        }
        Ok(CartState {
            cart,
            touched_at: 0,
            held_until,
        })
    }

    /// A change whose outcome was unknown may still be queued; a successor must see it.
    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        _state: &mut CartState,
    ) -> Result<(), ActorProcessingErr> {
        self.store.barrier().await?;
        Ok(())
    }

    /// Finishes (or undoes) a checkout that an earlier incarnation began.
    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut CartState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(order_id) = state.cart.checkout_pending() {
            tracing::info!(cart_id = %state.cart.id, %order_id, "resuming an interrupted checkout");
            match Box::pin(self.finish_checkout(state)).await {
                Ok(_) | Err(Error::InsufficientStock { .. }) => {}
                Err(e) => return Err(Box::new(e)),
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut CartState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CartMsg::Get {
                user,
                is_admin,
                reply,
            } => {
                let result = match state.cart.ensure_visible_to(user, is_admin) {
                    Ok(()) => Box::pin(self.view(state)).await,
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            CartMsg::AddProduct {
                user,
                product_id,
                quantity,
                mark,
                reply,
            } => {
                // Boxed: an idle actor's task keeps room for its largest pending future.
                let add = (product_id, quantity, mark);
                let result = Box::pin(self.add_product(&myself, state, user, add)).await;
                let _ = reply.send(result);
            }
            CartMsg::SetLine {
                user,
                product_id,
                quantity,
                reply,
            } => {
                let result =
                    Box::pin(self.set_line(&myself, state, user, product_id, quantity)).await;
                let _ = reply.send(result);
            }
            CartMsg::RemoveLine {
                user,
                product_id,
                reply,
            } => {
                let result = Box::pin(self.remove_line(&myself, state, user, product_id)).await;
                let _ = reply.send(result);
            }
            CartMsg::Checkout { user, reply } => {
                let result = Box::pin(self.checkout(state, user)).await;
                let failed_midway = match &result {
                    Ok(_) => false,
                    Err(e) => state.cart.checkout_pending().is_some() || e.outcome_unknown(),
                };
                let _ = reply.send(result);
                if failed_midway {
                    // The intent is (or may be) durable but this incarnation no longer knows
                    // how far the steps got: fail, and let the restart resume the same order
                    // from what is stored, as after a crash.
                    return Err("checkout failed after its intent may have been stored".into());
                }
            }
            CartMsg::Abandon { user, reply } => {
                let result = Box::pin(self.abandon(&mut state.cart, user)).await;
                let unknown = matches!(&result, Err(e) if e.outcome_unknown());
                let _ = reply.send(result);
                if unknown {
                    // The cart may or may not be closed in the store: a successor reads it.
                    myself.stop(Some("write outcome unknown".into()));
                }
            }
            #[cfg(feature = "test-hooks")]
            CartMsg::Fail => return Err("failure injected by a test".into()),
            #[cfg(feature = "test-hooks")]
            CartMsg::Stall { until } => {
                let _ = until.await;
            }
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
        .event(Event::CartCreated {
            cart_id: cart.id,
            user_id: user,
        });
    let unit = Mark::apply_to(mark, unit, cart.id.0);
    store.write(unit).await?;
    Ok(CartView {
        id: cart.id,
        user_id: cart.user_id,
        status: cart.status,
        items: Vec::new(),
        total_cents: 0,
    })
}

/// Cart ids with a checkout begun and not finished (to resume at startup).
pub fn interrupted_checkouts(store: &Store) -> Result<Vec<CartId>, Error> {
    let end = [keys::CHECKOUTS, &[0xff]].concat();
    Ok(store
        .keys_between(keys::CHECKOUTS, &end, usize::MAX)?
        .iter()
        .filter_map(|k| keys::id_of(k).map(CartId))
        .collect())
}

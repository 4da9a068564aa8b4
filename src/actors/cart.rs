//! `CartActor`: one per cart. It owns the cart's lines and status, asks the inventory for
//! holds, and answers only once the change is durable.

use super::inventory::{InventoryMsg, ProductView};
use super::{Entity, Error, Handle, InventoryActor, Missing};
use crate::domain::{Cart, CartId, CartStatus, Event, ProductId, Quantity, UserId};
use crate::storage::{codec, keys, now_millis, settle, Store, Unit};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
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
    pub reserved: bool,
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
        reply: RpcReplyPort<Result<CartView, Error>>,
    },
    #[cfg(feature = "test-hooks")]
    Fail,
    /// Blocks the actor until `until` resolves, to test callers' timeouts.
    #[cfg(feature = "test-hooks")]
    Stall {
        until: tokio::sync::oneshot::Receiver<()>,
    },
}

#[derive(Clone)]
pub struct CartActor {
    store: Store,
    inventory: Handle<InventoryActor>,
    /// How long to wait for a write to become durable before giving up with 503.
    write_timeout: Duration,
}

impl CartActor {
    pub fn new(store: Store, inventory: Handle<InventoryActor>, write_timeout: Duration) -> Self {
        Self {
            store,
            inventory,
            write_timeout,
        }
    }

    /// Builds the view; `known` is a product snapshot already at hand (skips one call).
    async fn view(&self, cart: &Cart, known: Option<&ProductView>) -> Result<CartView, Error> {
        let mut items = Vec::with_capacity(cart.lines.len());
        let mut total: i64 = 0;
        for line in &cart.lines {
            let product = match known.filter(|p| p.id == line.product_id) {
                Some(p) => p.clone(),
                None => {
                    self.inventory
                        .call(line.product_id.0, |reply| InventoryMsg::Get { reply })
                        .await?
                }
            };
            let quantity = i64::try_from(line.quantity).unwrap_or(i64::MAX);
            total = total.saturating_add(product.price_cents.saturating_mul(quantity));
            items.push(CartItemView {
                product_id: line.product_id,
                name: product.name,
                quantity: line.quantity,
                unit_price_cents: product.price_cents,
                reserved: line.reserved,
            });
        }
        Ok(CartView {
            id: cart.id,
            user_id: cart.user_id,
            status: cart.status,
            items,
            total_cents: total,
        })
    }

    async fn add_product(
        &self,
        myself: &ActorRef<CartMsg>,
        cart: &mut Cart,
        user: UserId,
        product_id: ProductId,
        quantity: Quantity,
    ) -> Result<CartView, Error> {
        cart.ensure_changeable_by(user)?;
        let line_quantity = cart.quantity_after_add(product_id, quantity.get())?;
        let next = cart.with_reserved_line(product_id, line_quantity, now_millis());
        let with = Unit::default()
            .put(keys::cart(cart.id), codec::encode(&next))
            .event(Event::ProductAdded {
                cart_id: cart.id,
                product_id,
                quantity: quantity.get(),
                line_quantity,
            });
        let cart_id = cart.id;
        let reservation = self
            .inventory
            .call(product_id.0, |reply| InventoryMsg::Reserve {
                cart_id,
                quantity: line_quantity,
                with,
                reply,
            })
            .await?
            .map_err(|rejected| Error::InsufficientStock {
                product_id,
                available: rejected.available,
            })?;
        match tokio::time::timeout(self.write_timeout, settle(reservation.durable)).await {
            Ok(Ok(_)) => {
                *cart = next;
                self.view(cart, Some(&reservation.product)).await
            }
            outcome => {
                // The hold and the line may or may not be stored: let both owners reload
                // from the store rather than guess.
                tracing::error!(cart_id = %cart.id, ?outcome, "add to cart not confirmed durable");
                self.inventory
                    .cast_if_live(product_id.0, InventoryMsg::Reload);
                myself.stop(Some("write outcome unknown".into()));
                Err(Error::Unavailable("store".into()))
            }
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

impl Actor for CartActor {
    type Msg = CartMsg;
    type State = Cart;
    type Arguments = u64;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        id: u64,
    ) -> Result<Self::State, ActorProcessingErr> {
        self.store.barrier().await?;
        match self.store.get::<Cart>(&keys::cart(CartId(id)))? {
            Some(cart) => Ok(cart),
            None => Err(Missing.into()),
        }
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        cart: &mut Cart,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CartMsg::Get {
                user,
                is_admin,
                reply,
            } => {
                let result = match cart.ensure_visible_to(user, is_admin) {
                    Ok(()) => self.view(cart, None).await,
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
            CartMsg::AddProduct {
                user,
                product_id,
                quantity,
                reply,
            } => {
                let result = self
                    .add_product(&myself, cart, user, product_id, quantity)
                    .await;
                let _ = reply.send(result);
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
    let cart = Cart::new(CartId(store.next_id()?), user, now_millis());
    let unit = Unit::default()
        .put(keys::cart(cart.id), codec::encode(&cart))
        .event(Event::CartCreated {
            cart_id: cart.id,
            user_id: user,
        });
    store.write(unit).await?;
    Ok(CartView {
        id: cart.id,
        user_id: cart.user_id,
        status: cart.status,
        items: Vec::new(),
        total_cents: 0,
    })
}

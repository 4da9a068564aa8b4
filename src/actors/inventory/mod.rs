//! `InventoryActor`: one per product, the single place that decides whether stock can be held.
//!
//! A reservation is decided in memory and handed to the store writer together with the
//! cart's own change, as one atomic unit; the cart waits for it to be durable before it
//! answers. Because this actor submits the unit itself, the writer sees this product's
//! changes in the order they were decided.

mod holds;
mod products;

pub use products::{create, create_marked, list};

use super::catalog::{Catalog, ProductInfo};
use super::{Entity, Error};
use crate::domain::HoldPolicy;
use crate::domain::{
    CartId, Hold, Inventory, Millis, OrderId, PriceCents, Product, ProductId, ProductName, Stock,
};
use crate::storage::{keys, Pending, Store, Unit};
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A product as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    /// Available to add to carts.
    pub stock: u64,
    /// Held by open carts.
    pub reserved: u64,
}

impl ProductView {
    /// As its actor last published it.
    fn published(id: ProductId, info: &ProductInfo) -> Self {
        Self {
            id,
            name: info.name.to_string(),
            price_cents: info.price_cents,
            stock: info.stock,
            reserved: info.reserved,
        }
    }

    fn of(inv: &Inventory) -> Self {
        Self {
            id: inv.product.id,
            name: inv.product.name.as_str().to_owned(),
            price_cents: inv.product.price.get(),
            stock: inv.available(),
            reserved: inv.reserved(),
        }
    }
}

/// What one product contributed to an order, stored under `s/{product}{order}` in the same
/// write as the sale itself, so a repeated commit is recognised and answered with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    pub quantity: u64,
    pub name: String,
    pub unit_price_cents: i64,
}

/// A granted reservation: the product after it, and the write that makes it (and the cart's
/// change) durable.
pub struct Reservation {
    /// When the hold lapses unless the cart is active again.
    pub expires_at: Millis,
    pub durable: Pending,
}

/// A refused reservation: nothing changed but the `StockRejected` event, which is durable
/// once `logged` resolves (callers wait for it so the event precedes their answer).
pub struct Refusal {
    pub available: u64,
    pub logged: Pending,
}

/// A checkout's hold for one product, made sure of.
pub enum Secured {
    /// This product was already sold to the order (a checkout resumed after a crash).
    AlreadySold,
    /// The hold is in place once `durable` resolves, lapsing at `expires_at` (the deadline
    /// the inventory stores, which a cart shows).
    Held {
        expires_at: Millis,
        durable: Pending,
    },
}

/// A product sold into an order; `durable` is `None` when it had been sold before.
pub struct Sale {
    pub record: SaleRecord,
    pub durable: Option<Pending>,
}

pub enum InventoryMsg {
    Get {
        reply: RpcReplyPort<ProductView>,
    },
    /// Sets the hold of `cart_id` to exactly `quantity`; if granted, `with` (the cart's own
    /// records and events) is written in the same atomic unit as the hold.
    Reserve {
        cart_id: CartId,
        quantity: u64,
        with: Unit,
        reply: RpcReplyPort<Result<Reservation, Refusal>>,
    },
    /// The cart was active: push its hold's deadline back. Answers the hold's deadline
    /// after it (`None`: no hold), as stored once the write queued for it lands.
    Touch {
        cart_id: CartId,
        reply: RpcReplyPort<Option<Millis>>,
    },
    /// Checkout, step 1: make sure `cart_id` holds `quantity` (re-reserving a lapsed hold).
    Secure {
        cart_id: CartId,
        quantity: u64,
        order_id: OrderId,
        reply: RpcReplyPort<Result<Secured, Error>>,
    },
    /// Checkout, step 2: sell the hold into `order_id`. Idempotent per (product, order).
    Commit {
        cart_id: CartId,
        quantity: u64,
        order_id: OrderId,
        reply: RpcReplyPort<Result<Sale, Error>>,
    },
    /// Release holds whose deadline has passed (sent by the hold reaper).
    ExpireHolds,
    /// An admin's edit: name, price, and the available stock (holds stay as they are).
    Update {
        name: ProductName,
        price: PriceCents,
        stock: Stock,
        reply: RpcReplyPort<Result<ProductView, Error>>,
    },
    /// A write this actor decided may not have happened: reload from the store.
    Reload,
}

#[derive(Clone)]
pub struct InventoryActor {
    store: Store,
    /// How long a hold lasts without cart activity.
    holds: HoldPolicy,
    /// Where this actor publishes its product's name and price for cart views.
    catalog: Catalog,
}

impl InventoryActor {
    pub fn new(store: Store, hold_ttl: Duration, catalog: Catalog) -> Self {
        Self {
            store,
            holds: HoldPolicy::new(hold_ttl),
            catalog,
        }
    }

    /// Shows `inv` in the catalog: done before answering any change, so whoever learns of a
    /// change can read it there.
    fn publish(&self, inv: &Inventory) {
        let p = &inv.product;
        let (stock, reserved) = (inv.available(), inv.reserved());
        (self.catalog).publish(p.id, p.name.as_str(), p.price.get(), stock, reserved);
    }

    /// Publishes `inv`, then answers.
    fn answer<T>(&self, inv: &Inventory, reply: RpcReplyPort<T>, answer: T) {
        self.publish(inv);
        let _ = reply.send(answer);
    }

    fn deadline(&self) -> Millis {
        self.holds.deadline(self.store.now())
    }

    fn read(&self, id: ProductId) -> Result<Option<Inventory>, Error> {
        let inv = stored(&self.store, id)?;
        if let Some(inv) = &inv {
            self.publish(inv);
        }
        Ok(inv)
    }

    /// Reads the product again after what this actor queued has landed.
    async fn reload(&self, inv: &mut Inventory) -> Result<(), ActorProcessingErr> {
        self.store.barrier().await?;
        *inv = self
            .read(inv.product.id)?
            .ok_or_else(|| Error::Invariant(format!("product {} vanished", inv.product.id)))?;
        Ok(())
    }
}

/// A product and its holds as stored.
fn stored(store: &Store, id: ProductId) -> Result<Option<Inventory>, Error> {
    match store.get::<Product>(&keys::product(id))? {
        Some(product) => Ok(Some(with_holds(store, product)?)),
        None => Ok(None),
    }
}

/// `product` with its stored holds.
fn with_holds(store: &Store, product: Product) -> Result<Inventory, Error> {
    let holds = store
        .scan_prefix::<Hold>(&keys::holds_of(product.id))?
        .into_iter()
        .filter_map(|(k, h)| Some((keys::cart_of_hold(&k)?, h)));
    Ok(Inventory::new(product, holds))
}

impl InventoryActor {
    /// Releases the lapsed holds; if that fails, reloads rather than guess what landed.
    async fn expire_or_reload(&self, inv: &mut Inventory) -> Result<(), ActorProcessingErr> {
        if let Err(e) = Box::pin(self.expire(inv)).await {
            tracing::warn!(product_id = %inv.product.id, error = %e, "expiring holds failed; reloading");
            self.reload(inv).await?;
        }
        self.publish(inv);
        Ok(())
    }
}

impl Entity for InventoryActor {
    const KIND: &'static str = "product";

    type Msg = InventoryMsg;
    type State = Inventory;

    fn store(&self) -> &Store {
        &self.store
    }

    async fn load(&self, id: u64) -> Result<Option<Inventory>, Error> {
        self.read(ProductId(id))
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        inv: &mut Inventory,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            InventoryMsg::Get { reply } => {
                let _ = reply.send(ProductView::of(inv));
            }
            InventoryMsg::Touch { cart_id, reply } => {
                let _ = reply.send(self.touch(inv, cart_id));
            }
            InventoryMsg::Secure {
                cart_id,
                quantity,
                order_id,
                reply,
            } => {
                let secured = Box::pin(self.secure(inv, cart_id, quantity, order_id)).await;
                self.answer(inv, reply, secured);
            }
            InventoryMsg::Commit {
                cart_id,
                quantity,
                order_id,
                reply,
            } => {
                let sale = self.commit(inv, cart_id, quantity, order_id);
                self.answer(inv, reply, sale);
            }
            InventoryMsg::ExpireHolds => Box::pin(self.expire_or_reload(inv)).await?,
            InventoryMsg::Reserve {
                cart_id,
                quantity,
                with,
                reply,
            } => {
                let reservation = self.reserve(inv, cart_id, quantity, with);
                self.answer(inv, reply, reservation);
            }
            InventoryMsg::Update {
                name,
                price,
                stock,
                reply,
            } => {
                let updated = Box::pin(self.update(inv, name, price, stock)).await;
                self.answer(inv, reply, updated);
            }
            // Let what this actor queued land first, then read the truth.
            InventoryMsg::Reload => self.reload(inv).await?,
        }
        Ok(())
    }
}

//! `InventoryActor`: one per product, the single place that decides whether stock can be held.
//!
//! A reservation is decided in memory and handed to the store writer together with the
//! cart's own change, as one atomic unit; the cart waits for it to be durable before it
//! answers. Because this actor submits the unit itself, the writer sees this product's
//! changes in the order they were decided.

use super::catalog::{Catalog, ProductInfo};
use super::{Entity, Error, Handle, Missing, Spawn};
use crate::domain::{
    CartId, Event, Hold, Inventory, Millis, OrderId, PriceCents, Product, ProductId, ProductName,
    Stock, StockRejected,
};
use crate::storage::idempotency::Mark;
use crate::storage::{codec, keys, Pending, StorageError, Store, Unit};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
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
    pub product: ProductView,
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
    /// The hold is in place once this write is durable.
    Held(Pending),
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
    /// The cart was active: push its hold's deadline back.
    Touch {
        cart_id: CartId,
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
    #[cfg(feature = "test-hooks")]
    Fail,
}

#[derive(Clone)]
pub struct InventoryActor {
    store: Store,
    /// How long a hold lasts without cart activity.
    hold_ttl: Duration,
    /// Where this actor publishes its product's name and price for cart views.
    catalog: Catalog,
}

impl InventoryActor {
    pub fn new(store: Store, hold_ttl: Duration, catalog: Catalog) -> Self {
        Self {
            store,
            hold_ttl,
            catalog,
        }
    }

    fn publish(&self, product: &Product) {
        let info = ProductInfo {
            name: product.name.as_str().into(),
            price_cents: product.price.get(),
        };
        self.catalog.publish(product.id, info);
    }

    fn deadline(&self) -> Millis {
        self.store
            .now()
            .saturating_add(self.hold_ttl.as_millis() as u64)
    }

    async fn load(&self, id: ProductId) -> Result<Inventory, ActorProcessingErr> {
        let Some(product) = self.store.get::<Product>(&keys::product(id))? else {
            return Err(Missing.into());
        };
        let holds = self
            .store
            .scan_prefix::<Hold>(&keys::holds_of(id))?
            .into_iter()
            .filter_map(|(k, h)| Some((keys::cart_of_hold(&k)?, h)));
        self.publish(&product);
        Ok(Inventory::new(product, holds))
    }

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
            Some(a) => unit
                .put(keys::hold(product, cart), codec::encode(&a))
                .put(keys::expiry(a.expires_at, product, cart), Vec::new()),
            None => unit.remove(keys::hold(product, cart)),
        }
    }

    fn reserve(
        &self,
        inv: &mut Inventory,
        cart_id: CartId,
        quantity: u64,
        with: Unit,
    ) -> Result<Reservation, Refusal> {
        let before = inv.hold(cart_id);
        let id = inv.product.id;
        tracing::debug!(product_id = %id, %cart_id, quantity, "inventory actor: reserve");
        if let Err(StockRejected { available }) = inv.reserve(cart_id, quantity, self.deadline()) {
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
        if quantity > old {
            unit = unit.event_first(Event::StockReserved {
                product_id: id,
                cart_id,
                quantity,
            });
        } else if quantity < old {
            unit = unit.event_first(Event::StockReleased {
                product_id: id,
                cart_id,
                released: old - quantity,
                quantity,
            });
        }
        Ok(Reservation {
            product: ProductView::of(inv),
            expires_at: inv.hold(cart_id).map_or(0, |h| h.expires_at),
            durable: self.store.submit(unit),
        })
    }

    fn touch(&self, inv: &mut Inventory, cart_id: CartId) {
        let before = inv.hold(cart_id);
        let after = inv.touch(cart_id, self.deadline());
        if after.is_some() && after != before {
            let unit = Self::hold_change(Unit::default(), inv.product.id, cart_id, before, after);
            // Not waited for: a lost touch only lets the hold lapse at its earlier deadline.
            drop(self.store.submit(unit));
        }
    }

    fn sold_before(&self, inv: &Inventory, order: OrderId) -> Result<Option<SaleRecord>, Error> {
        Ok(self.store.get(&keys::sale(inv.product.id, order))?)
    }

    async fn secure(
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
            Ok(r) => Ok(Secured::Held(r.durable)),
            Err(refusal) => {
                let _ = self.store.settle(refusal.logged).await;
                Err(Error::InsufficientStock {
                    product_id: inv.product.id,
                    available: refusal.available,
                })
            }
        }
    }

    fn commit(
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
            Error::Unavailable(format!(
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

    async fn expire(&self, inv: &mut Inventory) -> Result<(), Error> {
        let id = inv.product.id;
        let mut unit = Unit::default();
        let mut next = inv.clone();
        for cart_id in inv.expired(self.store.now()) {
            // A cart in the middle of checkout keeps its holds: they are about to be sold.
            if self.store.contains(&keys::checkout(cart_id))? {
                continue;
            }
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

    async fn update(
        &self,
        inv: &mut Inventory,
        name: ProductName,
        price: PriceCents,
        stock: Stock,
    ) -> Result<ProductView, Error> {
        let mut next = inv.clone();
        let old_name = std::mem::replace(&mut next.product.name, name);
        next.product.price = price;
        next.set_available(stock);
        let p = &next.product;
        let mut unit = Unit::default()
            .claim(keys::product_name(p.name.as_str()), codec::encode(&p.id))
            .put(keys::product(p.id), codec::encode(p))
            .event(Event::ProductUpdated {
                product_id: p.id,
                name: p.name.as_str().to_owned(),
                price_cents: p.price.get(),
                stock: next.available(),
            });
        if old_name != p.name {
            unit = unit.remove(keys::product_name(old_name.as_str()));
        }
        match self.store.write(unit).await {
            Ok(_) => {
                *inv = next;
                self.publish(&inv.product);
                Ok(ProductView::of(inv))
            }
            Err(StorageError::Conflict(_)) => Err(Error::ProductNameTaken),
            Err(e) => Err(e.into()),
        }
    }
}

impl Entity for InventoryActor {
    const KIND: &'static str = "product";

    #[cfg(feature = "test-hooks")]
    fn fail_message() -> InventoryMsg {
        InventoryMsg::Fail
    }
}

impl Actor for InventoryActor {
    type Msg = InventoryMsg;
    type State = Inventory;
    type Arguments = Spawn;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        Spawn { id, after_failure }: Spawn,
    ) -> Result<Self::State, ActorProcessingErr> {
        if after_failure {
            self.store.barrier().await?;
        }
        self.load(ProductId(id)).await
    }

    /// Reservations are queued without waiting; a successor must not load before they land.
    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        _inv: &mut Inventory,
    ) -> Result<(), ActorProcessingErr> {
        self.store.barrier().await?;
        Ok(())
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
            InventoryMsg::Touch { cart_id } => self.touch(inv, cart_id),
            InventoryMsg::Secure {
                cart_id,
                quantity,
                order_id,
                reply,
            } => {
                let _ = reply.send(Box::pin(self.secure(inv, cart_id, quantity, order_id)).await);
            }
            InventoryMsg::Commit {
                cart_id,
                quantity,
                order_id,
                reply,
            } => {
                let _ = reply.send(self.commit(inv, cart_id, quantity, order_id));
            }
            InventoryMsg::ExpireHolds => {
                if let Err(e) = Box::pin(self.expire(inv)).await {
                    tracing::warn!(product_id = %inv.product.id, error = %e, "expiring holds failed; reloading");
                    self.store.barrier().await?;
                    *inv = self.load(inv.product.id).await?;
                }
            }
            InventoryMsg::Reserve {
                cart_id,
                quantity,
                with,
                reply,
            } => {
                let _ = reply.send(self.reserve(inv, cart_id, quantity, with));
            }
            InventoryMsg::Update {
                name,
                price,
                stock,
                reply,
            } => {
                let _ = reply.send(Box::pin(self.update(inv, name, price, stock)).await);
            }
            InventoryMsg::Reload => {
                // Let what this actor queued land first, then read the truth.
                self.store.barrier().await?;
                *inv = self.load(inv.product.id).await?;
            }
            #[cfg(feature = "test-hooks")]
            InventoryMsg::Fail => return Err("failure injected by a test".into()),
        }
        Ok(())
    }
}

/// Creates a product; the name index claim makes a concurrent duplicate fail.
pub async fn create(
    store: &Store,
    name: ProductName,
    price: PriceCents,
    stock: Stock,
) -> Result<ProductView, Error> {
    create_marked(store, name, price, stock, None).await
}

/// [`create`], with an `Idempotency-Key`'s mark written in the same unit.
pub async fn create_marked(
    store: &Store,
    name: ProductName,
    price: PriceCents,
    stock: Stock,
    mark: Option<Mark>,
) -> Result<ProductView, Error> {
    let product = Product {
        id: ProductId(store.next_id()?),
        name,
        price,
        on_hand: stock.get(),
        sold: 0,
        created_at: store.now(),
    };
    let name_key = keys::product_name(product.name.as_str());
    let unit = Unit::default()
        .claim(name_key.clone(), codec::encode(&product.id))
        .put(keys::product(product.id), codec::encode(&product))
        .event(Event::ProductCreated {
            product_id: product.id,
            name: product.name.as_str().to_owned(),
            price_cents: product.price.get(),
            stock: stock.get(),
        });
    let unit = Mark::apply_to(mark, unit, product.id.0);
    match store.write(unit).await {
        Ok(_) => Ok(ProductView::of(&Inventory::new(product, []))),
        Err(StorageError::Conflict(k)) if k == name_key => Err(Error::ProductNameTaken),
        Err(e) => Err(e.into()),
    }
}

/// One page of products in id order, after `after`, and the id to continue after (if more).
pub async fn list(
    inventory: &Handle<InventoryActor>,
    store: &Store,
    after: u64,
    limit: usize,
) -> Result<(Vec<ProductView>, Option<ProductId>), Error> {
    let start = keys::product(ProductId(after.saturating_add(1)));
    let mut ids: Vec<u64> = store
        .scan::<Product>(keys::PRODUCTS, &start, limit + 1)?
        .into_iter()
        .map(|(_, p)| p.id.0)
        .collect();
    let more = ids.len() > limit;
    ids.truncate(limit);
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        items.push(
            inventory
                .call(id, |reply| InventoryMsg::Get { reply })
                .await?,
        );
    }
    let next = if more {
        items.last().map(|p| p.id)
    } else {
        None
    };
    Ok((items, next))
}

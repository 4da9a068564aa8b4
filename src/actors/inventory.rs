//! `InventoryActor`: one per product, the single place that decides whether stock can be held.
//!
//! A reservation is decided in memory and handed to the store writer together with the
//! cart's own change, as one atomic unit; the cart waits for it to be durable before it
//! answers. Because this actor submits the unit itself, the writer sees this product's
//! changes in the order they were decided.

use super::{Entity, Error, Handle, Missing};
use crate::domain::{
    CartId, Event, Inventory, PriceCents, Product, ProductId, ProductName, Stock, StockRejected,
};
use crate::storage::{codec, keys, now_millis, Pending, StorageError, Store, Unit};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};

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

/// A cart's hold on a product, stored under `h/{product}{cart}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HoldRecord {
    pub quantity: u64,
}

/// A granted reservation: the product after it, and the write that makes it (and the cart's
/// change) durable.
pub struct Reservation {
    pub product: ProductView,
    pub durable: Pending,
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
        reply: RpcReplyPort<Result<Reservation, StockRejected>>,
    },
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
}

impl InventoryActor {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn load(&self, id: ProductId) -> Result<Inventory, ActorProcessingErr> {
        // Writes queued by an earlier incarnation of this actor land before we read.
        self.store.barrier().await?;
        let Some(product) = self.store.get::<Product>(&keys::product(id))? else {
            return Err(Missing.into());
        };
        let holds = self
            .store
            .scan_prefix::<HoldRecord>(&keys::holds_of(id))?
            .into_iter()
            .filter_map(|(k, h)| Some((keys::cart_of_hold(&k)?, h.quantity)));
        Ok(Inventory::new(product, holds))
    }

    fn reserve(
        &self,
        inv: &mut Inventory,
        cart_id: CartId,
        quantity: u64,
        with: Unit,
    ) -> Result<Reservation, StockRejected> {
        inv.reserve(cart_id, quantity)?;
        let id = inv.product.id;
        let key = keys::hold(id, cart_id);
        let unit = if quantity == 0 {
            with.remove(key)
        } else {
            with.put(key, codec::encode(&HoldRecord { quantity }))
        };
        let unit = unit.event(Event::StockReserved {
            product_id: id,
            cart_id,
            quantity,
        });
        Ok(Reservation {
            product: ProductView::of(inv),
            durable: self.store.submit(unit),
        })
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
    type Arguments = u64;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        id: u64,
    ) -> Result<Self::State, ActorProcessingErr> {
        self.load(ProductId(id)).await
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
                let _ = reply.send(self.update(inv, name, price, stock).await);
            }
            InventoryMsg::Reload => {
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
    let product = Product {
        id: ProductId(store.next_id()?),
        name,
        price,
        on_hand: stock.get(),
        sold: 0,
        created_at: now_millis(),
    };
    let unit = Unit::default()
        .claim(
            keys::product_name(product.name.as_str()),
            codec::encode(&product.id),
        )
        .put(keys::product(product.id), codec::encode(&product))
        .event(Event::ProductCreated {
            product_id: product.id,
            name: product.name.as_str().to_owned(),
            price_cents: product.price.get(),
            stock: stock.get(),
        });
    match store.write(unit).await {
        Ok(_) => Ok(ProductView::of(&Inventory::new(product, []))),
        Err(StorageError::Conflict(_)) => Err(Error::ProductNameTaken),
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

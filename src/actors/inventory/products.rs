//! The catalogue side of products: creating one, an admin's edit, and listing them.

use super::{InventoryActor, ProductView};
use crate::actors::catalog::Catalog;
use crate::actors::Error;
use crate::domain::{Event, Inventory, PriceCents, Product, ProductId, ProductName, Stock};
use crate::storage::idempotency::Mark;
use crate::storage::{codec, keys, StorageError, Store, Unit};

impl InventoryActor {
    pub(super) async fn update(
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
///
/// Starts no actors: each product is shown as its actor last published it to the catalog
/// (before answering any change, so an acknowledged change shows), or, if no actor has loaded
/// it in this process, as stored — only its actor changes those records, so what is stored is
/// what it is. The catalog is looked at again after the store read, in case an actor loaded
/// the product (and may have changed it) meanwhile.
pub fn list(
    catalog: &Catalog,
    store: &Store,
    after: u64,
    limit: usize,
) -> Result<(Vec<ProductView>, Option<ProductId>), Error> {
    let Some(first) = after.checked_add(1) else {
        return Ok((Vec::new(), None));
    };
    let start = keys::product(ProductId(first));
    let mut products = store.scan::<Product>(keys::PRODUCTS, &start, limit + 1)?;
    let more = products.len() > limit;
    products.truncate(limit);
    let mut items = Vec::with_capacity(products.len());
    for (_, product) in products {
        let id = product.id;
        let view = match catalog.get(id) {
            Some(info) => ProductView::published(id, &info),
            None => {
                let inv = super::with_holds(store, product)?;
                match catalog.get(id) {
                    Some(info) => ProductView::published(id, &info),
                    None => ProductView::of(&inv),
                }
            }
        };
        items.push(view);
    }
    let next = if more {
        items.last().map(|p| p.id)
    } else {
        None
    };
    Ok((items, next))
}

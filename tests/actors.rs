//! The actor system in-process: typed messages, replies and stored state, without HTTP.

use std::time::Duration;
use trolley::actors::inventory;
use trolley::actors::supervisor::Settings;
use trolley::actors::{cart, Actors, CartMsg, Error, InventoryMsg};
use trolley::domain::{
    Cart, CartId, Hold, PriceCents, ProductId, ProductName, Quantity, Stock, UserId,
};
use trolley::storage::{keys, Store};

async fn start() -> (tempfile::TempDir, Actors, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    let settings = Settings {
        call_timeout: Duration::from_secs(5),
        token_ttl: Duration::from_secs(3600),
        hold_ttl: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(3600),
        retention: Default::default(),
        backup_dir: None,
        quotas: Default::default(),
    };
    let actors = Actors::start(store.clone(), settings).await.unwrap();
    (dir, actors, store)
}

async fn product(store: &Store, name: &str, stock: i64) -> ProductId {
    inventory::create(
        store,
        ProductName::parse(name).unwrap(),
        PriceCents::new(100).unwrap(),
        Stock::new(stock).unwrap(),
    )
    .await
    .unwrap()
    .id
}

async fn add(
    actors: &Actors,
    cart: CartId,
    user: UserId,
    product: ProductId,
    q: i64,
) -> Result<cart::CartView, Error> {
    actors
        .carts
        .call(cart.0, |reply| CartMsg::AddProduct {
            user,
            product_id: product,
            quantity: Quantity::new(q).unwrap(),
            mark: None,
            reply,
        })
        .await?
}

#[tokio::test]
async fn add_product_reserves_stock_and_stores_the_line_and_the_hold_together() {
    let (_dir, actors, store) = start().await;
    let tea = product(&store, "Tea", 5).await;
    let user = UserId(1);
    let c = cart::create(&store, user).await.unwrap().id;

    let view = add(&actors, c, user, tea, 3).await.unwrap();
    assert_eq!(view.items.len(), 1);
    assert_eq!(view.items[0].quantity, 3);

    let stored: Cart = store.get(&keys::cart(c)).unwrap().unwrap();
    assert_eq!(stored.lines[0].quantity, 3);
    let hold: Hold = store.get(&keys::hold(tea, c)).unwrap().unwrap();
    assert_eq!(hold.quantity, 3);

    let p = actors
        .inventory
        .call(tea.0, |reply| InventoryMsg::Get { reply })
        .await
        .unwrap();
    assert_eq!((p.stock, p.reserved), (2, 3));
}

#[tokio::test]
async fn a_rejected_reservation_leaves_memory_and_store_unchanged() {
    let (_dir, actors, store) = start().await;
    let tea = product(&store, "Tea", 2).await;
    let user = UserId(1);
    let c = cart::create(&store, user).await.unwrap().id;

    match add(&actors, c, user, tea, 3).await {
        Err(Error::InsufficientStock {
            product_id,
            available,
        }) => {
            assert_eq!((product_id, available), (tea, 2));
        }
        other => panic!("expected insufficient stock, got {other:?}"),
    }
    let stored: Cart = store.get(&keys::cart(c)).unwrap().unwrap();
    assert!(stored.lines.is_empty());
    assert!(store.get::<Hold>(&keys::hold(tea, c)).unwrap().is_none());
}

#[tokio::test]
async fn only_the_owner_can_add_and_unknown_ids_are_not_found() {
    let (_dir, actors, store) = start().await;
    let tea = product(&store, "Tea", 2).await;
    let c = cart::create(&store, UserId(1)).await.unwrap().id;
    assert!(matches!(
        add(&actors, c, UserId(2), tea, 1).await,
        Err(Error::NotFound("cart"))
    ));
    assert!(matches!(
        add(&actors, c, UserId(1), ProductId(999), 1).await,
        Err(Error::NotFound("product"))
    ));
    assert!(matches!(
        actors.carts.actor(999).await,
        Err(Error::NotFound("cart"))
    ));
}

#[tokio::test]
async fn stopping_the_system_ends_every_actor() {
    let (_dir, actors, store) = start().await;
    let tea = product(&store, "Tea", 2).await;
    let c = cart::create(&store, UserId(1)).await.unwrap().id;
    add(&actors, c, UserId(1), tea, 1).await.unwrap();
    assert_eq!(actors.carts.live_count().await.unwrap(), 1);
    assert!(actors.is_running());
    actors.stop(Duration::from_secs(5)).await;
    assert!(!actors.is_running());
    assert!(matches!(
        add(&actors, c, UserId(1), tea, 1).await,
        Err(Error::Unavailable(_))
    ));
}

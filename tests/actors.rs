//! The actor system in-process: typed messages, replies and stored state, without HTTP.

use std::time::Duration;
use trolley::actors::inventory;
use trolley::actors::supervisor::Settings;
use trolley::actors::{cart, Actors, CartMsg, Error, InventoryMsg};
use trolley::domain::{
    Cart, CartId, Hold, PriceCents, ProductId, ProductName, Quantity, Stock, UserId,
};
use trolley::storage::{keys, Store};

fn settings() -> Settings {
    Settings {
        call_timeout: Duration::from_secs(5),
        token_ttl: Duration::from_secs(3600),
        hold_ttl: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(3600),
        retention: Default::default(),
        backup_dir: None,
        quotas: Default::default(),
    }
}

async fn start() -> (tempfile::TempDir, Actors, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    let actors = Actors::start(store.clone(), settings()).await.unwrap();
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
            deadline: actors.carts.deadline(),
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

#[tokio::test]
async fn a_directory_that_fails_before_the_supervisor_adopted_it_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    store.fail_directory_before_adoption("cart");
    let actors = Actors::start(store.clone(), settings()).await.unwrap();
    let user = UserId(1);
    let created = cart::create(&store, user).await.unwrap();

    // The failure reached the supervisor before the adoption; the restart follows it. Polled
    // (the supervisor announces restarts to nobody), bounded by a generous patience.
    let patience = tokio::time::Instant::now() + Duration::from_secs(60);
    while !actors.is_running() && tokio::time::Instant::now() < patience {
        tokio::task::yield_now().await;
    }
    assert!(
        actors.is_running(),
        "the cart directory was never restarted"
    );
    let status = actors
        .carts
        .call(created.id.0, |reply| CartMsg::Status { reply })
        .await;
    assert!(status.is_ok(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_cold_start_holds_up_no_other_cart_and_each_cart_gets_exactly_one_actor() {
    let (_dir, actors, store) = start().await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(cart::create(&store, UserId(1)).await.unwrap().id.0);
    }
    let (release, until) = tokio::sync::oneshot::channel();
    let stuck = store.stall_start("cart", ids[0], until);
    let lookup = |id: u64| {
        let actors = actors.clone();
        tokio::spawn(async move { (id, actors.carts.actor(id).await.map(|a| a.get_id())) })
    };
    let mut slow = vec![lookup(ids[0])];
    stuck.await.unwrap();

    // While the first cart's start hangs, the others start, each asked for by many callers
    // at once; so is the first, whose callers all wait for its one start.
    let mut others = Vec::new();
    for _ in 0..16 {
        slow.push(lookup(ids[0]));
        others.extend(ids[1..].iter().map(|&id| lookup(id)));
    }
    let mut actor_of = std::collections::HashMap::new();
    for call in others {
        let (id, actor) = call.await.unwrap();
        let actor = actor.expect("a cart whose start is not held up starts");
        assert_eq!(*actor_of.entry(id).or_insert(actor), actor, "cart {id}");
    }
    release.send(()).unwrap();
    for call in slow {
        let (id, actor) = call.await.unwrap();
        let actor = actor.expect("the held-up start finishes");
        assert_eq!(*actor_of.entry(id).or_insert(actor), actor, "cart {id}");
    }
    assert_eq!(actors.carts.live_count().await.unwrap(), ids.len());
}

#[tokio::test]
async fn a_call_answers_503_once_its_one_deadline_has_passed_however_long_its_lookup_took() {
    use trolley::domain::OrderId;
    let (_dir, actors, store) = start().await;
    let timeout = actors.settings.call_timeout;
    let tea = product(&store, "Tea", 1).await;
    let (release, until) = tokio::sync::oneshot::channel();
    let stuck = store.stall_start("product", tea.0, until);
    // Writes wait: a refusal's event is never logged, so the product actor's answer hangs.
    let _disk = store.stall_disk();

    // From here on time is virtual: it moves only to the next timer, and nothing else moves.
    tokio::time::pause();
    let began = tokio::time::Instant::now();
    tokio::spawn(async move {
        // The lookup (the product's start) takes 0.9 of the call timeout.
        let _ = stuck.await;
        tokio::time::sleep(timeout * 9 / 10).await;
        let _ = release.send(());
    });
    let secure = actors
        .inventory
        .call(tea.0, |reply| InventoryMsg::Secure {
            cart_id: CartId(1),
            quantity: 5,
            order_id: OrderId(1),
            reply,
        })
        .await;
    let took = began.elapsed();
    assert!(matches!(secure, Err(Error::Unavailable(_))));
    // Per hop, the answer would have had a full timeout of its own after the lookup (1.9 of
    // it in all).
    assert!(took <= timeout + Duration::from_millis(1), "took {took:?}");
}

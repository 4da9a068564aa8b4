//! The actor path without HTTP: AddProduct round trips through a cart actor and an inventory
//! actor on a real temp store (each one durable before it answers), one at a time and 64 at
//! once, beside a bare ractor `call` ping-pong measured in the same run.
//!
//!     cargo bench --bench actor_path

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::time::{Duration, Instant};
use trolley::actors::supervisor::Settings;
use trolley::actors::{cart, inventory, Actors, CartMsg};
use trolley::domain::{PriceCents, ProductId, ProductName, Quantity, Stock, UserId};
use trolley::storage::Store;

struct Echo;

impl Actor for Echo {
    type Msg = RpcReplyPort<u64>;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        reply: Self::Msg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *n += 1;
        let _ = reply.send(*n);
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (actors, product, carts, echo) = rt.block_on(async {
        let store = Store::open(dir.path(), 64 << 20).unwrap();
        let settings = Settings {
            call_timeout: Duration::from_secs(10),
            token_ttl: Duration::from_secs(3600),
            hold_ttl: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(3600),
            retention: Default::default(),
            backup_dir: None,
            quotas: Default::default(),
        };
        let actors = Actors::start(store.clone(), settings).await.unwrap();
        let product = inventory::create(
            &store,
            ProductName::parse("Tea").unwrap(),
            PriceCents::new(250).unwrap(),
            Stock::new(1_000_000_000_000).unwrap(),
        )
        .await
        .unwrap()
        .id;
        let mut carts = Vec::new();
        for _ in 0..64 {
            carts.push(cart::create(&store, UserId(1)).await.unwrap().id);
        }
        let (echo, _) = Actor::spawn(None, Echo, ()).await.unwrap();
        (actors, product, carts, echo)
    });
    let add = |actors: Actors, cart: u64, product: ProductId| async move {
        actors
            .carts
            .call(cart, |reply| CartMsg::AddProduct {
                user: UserId(1),
                product_id: product,
                quantity: Quantity::new(1).unwrap(),
                mark: None,
                deadline: actors.carts.deadline(),
                reply,
            })
            .await
            .unwrap()
            .unwrap();
    };

    let mut group = c.benchmark_group("actor_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ractor_call_ping_pong", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ractor::call!(echo, |reply| reply).unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("add_product_one_at_a_time", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    add(actors.clone(), carts[i as usize % carts.len()].0, product).await;
                }
                start.elapsed()
            })
        })
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("add_product_64_concurrent", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut set = tokio::task::JoinSet::new();
                    for c in &carts {
                        set.spawn(add(actors.clone(), c.0, product));
                    }
                    while set.join_next().await.is_some() {}
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

//! Writes a large store directly (no server running): one user, PRODUCTS products and CARTS
//! empty carts owned by that user, through the same store writer and records the server uses.
//! Writes `user.txt` (`username password`), `products.txt` and `carts.txt` into OUT_DIR.
//!
//! Usage: scale_seed DATA_DIR OUT_DIR PRODUCTS CARTS

use trolley::actors::user;
use trolley::domain::{
    Cart, CartId, Event, Password, PriceCents, Product, ProductId, ProductName, UserId, Username,
};
use trolley::storage::{codec, keys, now_millis, Store, Unit};

const PER_UNIT: u64 = 1000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, data, out, products, carts] = &args[..] else {
        eprintln!("usage: scale_seed DATA_DIR OUT_DIR PRODUCTS CARTS");
        std::process::exit(2);
    };
    let (products, carts): (u64, u64) = (products.parse().unwrap(), carts.parse().unwrap());
    let store = Store::open(std::path::Path::new(data), 512 << 20).unwrap();
    let password = "scale-password";
    let owner = user::register(
        &store,
        &trolley::actors::passwords::Hasher::default(),
        Username::parse("scale-user").unwrap(),
        &Password::parse(password.into()).unwrap(),
        false,
    )
    .await
    .unwrap()
    .id;
    let now = now_millis();
    let started = std::time::Instant::now();

    let mut product_ids = Vec::with_capacity(products as usize);
    let mut pending = Vec::new();
    for chunk in (0..products).collect::<Vec<_>>().chunks(PER_UNIT as usize) {
        let mut unit = Unit::default();
        for &i in chunk {
            let p = Product {
                id: ProductId(store.next_id().unwrap()),
                name: ProductName::parse(&format!("scale-product-{i}")).unwrap(),
                price: PriceCents::new(100 + (i % 900) as i64).unwrap(),
                on_hand: 1_000_000_000,
                sold: 0,
                created_at: now,
            };
            product_ids.push(p.id.0);
            unit = unit
                .claim(keys::product_name(p.name.as_str()), codec::encode(&p.id))
                .put(keys::product(p.id), codec::encode(&p))
                .event(Event::ProductCreated {
                    product_id: p.id,
                    name: p.name.as_str().to_owned(),
                    price_cents: p.price.get(),
                    stock: p.on_hand,
                });
        }
        pending.push(store.submit(unit));
        if pending.len() >= 64 {
            for p in pending.drain(..) {
                trolley::storage::settle(p).await.unwrap();
            }
        }
    }
    let mut cart_ids = Vec::with_capacity(carts as usize);
    for chunk in (0..carts).collect::<Vec<_>>().chunks(PER_UNIT as usize) {
        let mut unit = Unit::default();
        for _ in chunk {
            let cart = Cart::new(CartId(store.next_id().unwrap()), owner, now);
            cart_ids.push(cart.id.0);
            unit = unit
                .put(keys::cart(cart.id), codec::encode(&cart))
                .event(Event::CartCreated {
                    cart_id: cart.id,
                    user_id: UserId(owner.0),
                });
        }
        pending.push(store.submit(unit));
        if pending.len() >= 64 {
            for p in pending.drain(..) {
                trolley::storage::settle(p).await.unwrap();
            }
        }
    }
    for p in pending.drain(..) {
        trolley::storage::settle(p).await.unwrap();
    }
    store.close().await.expect("store closes");
    let join = |ids: &[u64]| {
        ids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    std::fs::write(format!("{out}/products.txt"), join(&product_ids)).unwrap();
    std::fs::write(format!("{out}/carts.txt"), join(&cart_ids)).unwrap();
    std::fs::write(
        format!("{out}/user.txt"),
        format!("scale-user {password}\n"),
    )
    .unwrap();
    println!(
        "wrote {products} products and {carts} carts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

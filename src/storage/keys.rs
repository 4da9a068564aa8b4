//! Key layout of the single sled tree. One prefix per kind of record; ids are big-endian so
//! sled's byte order is id order.
//!
//! | prefix | key                    | value            |
//! |--------|------------------------|------------------|
//! | `u/`   | user id                | `User`           |
//! | `un/`  | lower-cased username   | user id          |
//! | `p/`   | product id             | `Product`        |
//! | `pn/`  | product name           | product id       |
//! | `h/`   | product id, cart id    | `Hold`: quantity and deadline |
//! | `c/`   | cart id                | `Cart`           |
//! | `t/`   | Blake2s-256 of a token | `Session`        |
//! | `us/`  | user id, token hash    | expiry and login order: a user's sessions (`--max-sessions`) |
//! | `uc/`  | user id, cart id       | (empty): a user's open carts (`--max-open-carts`) |
//! | `e/`   | event sequence number  | `EventRecord`    |
//! | `x/`   | deadline, product, cart| (empty): hold expiry index |
//! | `ck/`  | cart id                | order id: a checkout in progress |
//! | `s/`   | product id, order id   | `SaleRecord`: a product sold in an order |
//! | `o/`   | order id               | `Order`          |
//! | `uo/`  | user id, order id      | (empty): orders of a user |
//! | `ik/`  | user id, idempotency key | first response to that key |
//! | `ika/` | user id, idempotency key | `Applied`: the key's work is done (claimed in its unit) |
//! | `ikt/` | time, `ik/` or `ika/` key | (empty): idempotency records by age |
//! | `sub/` | subscriber name        | last event sequence it handled |
//! | `meta/log-head` | –             | last event sequence ever appended |
//! | `st/`  | product id             | `ProductStats` (sales projection) |
//! | `stu/` | !units sold, product id| (empty): products by units sold, most first |

use crate::domain::{CartId, Millis, OrderId, ProductId, UserId};

fn with_id(prefix: &[u8], id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn with_str(prefix: &[u8], s: &str) -> Vec<u8> {
    [prefix, s.as_bytes()].concat()
}

pub const USERS: &[u8] = b"u/";
pub const PRODUCTS: &[u8] = b"p/";
pub const EVENTS: &[u8] = b"e/";

pub fn user(id: UserId) -> Vec<u8> {
    with_id(USERS, id.0)
}

pub fn username(canonical: &str) -> Vec<u8> {
    with_str(b"un/", canonical)
}

pub fn product(id: ProductId) -> Vec<u8> {
    with_id(PRODUCTS, id.0)
}

pub fn product_name(name: &str) -> Vec<u8> {
    with_str(b"pn/", name)
}

pub fn holds_of(product: ProductId) -> Vec<u8> {
    with_id(b"h/", product.0)
}

pub fn hold(product: ProductId, cart: CartId) -> Vec<u8> {
    let mut k = holds_of(product);
    k.extend_from_slice(&cart.0.to_be_bytes());
    k
}

/// The cart id at the end of a hold key.
pub fn cart_of_hold(key: &[u8]) -> Option<CartId> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(CartId(u64::from_be_bytes(tail)))
}

pub fn cart(id: CartId) -> Vec<u8> {
    with_id(b"c/", id.0)
}

pub const SESSIONS: &[u8] = b"t/";

pub fn token(hash: &[u8; 32]) -> Vec<u8> {
    [SESSIONS, hash].concat()
}

/// The token hash at the end of a `t/` or `us/` key.
pub fn token_hash_at_end(key: &[u8]) -> Option<[u8; 32]> {
    key.get(key.len().checked_sub(32)?..)?.try_into().ok()
}

pub const USER_SESSIONS: &[u8] = b"us/";

pub fn user_session(user: UserId, hash: &[u8; 32]) -> Vec<u8> {
    [with_id(USER_SESSIONS, user.0).as_slice(), hash].concat()
}

pub const OPEN_CARTS: &[u8] = b"uc/";

pub fn open_cart(user: UserId, cart: CartId) -> Vec<u8> {
    let mut k = with_id(OPEN_CARTS, user.0);
    k.extend_from_slice(&cart.0.to_be_bytes());
    k
}

/// `[start, end)` of the keys under `prefix` + `user`'s id (per-user indexes and records).
pub fn user_range(prefix: &[u8], user: UserId) -> (Vec<u8>, Vec<u8>) {
    let end = match user.0.checked_add(1) {
        Some(next) => with_id(prefix, next),
        None => prefix_end(prefix),
    };
    (with_id(prefix, user.0), end)
}

pub fn event(seq: u64) -> Vec<u8> {
    with_id(EVENTS, seq)
}

pub const EXPIRY: &[u8] = b"x/";

/// Entry of the hold expiry index: sorted by deadline, so lapsed holds are a prefix scan.
pub fn expiry(at: Millis, product: ProductId, cart: CartId) -> Vec<u8> {
    let mut k = with_id(EXPIRY, at);
    k.extend_from_slice(&product.0.to_be_bytes());
    k.extend_from_slice(&cart.0.to_be_bytes());
    k
}

/// Everything in the expiry index due at or before `at` sorts before this key.
pub fn expiry_due_before(at: Millis) -> Vec<u8> {
    with_id(EXPIRY, at.saturating_add(1))
}

/// The product of an expiry index entry.
pub fn product_of_expiry(key: &[u8]) -> Option<ProductId> {
    let p: [u8; 8] = key
        .get(EXPIRY.len() + 8..EXPIRY.len() + 16)?
        .try_into()
        .ok()?;
    Some(ProductId(u64::from_be_bytes(p)))
}

pub const CHECKOUTS: &[u8] = b"ck/";

pub fn checkout(cart: CartId) -> Vec<u8> {
    with_id(CHECKOUTS, cart.0)
}

pub fn sale(product: ProductId, order: OrderId) -> Vec<u8> {
    let mut k = with_id(b"s/", product.0);
    k.extend_from_slice(&order.0.to_be_bytes());
    k
}

pub fn order(id: OrderId) -> Vec<u8> {
    with_id(b"o/", id.0)
}

pub fn orders_of(user: UserId) -> Vec<u8> {
    with_id(b"uo/", user.0)
}

pub fn user_order(user: UserId, order: OrderId) -> Vec<u8> {
    let mut k = orders_of(user);
    k.extend_from_slice(&order.0.to_be_bytes());
    k
}

pub const IDEMPOTENCY: &[u8] = b"ik/";

pub fn idempotency(user: UserId, key: &str) -> Vec<u8> {
    let mut k = with_id(IDEMPOTENCY, user.0);
    k.extend_from_slice(key.as_bytes());
    k
}

pub const IDEMPOTENCY_APPLIED: &[u8] = b"ika/";

/// The mark a key's work leaves in its own unit (see `storage::idempotency`).
pub fn idempotency_applied(user: UserId, key: &str) -> Vec<u8> {
    let mut k = with_id(IDEMPOTENCY_APPLIED, user.0);
    k.extend_from_slice(key.as_bytes());
    k
}

pub const IDEMPOTENCY_BY_TIME: &[u8] = b"ikt/";

pub fn idempotency_by_time(at: Millis, record: &[u8]) -> Vec<u8> {
    let mut k = with_id(IDEMPOTENCY_BY_TIME, at);
    k.extend_from_slice(record);
    k
}

/// The `ik/` (or `ika/`) key inside an `ikt/` time-index key.
pub fn record_of_idempotency_time(key: &[u8]) -> Option<&[u8]> {
    key.get(IDEMPOTENCY_BY_TIME.len() + 8..)
        .filter(|r| !r.is_empty())
}

pub const LOG_HEAD: &[u8] = b"meta/log-head";

pub const SUBSCRIBERS: &[u8] = b"sub/";

pub fn subscriber(name: &str) -> Vec<u8> {
    with_str(SUBSCRIBERS, name)
}

pub fn stats(product: ProductId) -> Vec<u8> {
    with_id(b"st/", product.0)
}

pub const TOP_SELLERS: &[u8] = b"stu/";

/// Index entry ordering products by units sold, most first.
pub fn top_seller(units_sold: u64, product: ProductId) -> Vec<u8> {
    let mut k = with_id(TOP_SELLERS, u64::MAX - units_sold);
    k.extend_from_slice(&product.0.to_be_bytes());
    k
}

/// The first key after every key that starts with `prefix` (which must not end in 0xff).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last = last.saturating_add(1);
    }
    end
}

/// The id at the end of a `prefix`+id key.
pub fn id_of(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_numerically_and_parse_back() {
        assert!(product(ProductId(2)) < product(ProductId(10)));
        assert_eq!(id_of(&product(ProductId(258))), Some(258));
        let h = hold(ProductId(3), CartId(77));
        assert!(h.starts_with(&holds_of(ProductId(3))));
        assert_eq!(cart_of_hold(&h), Some(CartId(77)));
        assert_eq!(id_of(b"x"), None);
        let x = expiry(500, ProductId(3), CartId(4));
        assert_eq!(product_of_expiry(&x), Some(ProductId(3)));
        assert!(x < expiry_due_before(500));
        assert!(x >= expiry_due_before(499));
        assert_eq!(id_of(&user_order(UserId(1), OrderId(9))), Some(9));
        let rec = idempotency(UserId(1), "k1");
        let t = idempotency_by_time(77, &rec);
        assert_eq!(record_of_idempotency_time(&t), Some(rec.as_slice()));
        assert!(t < idempotency_by_time(78, &[]));
        assert!(top_seller(10, ProductId(1)) < top_seller(9, ProductId(0)));
        assert!(token(&[0xff; 32]) < prefix_end(SESSIONS));
        assert!(token(&[0; 32]) >= SESSIONS.to_vec());
        assert_eq!(id_of(&top_seller(10, ProductId(4))), Some(4));
    }

    #[test]
    fn a_user_range_holds_that_user_keys_only() {
        for id in [1, 255, 256, u64::MAX] {
            let (start, end) = user_range(USER_SESSIONS, UserId(id));
            let mine = user_session(UserId(id), &[0xff; 32]);
            assert!(start <= mine && mine < end, "user {id}");
            assert_eq!(token_hash_at_end(&mine), Some([0xff; 32]));
            if id < u64::MAX {
                assert!(user_session(UserId(id + 1), &[0; 32]) >= end);
            }
        }
        let (start, end) = user_range(OPEN_CARTS, UserId(3));
        assert!(
            start <= open_cart(UserId(3), CartId(u64::MAX))
                && open_cart(UserId(3), CartId(u64::MAX)) < end
        );
    }

    #[test]
    fn prefixes_do_not_overlap() {
        assert!(!username("x").starts_with(USERS));
        assert!(!product_name("x").starts_with(PRODUCTS));
    }
}

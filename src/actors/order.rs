//! Orders are written once, by the checkout of a cart, and never change, so they are read
//! straight from the store rather than through an actor.

use super::Error;
use crate::domain::{rfc3339, Order, OrderId, OrderLine, UserId};
use crate::storage::{keys, Store};
use serde::Serialize;

/// An order as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    pub id: OrderId,
    pub cart_id: crate::domain::CartId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub created_at: String,
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            cart_id: o.cart_id,
            user_id: o.user_id,
            lines: o.lines,
            total_cents: o.total_cents,
            created_at: rfc3339(o.created_at),
        }
    }
}

/// The order, if `user` may see it (its owner, or an admin).
pub fn get(store: &Store, id: OrderId, user: UserId, is_admin: bool) -> Result<Order, Error> {
    match store.get::<Order>(&keys::order(id))? {
        Some(o) if o.is_visible_to(user, is_admin) => Ok(o),
        _ => Err(Error::NotFound("order")),
    }
}

/// A page of the user's orders, oldest first: up to `limit` with ids above `after`, and the
/// id to continue after (if there are more).
pub fn list(
    store: &Store,
    user: UserId,
    after: u64,
    limit: usize,
) -> Result<(Vec<Order>, Option<OrderId>), Error> {
    let Some(first) = after.checked_add(1) else {
        return Ok((Vec::new(), None));
    };
    let prefix = keys::orders_of(user);
    let start = keys::user_order(user, OrderId(first));
    let mut ids = store.keys_between(&start, &keys::prefix_end(&prefix), limit + 1)?;
    let more = ids.len() > limit;
    ids.truncate(limit);
    // From the index, so a page ends where its scan did.
    let next = ids.last().filter(|_| more).and_then(|k| keys::id_of(k));
    let mut orders = Vec::with_capacity(ids.len());
    for key in ids {
        let Some(id) = keys::id_of(&key) else {
            continue;
        };
        if let Some(order) = store.get::<Order>(&keys::order(OrderId(id)))? {
            orders.push(order);
        }
    }
    Ok((orders, next.map(OrderId)))
}

//! Orders: what a checkout sold, at the prices of that moment. Immutable once written.

use super::{CartId, Millis, OrderId, ProductId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    /// The product's name at checkout.
    pub name: String,
    pub quantity: u64,
    /// The unit price at checkout; later price changes do not touch the order.
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub cart_id: CartId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub created_at: Millis,
}

impl Order {
    pub fn new(
        id: OrderId,
        cart_id: CartId,
        user_id: UserId,
        lines: Vec<OrderLine>,
        now: Millis,
    ) -> Self {
        let total_cents = total(lines.iter().map(|l| (l.quantity, l.unit_price_cents)));
        Self {
            id,
            cart_id,
            user_id,
            lines,
            total_cents,
            created_at: now,
        }
    }
}

impl Order {
    /// Owners see their orders and admins see every order; to anyone else it does not exist.
    pub fn is_visible_to(&self, user: UserId, is_admin: bool) -> bool {
        super::visible_to(self.user_id, user, is_admin)
    }
}

/// Σ quantity × unit price, saturating rather than overflowing on absurd inputs.
pub fn total(lines: impl IntoIterator<Item = (u64, i64)>) -> i64 {
    lines.into_iter().fold(0i64, |sum, (quantity, price)| {
        let quantity = i64::try_from(quantity).unwrap_or(i64::MAX);
        sum.saturating_add(price.saturating_mul(quantity))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_the_sum_of_quantity_times_price() {
        let line = |q, p| OrderLine {
            product_id: ProductId(1),
            name: "x".into(),
            quantity: q,
            unit_price_cents: p,
        };
        let o = Order::new(
            OrderId(1),
            CartId(2),
            UserId(3),
            vec![line(2, 250), line(1, 99)],
            0,
        );
        assert_eq!(o.total_cents, 599);
        assert_eq!(total([(u64::MAX, i64::MAX)]), i64::MAX);
    }

    #[test]
    fn an_order_is_visible_to_its_owner_and_admins_only() {
        let o = Order::new(OrderId(1), CartId(2), UserId(3), vec![], 0);
        assert!(o.is_visible_to(UserId(3), false));
        assert!(o.is_visible_to(UserId(4), true));
        assert!(!o.is_visible_to(UserId(4), false));
    }
}

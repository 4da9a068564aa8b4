//! A cart: its owner, status and lines. Changes return a new `Cart` so the actor can make the
//! change durable before it adopts it.

use super::{CartId, Millis, ProductId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    Open,
    CheckedOut,
    Abandoned,
}

/// One product in a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: ProductId,
    pub quantity: u64,
    /// Whether the inventory currently holds `quantity` units for this line.
    pub reserved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub id: CartId,
    pub user_id: UserId,
    pub status: CartStatus,
    /// In the order products were first added.
    pub lines: Vec<CartLine>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// The cart does not exist or belongs to someone else; the two are indistinguishable.
    #[error("cart not found")]
    NotFound,
    #[error("cart is {0:?} and can no longer change")]
    Closed(CartStatus),
    #[error("a cart line may hold at most {max} units")]
    LineTooLarge { max: u64 },
}

impl Cart {
    /// Upper bound of one line, far above any real order, so sums never overflow.
    pub const MAX_LINE_QUANTITY: u64 = 1_000_000;

    pub fn new(id: CartId, user_id: UserId, now: Millis) -> Self {
        Self {
            id,
            user_id,
            status: CartStatus::Open,
            lines: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Owners see their carts and admins see every cart; to anyone else it does not exist.
    pub fn ensure_visible_to(&self, user: UserId, is_admin: bool) -> Result<(), CartError> {
        if self.user_id == user || is_admin {
            Ok(())
        } else {
            Err(CartError::NotFound)
        }
    }

    /// Only the owner changes a cart, and only while it is open.
    pub fn ensure_changeable_by(&self, user: UserId) -> Result<(), CartError> {
        if self.user_id != user {
            return Err(CartError::NotFound);
        }
        match self.status {
            CartStatus::Open => Ok(()),
            closed => Err(CartError::Closed(closed)),
        }
    }

    pub fn line(&self, product: ProductId) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.product_id == product)
    }

    /// The line's quantity after adding `quantity`: the absolute hold to ask the inventory for.
    pub fn quantity_after_add(&self, product: ProductId, quantity: u64) -> Result<u64, CartError> {
        let total = self.line(product).map_or(0, |l| l.quantity) + quantity;
        if total > Self::MAX_LINE_QUANTITY {
            return Err(CartError::LineTooLarge {
                max: Self::MAX_LINE_QUANTITY,
            });
        }
        Ok(total)
    }

    /// The cart with the line of `product` set to `quantity`, reserved (0 removes the line).
    pub fn with_reserved_line(&self, product: ProductId, quantity: u64, now: Millis) -> Cart {
        let mut next = self.clone();
        next.updated_at = now;
        match next.lines.iter_mut().position(|l| l.product_id == product) {
            Some(i) if quantity == 0 => {
                next.lines.remove(i);
            }
            Some(i) => {
                next.lines[i].quantity = quantity;
                next.lines[i].reserved = true;
            }
            None if quantity == 0 => {}
            None => next.lines.push(CartLine {
                product_id: product,
                quantity,
                reserved: true,
            }),
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cart() -> Cart {
        Cart::new(CartId(7), UserId(1), 0)
    }

    #[test]
    fn only_the_owner_or_an_admin_sees_a_cart() {
        let c = cart();
        assert!(c.ensure_visible_to(UserId(1), false).is_ok());
        assert!(c.ensure_visible_to(UserId(2), true).is_ok());
        assert_eq!(
            c.ensure_visible_to(UserId(2), false),
            Err(CartError::NotFound)
        );
    }

    #[test]
    fn only_the_owner_changes_an_open_cart() {
        let mut c = cart();
        assert!(c.ensure_changeable_by(UserId(1)).is_ok());
        assert_eq!(c.ensure_changeable_by(UserId(2)), Err(CartError::NotFound));
        c.status = CartStatus::CheckedOut;
        assert_eq!(
            c.ensure_changeable_by(UserId(1)),
            Err(CartError::Closed(CartStatus::CheckedOut))
        );
    }

    #[test]
    fn adding_accumulates_on_the_existing_line() {
        let c = cart().with_reserved_line(ProductId(3), 2, 10);
        assert_eq!(c.quantity_after_add(ProductId(3), 5), Ok(7));
        assert_eq!(c.quantity_after_add(ProductId(4), 5), Ok(5));
        let c = c.with_reserved_line(ProductId(3), 7, 20);
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].quantity, 7);
        assert_eq!(c.updated_at, 20);
    }

    #[test]
    fn a_line_cannot_grow_past_its_maximum() {
        let c = cart().with_reserved_line(ProductId(3), Cart::MAX_LINE_QUANTITY, 0);
        assert!(matches!(
            c.quantity_after_add(ProductId(3), 1),
            Err(CartError::LineTooLarge { .. })
        ));
    }

    #[test]
    fn setting_a_line_to_zero_removes_it() {
        let c = cart()
            .with_reserved_line(ProductId(3), 2, 0)
            .with_reserved_line(ProductId(4), 1, 0)
            .with_reserved_line(ProductId(3), 0, 0);
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].product_id, ProductId(4));
    }
}

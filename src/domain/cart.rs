//! A cart: its owner, status and lines. Changes return a new `Cart` so the actor can make the
//! change durable before it adopts it.
//!
//! Whether a line is reserved is not stored here: the inventory's hold for (product, cart) is
//! the one record of that, so an expired hold cannot disagree with a flag on the line.

use super::{CartId, Millis, OrderId, ProductId, UserId};
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub id: CartId,
    pub user_id: UserId,
    pub status: CartStatus,
    /// In the order products were first added.
    pub lines: Vec<CartLine>,
    /// Set once a checkout has begun (and kept after it completed): the order it creates.
    /// A cart found with a checkout begun but not finished is finished on recovery.
    pub checkout: Option<OrderId>,
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
    #[error("the cart is empty")]
    Empty,
    #[error("the product is not in the cart")]
    NotInCart,
    /// A checkout into this order has begun and not finished: the cart must not change under
    /// it, and only finishing that same checkout moves it on.
    #[error("a checkout into order {0} is in progress")]
    CheckoutInProgress(OrderId),
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
            checkout: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Owners see their carts and admins see every cart; to anyone else it does not exist.
    pub fn ensure_visible_to(&self, user: UserId, is_admin: bool) -> Result<(), CartError> {
        if super::visible_to(self.user_id, user, is_admin) {
            Ok(())
        } else {
            Err(CartError::NotFound)
        }
    }

    /// Only the owner changes a cart, and only while it is open and no checkout is under way.
    pub fn ensure_changeable_by(&self, user: UserId) -> Result<(), CartError> {
        if let Some(order) = self.pending_checkout_for(user)? {
            return Err(CartError::CheckoutInProgress(order));
        }
        Ok(())
    }

    /// For the owner of an open cart: the order of a checkout begun and not finished, which a
    /// checkout request must resume rather than begin anew.
    pub fn pending_checkout_for(&self, user: UserId) -> Result<Option<OrderId>, CartError> {
        if self.user_id != user {
            return Err(CartError::NotFound);
        }
        match self.status {
            CartStatus::Open => Ok(self.checkout_pending()),
            closed => Err(CartError::Closed(closed)),
        }
    }

    pub fn line(&self, product: ProductId) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.product_id == product)
    }

    /// Removing a line needs the line to be there.
    pub fn ensure_has_line(&self, product: ProductId) -> Result<(), CartError> {
        self.line(product).map(drop).ok_or(CartError::NotInCart)
    }

    pub fn quantity_of(&self, product: ProductId) -> u64 {
        self.line(product).map_or(0, |l| l.quantity)
    }

    /// The line's quantity after adding `quantity`: the absolute hold to ask the inventory for.
    pub fn quantity_after_add(&self, product: ProductId, quantity: u64) -> Result<u64, CartError> {
        let total = self.quantity_of(product) + quantity;
        if total > Self::MAX_LINE_QUANTITY {
            return Err(CartError::LineTooLarge {
                max: Self::MAX_LINE_QUANTITY,
            });
        }
        Ok(total)
    }

    /// The cart with the line of `product` set to `quantity` (0 removes the line).
    pub fn with_line(&self, product: ProductId, quantity: u64, now: Millis) -> Cart {
        let mut next = self.clone();
        next.updated_at = now;
        match next.lines.iter().position(|l| l.product_id == product) {
            Some(i) if quantity == 0 => {
                next.lines.remove(i);
            }
            Some(i) => next.lines[i].quantity = quantity,
            None if quantity == 0 => {}
            None => next.lines.push(CartLine {
                product_id: product,
                quantity,
            }),
        }
        next
    }

    /// The cart with a checkout into `order` begun.
    pub fn begin_checkout(&self, order: OrderId, now: Millis) -> Result<Cart, CartError> {
        if self.lines.is_empty() {
            return Err(CartError::Empty);
        }
        let mut next = self.clone();
        next.checkout = Some(order);
        next.updated_at = now;
        Ok(next)
    }

    /// The cart back to plain open after a checkout that could not secure its stock.
    pub fn abort_checkout(&self, now: Millis) -> Cart {
        let mut next = self.clone();
        next.checkout = None;
        next.updated_at = now;
        next
    }

    /// The cart closed with `status` (checked out or abandoned).
    pub fn closed(&self, status: CartStatus, now: Millis) -> Cart {
        let mut next = self.clone();
        next.status = status;
        next.updated_at = now;
        next
    }

    /// Whether a checkout has begun and not yet finished.
    pub fn checkout_pending(&self) -> Option<OrderId> {
        self.checkout.filter(|_| self.status == CartStatus::Open)
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
        let c = cart();
        assert!(c.ensure_changeable_by(UserId(1)).is_ok());
        assert_eq!(c.ensure_changeable_by(UserId(2)), Err(CartError::NotFound));
        let closed = c.closed(CartStatus::CheckedOut, 1);
        assert_eq!(
            closed.ensure_changeable_by(UserId(1)),
            Err(CartError::Closed(CartStatus::CheckedOut))
        );
    }

    #[test]
    fn adding_accumulates_on_the_existing_line() {
        let c = cart().with_line(ProductId(3), 2, 10);
        assert_eq!(c.quantity_after_add(ProductId(3), 5), Ok(7));
        assert_eq!(c.quantity_after_add(ProductId(4), 5), Ok(5));
        let c = c.with_line(ProductId(3), 7, 20);
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].quantity, 7);
        assert_eq!(c.updated_at, 20);
    }

    #[test]
    fn only_a_line_that_is_there_can_be_removed() {
        let c = cart().with_line(ProductId(3), 1, 0);
        assert!(c.ensure_has_line(ProductId(3)).is_ok());
        assert_eq!(c.ensure_has_line(ProductId(4)), Err(CartError::NotInCart));
    }

    #[test]
    fn a_line_cannot_grow_past_its_maximum() {
        let c = cart().with_line(ProductId(3), Cart::MAX_LINE_QUANTITY, 0);
        assert!(matches!(
            c.quantity_after_add(ProductId(3), 1),
            Err(CartError::LineTooLarge { .. })
        ));
    }

    #[test]
    fn setting_a_line_to_zero_removes_it() {
        let c = cart()
            .with_line(ProductId(3), 2, 0)
            .with_line(ProductId(4), 1, 0)
            .with_line(ProductId(3), 0, 0);
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].product_id, ProductId(4));
    }

    #[test]
    fn an_empty_cart_cannot_begin_a_checkout() {
        assert_eq!(cart().begin_checkout(OrderId(1), 0), Err(CartError::Empty));
        let c = cart().with_line(ProductId(3), 1, 0);
        let begun = c.begin_checkout(OrderId(9), 1).unwrap();
        assert_eq!(begun.checkout_pending(), Some(OrderId(9)));
        // Under way, the cart refuses changes and a checkout request resumes the same order.
        assert_eq!(
            begun.ensure_changeable_by(UserId(1)),
            Err(CartError::CheckoutInProgress(OrderId(9)))
        );
        assert_eq!(begun.pending_checkout_for(UserId(1)), Ok(Some(OrderId(9))));
        assert_eq!(
            begun.pending_checkout_for(UserId(2)),
            Err(CartError::NotFound)
        );
        assert_eq!(c.pending_checkout_for(UserId(1)), Ok(None));
        assert_eq!(begun.abort_checkout(2).checkout_pending(), None);
        let done = begun.closed(CartStatus::CheckedOut, 3);
        assert_eq!(done.checkout_pending(), None);
        assert_eq!(done.checkout, Some(OrderId(9)));
    }
}

/// Whether `caller` may open a cart for the user a request names (`None`: nobody named, which
/// means the caller). A cart is only ever opened for oneself, admins included, so nobody can
/// hold stock in another user's name.
pub fn may_open_cart_for(caller: UserId, named: Option<UserId>) -> bool {
    named.is_none_or(|user| user == caller)
}

/// The line quantity a "set the line" request asks for: 0 removes the line (as
/// [`Cart::with_line`] does with 0); anything else must be a valid [`super::Quantity`].
pub fn quantity_to_set(requested: i64) -> Result<u64, super::ValidationError> {
    use super::Quantity;
    match requested {
        0 => Ok(0),
        q => Quantity::new(q).map(Quantity::get),
    }
}

#[cfg(test)]
mod request_rules {
    use super::{may_open_cart_for, quantity_to_set};
    use crate::domain::{Quantity, UserId};

    #[test]
    fn a_cart_is_opened_only_for_the_caller() {
        assert!(may_open_cart_for(UserId(1), None));
        assert!(may_open_cart_for(UserId(1), Some(UserId(1))));
        assert!(!may_open_cart_for(UserId(1), Some(UserId(2))));
    }

    #[test]
    fn setting_a_line_to_zero_asks_for_its_removal_and_other_quantities_are_validated() {
        assert_eq!(quantity_to_set(0), Ok(0));
        assert_eq!(quantity_to_set(3), Ok(3));
        let max = i64::from(Quantity::MAX);
        assert_eq!(quantity_to_set(max), Ok(max as u64));
        assert!(quantity_to_set(-1).is_err());
        assert!(quantity_to_set(max + 1).is_err());
    }
}

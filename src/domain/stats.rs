//! Sales figures per product, as the sales projection derives them from events.

use super::{Event, ProductId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductStats {
    /// Units sold (Σ `StockCommitted.quantity`).
    pub units_sold: u64,
    /// Orders the product was part of.
    pub orders: u64,
    /// Times it was added to a cart (`ProductAdded` events).
    pub cart_adds: u64,
    /// Units added to carts (Σ `ProductAdded.quantity`).
    pub units_added: u64,
}

impl ProductStats {
    /// What `event` changes for `product`, if anything.
    pub fn apply(&mut self, event: &Event) {
        match *event {
            Event::StockCommitted { quantity, .. } => {
                self.units_sold += quantity;
                self.orders += 1;
            }
            Event::ProductAdded { quantity, .. } => {
                self.cart_adds += 1;
                self.units_added += quantity;
            }
            _ => {}
        }
    }
}

/// The product an event counts for, if it is one the sales projection follows.
pub fn counted_product(event: &Event) -> Option<ProductId> {
    match *event {
        Event::StockCommitted { product_id, .. } | Event::ProductAdded { product_id, .. } => {
            Some(product_id)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CartId, OrderId};

    #[test]
    fn sales_and_adds_are_counted_per_product() {
        let mut s = ProductStats::default();
        s.apply(&Event::ProductAdded {
            cart_id: CartId(1),
            product_id: ProductId(2),
            quantity: 3,
            line_quantity: 3,
        });
        s.apply(&Event::StockCommitted {
            product_id: ProductId(2),
            cart_id: CartId(1),
            order_id: OrderId(9),
            quantity: 3,
        });
        s.apply(&Event::CartAbandoned { cart_id: CartId(1) });
        assert_eq!(
            s,
            ProductStats {
                units_sold: 3,
                orders: 1,
                cart_adds: 1,
                units_added: 3
            }
        );
    }
}

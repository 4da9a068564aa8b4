//! Pure types and rules: no I/O, no async. Actors load state, ask these types what to do,
//! persist the result and reply.

pub mod cart;
pub mod event;
pub mod holds;
pub mod inventory;
pub mod order;
pub mod stats;
pub mod user;
pub mod values;

pub use cart::{Cart, CartError, CartLine, CartStatus};
pub use event::Event;
pub use holds::HoldPolicy;
pub use inventory::{Hold, HoldMismatch, Inventory, Product, StockRejected};
pub use order::{Order, OrderLine};
pub use user::{Session, User};
pub use values::{
    CartId, OrderId, Password, PriceCents, ProductId, ProductName, Quantity, Stock, UserId,
    Username, ValidationError,
};

/// Milliseconds since the Unix epoch: the one time representation stored on disk.
pub type Millis = u64;

/// Who may see a user's cart or order: its owner, and admins. To anyone else it does not
/// exist (404, not 403, so ids cannot be probed).
pub fn visible_to(owner: UserId, user: UserId, is_admin: bool) -> bool {
    owner == user || is_admin
}

/// Formats stored milliseconds as the contract's RFC 3339 UTC timestamp.
pub fn rfc3339(at: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(1_795_996_800_000), "2026-11-30T00:00:00Z");
    }
}

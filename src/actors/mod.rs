//! The supervised actor system.
//!
//! ```text
//! Supervisor (root)
//! ├── Directory<UserActor>       ── UserActor(id)       one per active user
//! ├── Directory<InventoryActor>  ── InventoryActor(id)  one per active product
//! ├── Directory<CartActor>       ── CartActor(id)       one per active cart
//! └── Subscriber<SalesStats>        follows the event log into the sales projection
//! ```
//!
//! Beside the tree, the maintenance jobs (hold expiry, purges, log retention; [`reaper`]) run
//! on tasks of their own, each with its own restart policy ([`jobs`]).
//!
//! A directory spawns the actor of an id on its first message, loading its state from the
//! store in `pre_start`, and restarts a failed one from that stored state. Callers reach actors
//! through a [`Handle`], which looks the actor up without a hop through the directory and
//! bounds every call with a timeout.

pub mod bus;
pub mod cart;
pub mod catalog;
pub mod deadline;
pub mod directory;
pub mod entity;
pub mod follow;
pub mod handle;
pub mod inventory;
pub mod jobs;
pub mod order;
pub mod passwords;
pub mod quotas;
pub mod reaper;
pub mod restarts;
pub mod service;
pub mod sessions;
pub mod stats;
pub mod stock_feed;
pub mod supervisor;
pub mod user;

pub use cart::{CartActor, CartMsg, CartView};
pub use deadline::Deadline;
pub use entity::{Entity, Spawn};
pub use handle::Handle;
pub use inventory::{InventoryActor, InventoryMsg, ProductView};
pub use supervisor::Actors;
pub use user::{UserActor, UserMsg};

use crate::domain::{CartStatus, ProductId, ValidationError};
use crate::storage::StorageError;

/// Everything a request can end in short of success; `http::error` maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("missing, invalid or expired token")]
    Unauthorized,
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    #[error("not allowed")]
    Forbidden,
    /// Names what was not found ("cart", "product", …).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("username is taken")]
    UsernameTaken,
    #[error("product name is taken")]
    ProductNameTaken,
    #[error("not enough stock of product {product_id}: {available} available")]
    InsufficientStock {
        product_id: ProductId,
        available: u64,
    },
    #[error("cart is {0:?}")]
    CartClosed(CartStatus),
    #[error("the cart is empty")]
    CartEmpty,
    /// The user has as many open carts as the quota allows.
    #[error("you have {limit} open carts, the most allowed; check out or abandon one first")]
    TooManyOpenCarts { limit: u32 },
    /// Another attempt of the same `Idempotency-Key` got its work into the store first.
    #[error("another request with this Idempotency-Key did the work")]
    KeyInUse,
    /// The cart's checkout into this order has begun and not finished.
    #[error("a checkout into order {0} is in progress")]
    CheckoutInProgress(crate::domain::OrderId),
    /// Refused at once because a bounded queue is full (e.g. password hashing); retry soon.
    #[error("{0} is overloaded")]
    Overloaded(&'static str),
    /// An actor or the store did not answer in time, or is down.
    #[error("{0} unavailable")]
    Unavailable(String),
    /// Something that must never happen did (a bug, or a record changed behind our back):
    /// answered 500 and logged at `error`, never retried as if it were a passing outage.
    #[error("broken invariant: {0}")]
    Invariant(String),
    /// The disk is full: nothing more can be made durable until space is freed.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    /// The disk failed (an I/O error): the store cannot answer, perhaps until a restart.
    #[error("storage I/O failed: {0}")]
    StorageFailed(String),
    /// Any other storage failure (a corrupt or unreadable record, …).
    /// A reader asked for events that were trimmed from the log.
    #[error("events before {oldest} were trimmed from the log")]
    EventsTrimmed { oldest: u64 },
    /// A reader asked for events after a position the log has not reached (made up, or
    /// from before a restore); `head` is the log's last sequence number.
    #[error("that position is past the log head {head}")]
    PositionAheadOfLog { head: u64 },
    /// A trim would remove events a subscriber has not handled yet.
    #[error("a subscriber still needs those events")]
    EventsStillNeeded { max_before: u64 },
    /// A backup cannot be made where asked (or backups are not set up).
    #[error("{0}")]
    BackupRefused(String),
    #[error(transparent)]
    Storage(StorageError),
}

impl Error {
    /// Whether a change that failed this way may still have been stored (a wait ran out, the
    /// disk failed): its owner must reload from the store rather than trust its memory.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Error::Unavailable(_)
                | Error::DiskFull(_)
                | Error::StorageFailed(_)
                | Error::Storage(_)
        )
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::WriterGone | StorageError::TimedOut(_) => {
                Error::Unavailable("store".into())
            }
            StorageError::Trimmed { oldest } => Error::EventsTrimmed { oldest },
            StorageError::AheadOfLog { head } => Error::PositionAheadOfLog { head },
            StorageError::BackupRefused(why) => Error::BackupRefused(why),
            StorageError::StillNeeded { max_before, .. } => Error::EventsStillNeeded { max_before },
            StorageError::Conflict(key)
                if key.starts_with(crate::storage::keys::IDEMPOTENCY_APPLIED) =>
            {
                Error::KeyInUse
            }
            StorageError::DiskFull(reason) => Error::DiskFull(reason),
            StorageError::Io(reason) => Error::StorageFailed(reason),
            other => Error::Storage(other),
        }
    }
}

impl From<crate::idempotency::Error> for Error {
    fn from(e: crate::idempotency::Error) -> Self {
        e.0.into()
    }
}

impl From<crate::domain::CartError> for Error {
    fn from(e: crate::domain::CartError) -> Self {
        use crate::domain::CartError;
        match e {
            CartError::NotFound => Error::NotFound("cart"),
            CartError::Closed(status) => Error::CartClosed(status),
            CartError::LineTooLarge { max } => Error::Invalid(ValidationError::new(
                "quantity",
                format!("a cart line may hold at most {max} units"),
            )),
            CartError::Empty => Error::CartEmpty,
            CartError::NotInCart => Error::NotFound("cart line"),
            CartError::CheckoutInProgress(order) => Error::CheckoutInProgress(order),
        }
    }
}

/// Marker returned from `pre_start` when the id has no stored record, so the directory can
/// answer "not found" instead of treating it as a failure.
#[derive(Debug, thiserror::Error)]
#[error("no such entity")]
pub struct Missing;

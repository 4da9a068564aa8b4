//! `Idempotency-Key` persistence, below the gateway: the recorded first answer of each key,
//! the marks a key's work leaves in its own unit, and the sweep of records past their
//! retention. The gateway (`http::idempotency`) decides *when* to read and record; the reaper
//! sweeps; neither touches the store's layout for it.
//!
//! Records live under `ik/{user}{key}` with the request's [`Fingerprint`] and the answer, and
//! are kept at least [`RETENTION`] (the reaper purges older ones through the `ikt/` time
//! index). A key's [`Mark`] (see [`crate::storage::idempotency`]) goes into the very unit that
//! does the work, so a retry whose answer was lost can tell the work is done.

mod persistence;

pub use crate::storage::idempotency::{Applied, Mark};
pub use persistence::{fingerprint, Fingerprint, Record, Records, RETENTION};

/// What reading, recording or sweeping answers can fail with: the store's failure, passed up
/// for the layers above (the actors' reaper, the gateway) to map as they map any other. This
/// module sits below both, so it names neither's error type.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] pub crate::storage::StorageError);

//! Online maintenance, as the admin routes (`/admin/…`, `GET /events`) ask for it: trimming
//! and reading the event log with retention in mind, and backups. The gateway calls these
//! functions and only translates; the work happens in [`crate::storage`].

use crate::actors::{Actors, Error};
use crate::domain::event::EventRecord;
use crate::storage::retention::{self, Trimmed};

/// Up to `limit` events after `after`. With no position, from the oldest event still in the
/// log; with one, `EventsTrimmed` if events after it were trimmed, so a reader resuming
/// there learns that it missed some instead of skipping them unknowingly.
pub fn events_after(
    actors: &Actors,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<EventRecord>, Error> {
    let store = &actors.store;
    Ok(match after {
        Some(after) => retention::read_after(store, after, limit)?,
        None => store.events_after(0, limit)?,
    })
}

/// Where a stream starting after `after` may begin: `EventsTrimmed` if events after it are
/// gone (the stream's status is sent before any event, so this is asked up front).
pub fn check_position(actors: &Actors, after: u64) -> Result<(), Error> {
    retention::read_after(&actors.store, after, 1)?;
    Ok(())
}

/// Trims the log while serving: below `before` if given (refused with `EventsStillNeeded` if
/// a subscriber has not handled those events), else as far as the configured retention
/// (`--events-retain`, `--events-retain-count`) allows.
pub async fn trim_events(actors: &Actors, before: Option<u64>) -> Result<Trimmed, Error> {
    let store = &actors.store;
    Ok(match before {
        Some(before) => retention::trim(store, before).await?,
        None => retention::apply(store, &actors.settings.retention, store.now()).await?,
    })
}

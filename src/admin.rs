//! Offline commands, run on a data dir while the server is stopped (sled allows one process
//! per data dir; a running server makes these fail with a clear message): trimming the event
//! log, creating users and granting admin rights. (A running server trims its log itself: see
//! [`crate::storage::retention`].)

use crate::actors::user;
use crate::domain::{Password, User, Username};
use crate::storage::{keys, retention, StorageError, Store};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot open {dir}: {source} (is the server running on it?)")]
    Open { dir: String, source: StorageError },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Failed(#[from] crate::actors::Error),
}

fn open(dir: &Path) -> Result<Store, AdminError> {
    Store::open(dir, 64 << 20).map_err(|source| AdminError::Open {
        dir: dir.display().to_string(),
        source,
    })
}

/// Deletes events with sequence numbers below `before`, refusing to remove any event a
/// subscriber has not handled yet (the same rule as the online `POST /admin/events/trim`).
/// Returns how many were removed.
pub async fn trim_events(dir: &Path, before: u64) -> Result<u64, AdminError> {
    let store = open(dir)?;
    let result = retention::trim(&store, before).await;
    store.close().await?;
    Ok(result?.removed)
}

/// Creates a user on a stopped data dir (optionally an admin). Returns its id.
pub async fn create_user(
    dir: &Path,
    username: &str,
    password: String,
    is_admin: bool,
) -> Result<crate::domain::UserId, AdminError> {
    let username = Username::parse(username).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let password = Password::parse(password).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let store = open(dir)?;
    let hasher = crate::actors::passwords::Hasher::default();
    let result = user::register(&store, &hasher, username, &password, is_admin).await;
    store.close().await?;
    match result {
        Ok(u) => Ok(u.id),
        Err(crate::actors::Error::UsernameTaken) => Err(AdminError::Invalid(
            "that username is taken (use `trolley user set-admin` to promote it)".into(),
        )),
        Err(e) => Err(AdminError::Invalid(e.to_string())),
    }
}

/// Grants admin rights to an existing user on a stopped data dir. Takes effect at the user's
/// next login.
pub async fn set_admin(dir: &Path, username: &str) -> Result<(), AdminError> {
    let name = Username::parse(username).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let store = open(dir)?;
    let result = async {
        let id = user::user_id_by_name(&store, &name)
            .map_err(|e| AdminError::Invalid(e.to_string()))?
            .ok_or_else(|| AdminError::Invalid(format!("no user named {username}")))?;
        let record: User = store
            .get(&keys::user(id))?
            .ok_or_else(|| AdminError::Invalid(format!("no user named {username}")))?;
        user::grant_admin(&store, &record).await?;
        Ok(())
    }
    .await;
    store.close().await?;
    result
}

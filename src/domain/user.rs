//! Users and their login sessions.

use super::{Millis, UserId, Username};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    /// argon2id hash in PHC string format; the password itself is never stored.
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: Millis,
}

/// What a bearer token stands for. Stored under the token's hash, so a copy of the database
/// does not hand out working tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: UserId,
    /// Copied from the user at login: admin rights granted later apply from the next login.
    pub is_admin: bool,
    pub expires_at: Millis,
}

impl Session {
    pub fn is_expired(&self, now: Millis) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_at_its_deadline() {
        let s = Session {
            user_id: UserId(1),
            is_admin: false,
            expires_at: 100,
        };
        assert!(!s.is_expired(99));
        assert!(s.is_expired(100));
    }
}

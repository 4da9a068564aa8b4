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

impl User {
    /// The user with admin rights. Sessions opened before keep the rights they were opened
    /// with (see [`Session::is_admin`]): the grant applies from the next login.
    pub fn made_admin(&self) -> Self {
        Self {
            is_admin: true,
            ..self.clone()
        }
    }
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

    #[test]
    fn making_a_user_admin_keeps_everything_else() {
        let u = User {
            id: crate::domain::UserId(1),
            username: crate::domain::Username::parse("ann").unwrap(),
            password_hash: "h".into(),
            is_admin: false,
            created_at: 5,
        };
        let admin = u.made_admin();
        assert!(admin.is_admin);
        assert_eq!(
            User {
                is_admin: false,
                ..admin
            },
            u
        );
    }
}

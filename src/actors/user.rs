//! Users: registration, login sessions (at most `--max-sessions` each: a login past it revokes
//! the oldest), opening carts within the open-cart quota, and the `UserActor` that owns one
//! user's record and serialises what those quotas count.

use super::passwords::Hasher;
use super::quotas::Quotas;
use super::sessions::{self, SessionCache, TokenHash};
use super::{Entity, Error};
use crate::domain::{Millis, Password, Session, User, UserId, Username};
use crate::storage::{codec, keys, StorageError, Store, Unit};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::{Blake2s256, Digest};
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use std::time::Duration;

pub(crate) fn token_hash(token: &str) -> TokenHash {
    Blake2s256::digest(token.as_bytes()).into()
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOk {
    /// The bearer token; only its hash is stored.
    pub token: String,
    pub user_id: UserId,
    pub expires_at: Millis,
}

/// Creates a user; the username index claim makes a concurrent duplicate fail.
pub async fn register(
    store: &Store,
    hasher: &Hasher,
    username: Username,
    password: &Password,
    is_admin: bool,
) -> Result<User, Error> {
    let password_hash = hasher.hash(password).await?;
    let user = User {
        id: UserId(store.next_id()?),
        username,
        password_hash,
        is_admin,
        created_at: store.now(),
    };
    let unit = Unit::default()
        .claim(
            keys::username(&user.username.canonical()),
            codec::encode(&user.id),
        )
        .put(keys::user(user.id), codec::encode(&user))
        .event(crate::domain::Event::UserRegistered {
            user_id: user.id,
            username: user.username.as_str().to_owned(),
        });
    match store.write(unit).await {
        Ok(_) => Ok(user),
        Err(StorageError::Conflict(_)) => Err(Error::UsernameTaken),
        Err(e) => Err(e.into()),
    }
}

pub fn user_id_by_name(store: &Store, username: &Username) -> Result<Option<UserId>, Error> {
    Ok(store.get(&keys::username(&username.canonical()))?)
}

/// Logs in; unknown users and wrong passwords are indistinguishable, in answer and in time.
pub async fn login(
    users: &super::Handle<UserActor>,
    store: &Store,
    hasher: &Hasher,
    username: &str,
    password: String,
) -> Result<LoginOk, Error> {
    let known = match Username::parse(username) {
        Ok(name) => user_id_by_name(store, &name)?,
        Err(_) => None,
    };
    match known {
        Some(id) => {
            users
                .call(id.0, |reply| UserMsg::Login { password, reply })
                .await?
        }
        None => {
            hasher.verify(password, hasher.dummy_hash().await?).await?;
            Err(Error::InvalidCredentials)
        }
    }
}

/// The session a bearer token (by its hash) stands for, if it exists and has not expired.
pub fn authenticate(store: &Store, token: &TokenHash) -> Result<Session, Error> {
    match store.get::<Session>(&keys::token(token))? {
        Some(s) if !s.is_expired(store.now()) => Ok(s),
        _ => Err(Error::Unauthorized),
    }
}

/// Removes the session of `token` (by its hash) and its entry in the user's index.
pub async fn logout(store: &Store, token: &TokenHash) -> Result<(), Error> {
    let mut unit = Unit::default().remove(keys::token(token));
    if let Some(session) = store.get::<Session>(&keys::token(token))? {
        unit = unit.remove(keys::user_session(session.user_id, token));
    }
    store.write(unit).await?;
    Ok(())
}

/// Stores `user` with admin rights and returns the new record. Callers decide who may ask:
/// the running app checks the configured password, the offline command trusts the operator.
pub async fn grant_admin(store: &Store, user: &User) -> Result<User, Error> {
    let next = user.made_admin();
    store
        .write(Unit::default().put(keys::user(next.id), codec::encode(&next)))
        .await?;
    Ok(next)
}

/// Makes sure the configured admin exists: created if missing; an existing user of that name
/// becomes admin only if the password matches.
pub async fn ensure_admin(
    users: &super::Handle<UserActor>,
    store: &Store,
    hasher: &Hasher,
    username: Username,
    password: Password,
) -> Result<(), Error> {
    if let Some(id) = user_id_by_name(store, &username)? {
        let pw = password.expose().to_owned();
        return users
            .call(id.0, |reply| UserMsg::MakeAdmin {
                password: pw,
                reply,
            })
            .await?;
    }
    match register(store, hasher, username.clone(), &password, true).await {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "created admin user");
            Ok(())
        }
        // Registered by someone else in the meantime: retry as an existing user.
        Err(Error::UsernameTaken) => {
            Box::pin(ensure_admin(users, store, hasher, username, password)).await
        }
        Err(e) => Err(e),
    }
}

/// Owns one user's record, and serialises what the user's quotas count (logins, new carts).
#[derive(Clone)]
pub struct UserActor {
    store: Store,
    token_ttl: Duration,
    /// The per-account bounds.
    quotas: Quotas,
    /// Where sessions a login revokes past the quota are forgotten.
    sessions: SessionCache,
    /// This app's password hashing.
    hasher: Hasher,
}

impl UserActor {
    pub fn new(
        store: Store,
        token_ttl: Duration,
        quotas: Quotas,
        sessions: SessionCache,
        hasher: Hasher,
    ) -> Self {
        Self {
            store,
            token_ttl,
            quotas,
            sessions,
            hasher,
        }
    }
}

pub enum UserMsg {
    Get {
        reply: RpcReplyPort<User>,
    },
    /// Checks the password and, if it matches, opens a session.
    Login {
        password: String,
        reply: RpcReplyPort<Result<LoginOk, Error>>,
    },
    /// Opens a cart for this user if the open-cart quota allows, with an `Idempotency-Key`'s
    /// mark if given. Here, so that one user's creations are counted one at a time.
    CreateCart {
        mark: Option<crate::idempotency::Mark>,
        reply: RpcReplyPort<Result<super::CartView, Error>>,
    },
    /// Grants admin rights if `password` is this user's password.
    MakeAdmin {
        password: String,
        reply: RpcReplyPort<Result<(), Error>>,
    },
}

impl UserActor {
    async fn login(&self, user: &User, password: String) -> Result<LoginOk, Error> {
        if !self
            .hasher
            .verify(password, user.password_hash.clone())
            .await?
        {
            return Err(Error::InvalidCredentials);
        }
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let expires_at = self.store.now() + self.token_ttl.as_millis() as u64;
        let session = Session {
            user_id: user.id,
            is_admin: user.is_admin,
            expires_at,
        };
        let hash = token_hash(&token);
        let unit = Unit::default().put(keys::token(&hash), codec::encode(&session));
        let max = self.quotas.sessions_per_user;
        let (unit, revoked) = sessions::admit(&self.store, user.id, &hash, expires_at, max, unit)?;
        self.store.write(unit).await?;
        for hash in &revoked {
            self.sessions.revoke(hash);
        }
        Ok(LoginOk {
            token,
            user_id: user.id,
            expires_at,
        })
    }

    async fn create_cart(
        &self,
        user: &User,
        mark: Option<crate::idempotency::Mark>,
    ) -> Result<super::CartView, Error> {
        let limit = self.quotas.open_carts_per_user;
        if super::cart::open_carts_of(&self.store, user.id, limit as usize)? >= limit as usize {
            return Err(Error::TooManyOpenCarts { limit });
        }
        super::cart::create_marked(&self.store, user.id, mark).await
    }

    async fn make_admin(&self, user: &mut User, password: String) -> Result<(), Error> {
        if user.is_admin {
            return Ok(());
        }
        if !self
            .hasher
            .verify(password, user.password_hash.clone())
            .await?
        {
            tracing::warn!(user_id = %user.id, "configured admin password does not match the existing user; not granting admin");
            return Err(Error::InvalidCredentials);
        }
        *user = grant_admin(&self.store, user).await?;
        Ok(())
    }
}

impl Entity for UserActor {
    const KIND: &'static str = "user";

    type Msg = UserMsg;
    type State = User;

    fn store(&self) -> &Store {
        &self.store
    }

    async fn load(&self, id: u64) -> Result<Option<User>, Error> {
        Ok(self.store.get::<User>(&keys::user(UserId(id)))?)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        user: &mut User,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            UserMsg::Get { reply } => {
                let _ = reply.send(user.clone());
            }
            // Boxed: an idle actor's task keeps room for its largest pending future.
            UserMsg::Login { password, reply } => {
                let _ = reply.send(Box::pin(self.login(user, password)).await);
            }
            UserMsg::CreateCart { mark, reply } => {
                let _ = reply.send(Box::pin(self.create_cart(user, mark)).await);
            }
            UserMsg::MakeAdmin { password, reply } => {
                let _ = reply.send(Box::pin(self.make_admin(user, password)).await);
            }
        }
        Ok(())
    }
}

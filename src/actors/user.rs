//! Users: registration, login sessions and the `UserActor` that owns one user's record.

use super::quotas::Quotas;
use super::sessions::{self, SessionCache, TokenHash};
use super::{Entity, Error};
use crate::domain::{Millis, Password, Session, User, UserId, Username};
use crate::storage::{codec, keys, StorageError, Store, Unit};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use blake2::{Blake2s256, Digest};
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Hashes running at once. Each takes 19 MiB and a core for tens of milliseconds; more in
/// parallel than the machine has cores only adds memory and latency.
static HASH_PERMITS: Semaphore = Semaphore::const_new(4);
/// Hashes running or waiting at most. Beyond it a request is refused at once (503 with
/// `Retry-After`) instead of queueing behind work that would outlast its call timeout.
const HASH_QUEUE: usize = 32;
static HASH_QUEUED: AtomicUsize = AtomicUsize::new(0);

/// A place in the hashing queue, given back on drop.
struct Queued;

impl Queued {
    fn take() -> Option<Self> {
        HASH_QUEUED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < HASH_QUEUE).then_some(n + 1)
            })
            .ok()
            .map(|_| Queued)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        HASH_QUEUED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// argon2id with the OWASP minimum: 19 MiB, 2 iterations, parallelism 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Runs CPU-heavy hashing on the blocking pool, never on the async worker threads.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let _queued = Queued::take().ok_or(Error::Overloaded("password hashing"))?;
    let _permit = HASH_PERMITS
        .acquire()
        .await
        .map_err(|_| Error::Unavailable("password hashing".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::Unavailable("password hashing".into()))
}

pub async fn hash_password(password: &Password) -> Result<String, Error> {
    let password = password.expose().to_owned();
    off_thread(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|e| Error::Unavailable(format!("password hashing: {e}")))
}

pub async fn verify_password(password: String, hash: String) -> Result<bool, Error> {
    off_thread(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
}

/// A hash to verify against when the username is unknown, so that answer takes as long as a
/// wrong password does.
async fn dummy_hash() -> Result<String, Error> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h.clone());
    }
    let pw = Password::parse("not-a-real-password".into())?;
    let h = hash_password(&pw).await?;
    Ok(DUMMY.get_or_init(|| h).clone())
}

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
    username: Username,
    password: &Password,
    is_admin: bool,
) -> Result<User, Error> {
    let password_hash = hash_password(password).await?;
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
            verify_password(password, dummy_hash().await?).await?;
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
    match register(store, username.clone(), &password, true).await {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "created admin user");
            Ok(())
        }
        // Registered by someone else in the meantime: retry as an existing user.
        Err(Error::UsernameTaken) => Box::pin(ensure_admin(users, store, username, password)).await,
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
}

impl UserActor {
    pub fn new(store: Store, token_ttl: Duration, quotas: Quotas, sessions: SessionCache) -> Self {
        Self {
            store,
            token_ttl,
            quotas,
            sessions,
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
        if !verify_password(password, user.password_hash.clone()).await? {
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
        if !verify_password(password, user.password_hash.clone()).await? {
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

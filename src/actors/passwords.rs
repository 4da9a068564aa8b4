//! Password hashing (argon2id), bounded per app: each [`Hasher`] has its own permits and its
//! own queue, so two apps in one process (the tests, an embedding program) never share a
//! queue, and a burst at one never refuses the other's logins.

use super::Error;
use crate::domain::Password;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// Hashes running at once. Each takes 19 MiB and a core for tens of milliseconds; more in
/// parallel than the machine has cores only adds memory and latency.
const PERMITS: usize = 4;
/// Hashes running or waiting at most. Beyond it a request is refused at once (503 with
/// `Retry-After`) instead of queueing behind work that would outlast its call timeout.
const QUEUE: usize = 32;

/// One app's password hashing. Cheap to clone (the clones share the queue).
#[derive(Clone)]
pub struct Hasher(Arc<Queue>);

struct Queue {
    permits: Semaphore,
    /// Hashes running or waiting.
    queued: AtomicUsize,
}

impl Default for Hasher {
    fn default() -> Self {
        Self(Arc::new(Queue {
            permits: Semaphore::new(PERMITS),
            queued: AtomicUsize::new(0),
        }))
    }
}

/// A place in the hashing queue, given back on drop.
struct Queued(Arc<Queue>);

impl Queued {
    fn take(queue: &Arc<Queue>) -> Option<Self> {
        queue
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < QUEUE).then_some(n + 1)
            })
            .ok()
            .map(|_| Queued(queue.clone()))
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// argon2id with the OWASP minimum: 19 MiB, 2 iterations, parallelism 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Hasher {
    /// Runs CPU-heavy hashing on the blocking pool, never on the async worker threads.
    async fn off_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _queued = Queued::take(&self.0).ok_or(Error::Overloaded("password hashing"))?;
        let _permit = self
            .0
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("password hashing".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| Error::Unavailable("password hashing".into()))
    }

    pub async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.expose().to_owned();
        self.off_thread(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| Error::Unavailable(format!("password hashing: {e}")))
    }

    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Error> {
        self.off_thread(move || {
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

    /// A hash to verify against when the username is unknown, so that answer takes as long
    /// as a wrong password does. (A value, not a queue: one for the process is enough.)
    pub async fn dummy_hash(&self) -> Result<String, Error> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        if let Some(h) = DUMMY.get() {
            return Ok(h.clone());
        }
        let pw = Password::parse("not-a-real-password".into())?;
        let h = self.hash(&pw).await?;
        Ok(DUMMY.get_or_init(|| h).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_in_its_own_app_only() {
        let (full, other) = (Hasher::default(), Hasher::default());
        let held: Vec<_> = (0..QUEUE).map_while(|_| Queued::take(&full.0)).collect();
        assert_eq!(held.len(), QUEUE);
        let pw = Password::parse("long-enough-password".into()).unwrap();
        assert!(matches!(full.hash(&pw).await, Err(Error::Overloaded(_))));
        let hash = other.hash(&pw).await.unwrap();
        assert!(other.verify(pw.expose().to_owned(), hash).await.unwrap());
        drop(held);
        assert!(full.hash(&pw).await.is_ok());
    }
}

//! Slow salted hashing of passwords and API keys (Argon2id), off the async runtime and bounded
//! in concurrency so that a burst of logins cannot exhaust memory or starve request handling.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::IdentityError;

/// Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so that the answer takes as long as for a
    /// wrong password and does not reveal which user names exist.
    decoy: Arc<str>,
}

impl PasswordHasher {
    /// `concurrency` hashes may run at once (0 = one per CPU).
    pub fn new(concurrency: usize) -> Self {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        let decoy = hash_blocking("decoy password that matches nothing");
        PasswordHasher {
            permits: Arc::new(Semaphore::new(n)),
            decoy: decoy.into(),
        }
    }

    pub async fn hash(&self, secret: &str) -> Result<String, IdentityError> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let secret = secret.to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&secret))
            .await
            .map_err(internal)
    }

    /// True when `secret` matches `phc`; a missing hash is checked against the decoy and fails.
    pub async fn verify(&self, secret: &str, phc: Option<&str>) -> Result<bool, IdentityError> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let secret = secret.to_owned();
        let (phc, real) = match phc {
            Some(p) => (p.to_owned(), true),
            None => (self.decoy.to_string(), false),
        };
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|h| argon2().verify_password(secret.as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(internal)?;
        Ok(ok && real)
    }
}

fn hash_blocking(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2::PasswordHasher::hash_password(&argon2(), secret.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters does not fail")
        .to_string()
}

fn internal(e: impl std::fmt::Display) -> IdentityError {
    IdentityError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_secret() {
        let h = PasswordHasher::new(1);
        let phc = h.hash("s3cret").await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("s3cret", Some(&phc)).await.unwrap());
        assert!(!h.verify("S3cret", Some(&phc)).await.unwrap());
        assert!(!h.verify("s3cret", None).await.unwrap());
        assert!(!h.verify("s3cret", Some("not a phc string")).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_secret_hashes_differently_each_time() {
        let h = PasswordHasher::new(1);
        assert_ne!(h.hash("x").await.unwrap(), h.hash("x").await.unwrap());
    }
}

//! Slow salted hashing of passwords and API keys (Argon2id), off the async runtime and bounded
//! in concurrency so that a burst of logins cannot exhaust memory or starve request handling.

use std::sync::Arc;

use std::sync::OnceLock;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::IdentityError;

/// Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Argon2's working memory, one buffer per concurrent hash, allocated once and reused: a fresh
/// 19 MiB allocation per login ends up held in the allocator's arenas, which then keep several
/// hundred MiB resident.
type Pool = Arc<std::sync::Mutex<Vec<Vec<Block>>>>;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    pool: Pool,
    /// Verified against when the user does not exist, so that the answer takes as long as for a
    /// wrong password and does not reveal which user names exist. Made on first use, not at
    /// start-up.
    decoy: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    /// `concurrency` hashes may run at once (0 = one per CPU).
    pub fn new(concurrency: usize) -> Self {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        PasswordHasher {
            permits: Arc::new(Semaphore::new(n)),
            pool: Arc::default(),
            decoy: Arc::default(),
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
            None => (
                self.decoy.get_or_init(|| hash_blocking("decoy")).clone(),
                false,
            ),
        };
        let pool = self.pool.clone();
        let ok = tokio::task::spawn_blocking(move || verify_blocking(&secret, &phc, &pool))
            .await
            .map_err(internal)?;
        Ok(ok && real)
    }
}

/// Recomputes the hash of `secret` with the parameters and salt of `phc`, in pooled memory, and
/// compares in constant time. Anything malformed is a mismatch.
fn verify_blocking(secret: &str, phc: &str, pool: &Pool) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(params), Ok(algorithm), Some(expected), Some(salt)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let mut memory = pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .filter(|m| m.len() >= blocks)
        .unwrap_or_else(|| vec![Block::default(); blocks]);
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        secret.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
    computed.is_ok()
        && out.len() == expected.as_bytes().len()
        && out
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
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

//! An in-process cache of validated tokens, so that an authenticated request costs a hash-map
//! lookup instead of a database round trip. Revocations in this process clear it at once;
//! `ttl` bounds how long another node's revocation can go unseen (several Basalt nodes on one
//! database).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::model::TokenInfo;

const MAX_ENTRIES: usize = 100_000;

pub struct TokenCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Arc<TokenInfo>)>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, digest: &str) -> Option<Arc<TokenInfo>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (until, info) = entries.get(digest)?;
        (Instant::now() < *until && info.expires_at > chrono::Utc::now()).then(|| info.clone())
    }

    pub fn insert(&self, digest: String, info: Arc<TokenInfo>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(digest, (Instant::now() + self.ttl, info));
    }

    /// Forget everything: called after any revocation, which is rare.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

//! The identity service: the one entry point the HTTP layer and the CLI call.

mod admin;
mod auth;
mod bootstrap;

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TokenCache;
use crate::catalog::CatalogSettings;
use crate::password::PasswordHasher;
use crate::ports::IdentityStore;

pub use admin::{ProjectPatch, UserPatch};
pub use auth::{
    AuthRequest, Credentials, DomainSelector, IssuedToken, ProjectSelector, ScopeRequest,
    UserSelector,
};
pub use bootstrap::{BootstrapOutcome, BUILTIN_ROLES};

#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub token_ttl: Duration,
    /// How long a validated token is trusted from memory; zero disables the cache.
    pub token_cache_ttl: Duration,
    pub catalog: CatalogSettings,
}

pub struct Identity {
    store: Arc<dyn IdentityStore>,
    hasher: PasswordHasher,
    cache: TokenCache,
    settings: IdentitySettings,
}

impl Identity {
    pub fn new(
        store: Arc<dyn IdentityStore>,
        hasher: PasswordHasher,
        settings: IdentitySettings,
    ) -> Self {
        Identity {
            store,
            hasher,
            cache: TokenCache::new(settings.token_cache_ttl),
            settings,
        }
    }

    pub fn catalog(&self) -> &CatalogSettings {
        &self.settings.catalog
    }

    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }
}

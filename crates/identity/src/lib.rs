//! Keystone-compatible identity: users, projects, roles, API keys, tokens and the service catalog.
//!
//! This crate knows nothing of HTTP or SQL. Persistence goes through [`IdentityStore`]; the HTTP
//! shapes (v2.0 `access`, v3 `token`) are rendered by the api crate from [`TokenInfo`].

mod cache;
mod catalog;
mod error;
mod model;
mod password;
mod ports;
mod secret;
mod service;

pub use catalog::{CatalogEndpoint, CatalogService, CatalogSettings, EndpointUrls, Interface};
pub use error::IdentityError;
pub use model::{
    ApiKey, Domain, DomainInfo, NewApiKey, Project, ProjectInfo, Role, RoleAssignment, RoleInfo,
    StoredToken, TokenInfo, User, UserInfo, DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME,
};
pub use password::PasswordHasher;
pub use ports::{AssignmentFilter, IdentityStore, NameFilter, StoreError, TokenRevocation};
pub use service::{
    AuthRequest, BootstrapOutcome, Credentials, DomainSelector, Identity, IdentitySettings,
    IssuedToken, ProjectPatch, ProjectSelector, ScopeRequest, UserPatch, UserSelector,
    BUILTIN_ROLES,
};

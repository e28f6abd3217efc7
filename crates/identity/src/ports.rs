//! The persistence port of the identity layer. Adapters (SQLite now, PostgreSQL later) implement
//! [`IdentityStore`]; absence is `Ok(None)` / `Ok(false)`, never an error.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{ApiKey, Domain, Project, Role, RoleAssignment, StoredToken, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated (duplicate name in a domain, say).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0}")]
    Backend(String),
}

/// Optional exact-match filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub role_id: Option<String>,
}

/// Which tokens to revoke: every field given must match.
#[derive(Debug, Clone, Default)]
pub struct TokenRevocation {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn get_domain(&self, id: &str) -> Result<Option<Domain>, StoreError>;
    async fn find_domain_by_name(&self, name: &str) -> Result<Option<Domain>, StoreError>;
    async fn list_domains(&self, filter: &NameFilter) -> Result<Vec<Domain>, StoreError>;
    async fn create_domain(&self, domain: &Domain) -> Result<(), StoreError>;

    async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError>;
    async fn find_project_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> Result<Option<Project>, StoreError>;
    async fn list_projects(&self, filter: &NameFilter) -> Result<Vec<Project>, StoreError>;
    async fn create_project(&self, project: &Project) -> Result<(), StoreError>;
    async fn update_project(&self, project: &Project) -> Result<bool, StoreError>;
    /// Removes the project with its role assignments and tokens.
    async fn delete_project(&self, id: &str) -> Result<bool, StoreError>;

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    async fn find_user_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> Result<Option<User>, StoreError>;
    async fn list_users(&self, filter: &NameFilter) -> Result<Vec<User>, StoreError>;
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn update_user(&self, user: &User) -> Result<bool, StoreError>;
    /// Removes the user with its role assignments, API keys and tokens.
    async fn delete_user(&self, id: &str) -> Result<bool, StoreError>;

    async fn get_role(&self, id: &str) -> Result<Option<Role>, StoreError>;
    async fn find_role_by_name(&self, name: &str) -> Result<Option<Role>, StoreError>;
    async fn list_roles(&self, filter: &NameFilter) -> Result<Vec<Role>, StoreError>;
    async fn create_role(&self, role: &Role) -> Result<(), StoreError>;
    /// Removes the role with its assignments.
    async fn delete_role(&self, id: &str) -> Result<bool, StoreError>;

    /// Idempotent: granting an existing assignment again is not an error.
    async fn add_assignment(&self, assignment: &RoleAssignment) -> Result<(), StoreError>;
    async fn remove_assignment(&self, assignment: &RoleAssignment) -> Result<bool, StoreError>;
    async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
    ) -> Result<Vec<RoleAssignment>, StoreError>;

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, StoreError>;
    async fn delete_api_key(&self, user_id: &str, id: &str) -> Result<bool, StoreError>;

    async fn insert_token(&self, token: &StoredToken) -> Result<(), StoreError>;
    async fn get_token(&self, digest: &str) -> Result<Option<StoredToken>, StoreError>;
    async fn delete_token(&self, digest: &str) -> Result<bool, StoreError>;
    async fn revoke_tokens(&self, which: &TokenRevocation) -> Result<u64, StoreError>;
    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

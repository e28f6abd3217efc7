//! Identity records as stored, and the token snapshot handed to the rest of Basalt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Keystone's well-known id and name of the default domain.
pub const DEFAULT_DOMAIN_ID: &str = "default";
pub const DEFAULT_DOMAIN_NAME: &str = "Default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    /// PHC string of a slow salted hash; `None` for a user who can only use API keys.
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub user_id: String,
    pub project_id: String,
    pub role_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub description: String,
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
}

/// An API key just created: the only moment its secret exists outside the caller's hands.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInfo {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub domain: DomainInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub domain: DomainInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub id: String,
    pub name: String,
}

/// What a token stands for, captured when it is issued. Validation reads it back without
/// touching passwords; changes that must take effect (role removal, disabling a user or a
/// project, a new password) revoke the affected tokens instead of re-rendering them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub user: UserInfo,
    pub project: Option<ProjectInfo>,
    pub roles: Vec<RoleInfo>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl TokenInfo {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// Cinder's and Keystone's `context_is_admin` rule: the token carries role `admin`.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    pub fn project_id(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.id.as_str())
    }
}

/// A token row: only the digest of the token id is kept, never the id itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub digest: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub info: TokenInfo,
}

//! The identity layer's error enum. The api crate maps each variant to one HTTP status.

use crate::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Bad credentials, unknown user, disabled user, no role on the project, bad or expired
    /// token: one variant so that the caller cannot tell which (Keystone answers all with 401).
    #[error("The request you have made requires authentication.")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IdentityError {
    pub fn not_found(kind: &str, id: &str) -> Self {
        IdentityError::NotFound(format!("Could not find {kind}: {id}."))
    }
}

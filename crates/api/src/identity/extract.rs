//! Extractors of the identity endpoint: the caller's token and a JSON body in Keystone's terms.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use basalt_identity::TokenInfo;
use serde::de::DeserializeOwned;

use super::error::KeystoneError;
use crate::body::read_json;
use crate::state::ApiState;

/// The validated `X-Auth-Token` of the request.
pub struct Caller {
    pub token: Arc<TokenInfo>,
}

impl Caller {
    pub fn require_admin(&self, action: &str) -> Result<(), KeystoneError> {
        if self.token.is_admin() {
            Ok(())
        } else {
            Err(KeystoneError::forbidden(action))
        }
    }

    /// Admins may act on anyone; others only on themselves.
    pub fn require_self_or_admin(&self, user_id: &str, action: &str) -> Result<(), KeystoneError> {
        if self.token.user.id == user_id {
            Ok(())
        } else {
            self.require_admin(action)
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = KeystoneError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(KeystoneError::unauthorized)?
            .to_owned();
        let token = state
            .identity
            .validate(&raw)
            .await
            .map_err(|_| KeystoneError::unauthorized())?;
        Ok(Caller { token })
    }
}

/// A JSON body; media type, size and syntax errors come back in Keystone's error format.
pub struct KsJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for KsJson<T> {
    type Rejection = KeystoneError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        Ok(KsJson(
            read_json(&parts.headers, body, state.max_body_bytes).await?,
        ))
    }
}

/// An optional body: absent when the request has no Content-Type or no bytes.
impl<T: DeserializeOwned> OptionalFromRequest<ApiState> for KsJson<T> {
    type Rejection = KeystoneError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Option<Self>, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
            || req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<ApiState>>::from_request(req, state)
            .await
            .map(Some)
    }
}

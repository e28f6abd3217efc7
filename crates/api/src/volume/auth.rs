//! Authentication of block-storage requests: the `X-Auth-Token` must be valid (401 otherwise),
//! and the project in the URL must be the token's (400 "Malformed request url", checked before
//! any handler, as Cinder does).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use basalt_domain::Caller;
use basalt_identity::TokenInfo;

use super::fault::ApiError;
use super::microversion::ApiVersion;
use crate::state::ApiState;

/// Who is calling, for which project, at which API version.
#[derive(Debug, Clone)]
pub struct Context {
    pub token: Arc<TokenInfo>,
    pub version: ApiVersion,
}

impl Context {
    pub fn is_admin(&self) -> bool {
        self.token.is_admin()
    }

    /// Admin-only endpoints answer 403 before they read their body.
    pub fn require_admin(&self, rule: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "Policy doesn't allow {rule} to be performed."
            )))
        }
    }

    /// The token's project, which the project check has made equal to the URL's.
    pub fn project_id(&self) -> &str {
        self.token.project_id().unwrap_or_default()
    }

    /// The domain's view of the caller.
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.token.user.id.clone(),
            project_id: self.project_id().to_owned(),
            is_admin: self.is_admin(),
        }
    }
}

async fn token(state: &ApiState, headers: &HeaderMap) -> Result<Arc<TokenInfo>, ApiError> {
    let unauthorized = || ApiError::Unauthorized {
        auth_uri: state.urls.identity.clone(),
    };
    let raw = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(unauthorized)?
        .to_owned();
    state
        .identity
        .validate(&raw)
        .await
        .map_err(|_| unauthorized())
}

/// For `/v2/` and `/v3/` themselves: a valid token, no project.
pub async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    match token(&state, req.headers()).await {
        Ok(t) => {
            req.extensions_mut().insert(t);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// For `/vN/{project_id}/...`: a valid token scoped to exactly that project. The nested
/// router sees the path without its `/vN` prefix, so the project is the first segment.
pub async fn require_project(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = match token(&state, req.headers()).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let url_project = req.uri().path().trim_start_matches('/').split('/').next();
    if url_project.is_none() || url_project != token.project_id() {
        return ApiError::BadRequest("Malformed request url".into()).into_response();
    }
    req.extensions_mut().insert(token);
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Context {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .extensions
            .get::<Arc<TokenInfo>>()
            .cloned()
            .ok_or(ApiError::Internal)?;
        let version = parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion::V2);
        Ok(Context { token, version })
    }
}

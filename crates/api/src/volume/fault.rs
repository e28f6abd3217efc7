//! Cinder's fault envelope, `{"<faultName>": {"code", "message"}}`, and the one mapping from
//! API and domain errors to HTTP. Authentication failures use keystonemiddleware's body instead, as a
//! real Cinder behind keystonemiddleware does.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use basalt_domain::DomainError;
use serde_json::json;

use crate::body::BodyError;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// Missing, unknown, expired or revoked token; carries the identity URL for
    /// `WWW-Authenticate`.
    Unauthorized {
        auth_uri: String,
    },
    Forbidden(String),
    NotFound(String),
    BadMethod,
    /// A microversion outside the advertised range (Cinder answers 406 with `computeFault`).
    VersionNotSupported(String),
    Conflict(String),
    OverLimit(String),
    BadMediaType,
    Internal,
    /// 503: a service Basalt does not run here (no backup repository).
    ServiceUnavailable(String),
    /// A 500 whose reason the user may read (a backend refused a synchronous request).
    Backend(String),
}

pub const GENERIC_NOT_FOUND: &str = "The resource could not be found.";

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use ApiError::*;
        match self {
            BadRequest(m) => (StatusCode::BAD_REQUEST, "badRequest", m.clone()),
            Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "", String::new()),
            Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            NotFound(m) => (StatusCode::NOT_FOUND, "itemNotFound", m.clone()),
            BadMethod => (
                StatusCode::METHOD_NOT_ALLOWED,
                "badMethod",
                "The method specified is not allowed for this resource.".into(),
            ),
            VersionNotSupported(m) => (StatusCode::NOT_ACCEPTABLE, "computeFault", m.clone()),
            Conflict(m) => (StatusCode::CONFLICT, "conflictingRequest", m.clone()),
            OverLimit(m) => (StatusCode::PAYLOAD_TOO_LARGE, "overLimit", m.clone()),
            BadMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "badMediaType",
                "Unsupported Content-Type".into(),
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "computeFault",
                "The server has either erred or is incapable of performing the requested \
                 operation."
                    .into(),
            ),
            Backend(m) => (StatusCode::INTERNAL_SERVER_ERROR, "computeFault", m.clone()),
            ServiceUnavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceUnavailable",
                m.clone(),
            ),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::UnsupportedMediaType => ApiError::BadMediaType,
            BodyError::TooLarge => ApiError::OverLimit("Request is too large.".into()),
            BodyError::Malformed(_) => ApiError::BadRequest("Malformed request body".into()),
        }
    }
}

/// The one mapping of domain failures to Cinder faults. Storage failures are logged here and
/// answered with the generic 500, so that no internal detail reaches a client.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::BadRequest(_)
            | DomainError::InvalidInput(_)
            | DomainError::InvalidVolume(_)
            | DomainError::InvalidSnapshot(_)
            | DomainError::InvalidAuthKey(_) => ApiError::BadRequest(e.to_string()),
            DomainError::InvalidBackup(_) => ApiError::BadRequest(e.to_string()),
            DomainError::ServiceUnavailable(m) => ApiError::ServiceUnavailable(m),
            DomainError::Forbidden(_) => ApiError::Forbidden(e.to_string()),
            DomainError::NotFound(m) => ApiError::NotFound(m),
            DomainError::Conflict(m) => ApiError::Conflict(m),
            DomainError::QuotaExceeded(_) | DomainError::SizeExceedsLimit { .. } => {
                ApiError::OverLimit(e.to_string())
            }
            DomainError::Storage(m) => {
                tracing::error!(reason = %m, "storage request failed");
                ApiError::Backend(m)
            }
            DomainError::Store(inner) => {
                tracing::error!(error = %inner, "block-storage state could not be read or written");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unauthorized { auth_uri } = &self {
            let body = json!({"error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }});
            let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{auth_uri}\"")) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return resp;
        }
        let (status, fault, message) = self.parts();
        let over_limit = matches!(self, ApiError::OverLimit(_));
        let mut detail = json!({"code": status.as_u16(), "message": message});
        if over_limit {
            // Cinder copies the Retry-After header into the fault body.
            detail["retryAfter"] = json!("0");
        }
        let mut resp = (status, axum::Json(json!({ fault: detail }))).into_response();
        if over_limit {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

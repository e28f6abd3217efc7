//! Keystone's error body, `{"error": {"code", "title", "message"}}`, and the one mapping from
//! identity errors to HTTP statuses. The router adds `WWW-Authenticate` to every 401.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use basalt_identity::IdentityError;
use serde_json::json;

use crate::body::BodyError;

#[derive(Debug)]
pub struct KeystoneError {
    pub status: StatusCode,
    pub message: String,
}

pub const UNAUTHORIZED_MESSAGE: &str = "The request you have made requires authentication.";

impl KeystoneError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        KeystoneError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{} The server could not comply with the request since it is either malformed \
                 or otherwise incorrect. The client is assumed to be in error.",
                message.into()
            ),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED_MESSAGE)
    }

    pub fn forbidden(action: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("You are not authorized to perform the requested action: {action}."),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<IdentityError> for KeystoneError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Unauthorized => KeystoneError::unauthorized(),
            IdentityError::BadRequest(m) => KeystoneError::bad_request(m),
            IdentityError::Forbidden(m) => KeystoneError::new(StatusCode::FORBIDDEN, m),
            IdentityError::NotFound(m) => KeystoneError::not_found(m),
            IdentityError::Conflict(m) => KeystoneError::new(StatusCode::CONFLICT, m),
            e @ (IdentityError::Store(_) | IdentityError::Internal(_)) => {
                tracing::error!(error = %e, "identity request failed");
                KeystoneError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error prevented the server from fulfilling your request.",
                )
            }
        }
    }
}

impl From<BodyError> for KeystoneError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::UnsupportedMediaType => KeystoneError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Content-Type: send application/json.",
            ),
            BodyError::TooLarge => {
                KeystoneError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request is too large.")
            }
            BodyError::Malformed(why) => {
                KeystoneError::bad_request(format!("Malformed request body: {why}."))
            }
        }
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for KeystoneError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.status.as_u16(),
            "title": title(self.status),
            "message": self.message,
        }});
        (self.status, axum::Json(body)).into_response()
    }
}

pub type KsResult<T> = Result<T, KeystoneError>;

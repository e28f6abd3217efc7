//! Reading a JSON request body: the media type (415), the size limit (413), and syntax (400)
//! are checked here, so that no handler ever sees axum's plain-text rejections.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub enum BodyError {
    UnsupportedMediaType,
    TooLarge,
    /// Empty, unreadable or not valid JSON for the expected shape.
    Malformed(String),
}

const JSON_TYPES: [&str; 2] = ["application/json", "application/vnd.openstack.volume+json"];

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).map(|v| {
        v.to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Reads at most `limit` bytes and parses them as `T`.
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, BodyError> {
    let present = content_type(headers);
    if let Some(ct) = &present {
        if !JSON_TYPES.contains(&ct.as_str()) {
            return Err(BodyError::UnsupportedMediaType);
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge),
        Err(e) => return Err(BodyError::Malformed(e.to_string())),
    };
    // Like Cinder, a body without any Content-Type is treated as absent.
    if present.is_none() || bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Malformed("The request body is empty.".into()));
    }
    serde_json::from_slice(&bytes).map_err(|e| BodyError::Malformed(e.to_string()))
}

/// Checks every block-storage request before routing, as Cinder's middleware does: a declared
/// body over the limit is 413, and a body in a media type other than JSON is 415.
pub fn precheck(headers: &HeaderMap, limit: usize) -> Result<(), BodyError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let has_body = length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    match content_type(headers) {
        Some(ct) if has_body && !JSON_TYPES.contains(&ct.as_str()) => {
            Err(BodyError::UnsupportedMediaType)
        }
        _ => Ok(()),
    }
}

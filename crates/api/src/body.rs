//! Reading a JSON request body: the media type (415), the size limit (413), and syntax (400)
//! are checked here, so that no handler ever sees axum's plain-text rejections.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

/// How much of a refused body is still read and thrown away, and for how long: HTTP clients
/// send their whole body before reading the answer, and a connection closed under them hides
/// the 413 behind a reset.
const DRAIN_BYTES: usize = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads and discards what is left of a refused body, within bounds.
pub async fn drain(mut body: Body) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// The body's bytes, or `TooLarge` (after draining) once it passes `limit`.
async fn collect(mut body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Malformed(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(body).await;
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

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
    if let Err(e) = precheck(headers, limit) {
        drain(body).await;
        return Err(e);
    }
    let bytes = collect(body, limit).await?;
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

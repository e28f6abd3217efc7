//! API versions: `/v2` is the legacy 2.0 (any `OpenStack-API-Version` header is ignored);
//! `/v3` reads `OpenStack-API-Version: volume 3.x` (or `latest`), answers 406 outside the
//! advertised range, and echoes the version with `Vary` on every response.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::fault::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

impl ApiVersion {
    pub const V2: ApiVersion = ApiVersion { major: 2, minor: 0 };
    pub const MIN_V3: ApiVersion = ApiVersion { major: 3, minor: 0 };
    /// The highest microversion whose features are all implemented.
    pub const MAX_V3: ApiVersion = ApiVersion { major: 3, minor: 0 };

    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= ApiVersion { major, minor }
    }

    fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.split_once('.')?;
        let ok = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
        if !ok(major) || !ok(minor) {
            return None;
        }
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The requested volume microversion; `Ok(MIN)` when no header is sent.
pub fn requested(headers: &HeaderMap) -> Result<ApiVersion, ApiError> {
    let Some(raw) = headers.get("openstack-api-version") else {
        return Ok(ApiVersion::MIN_V3);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::BadRequest("Invalid OpenStack-API-Version header.".into()))?;
    let entry = raw
        .split(',')
        .map(str::trim)
        .find_map(|item| {
            let (service, version) = item.split_once(char::is_whitespace)?;
            service
                .eq_ignore_ascii_case("volume")
                .then(|| version.trim())
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid OpenStack-API-Version header '{raw}': no 'volume' version given."
            ))
        })?;
    if entry.eq_ignore_ascii_case("latest") {
        return Ok(ApiVersion::MAX_V3);
    }
    let v = ApiVersion::parse(entry).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "API Version String {entry} is of invalid format. Must be of format MajorNum.MinorNum."
        ))
    })?;
    if v < ApiVersion::MIN_V3 || v > ApiVersion::MAX_V3 {
        return Err(ApiError::VersionNotSupported(format!(
            "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
            ApiVersion::MIN_V3,
            ApiVersion::MAX_V3
        )));
    }
    Ok(v)
}

fn echo(resp: &mut Response, v: ApiVersion) {
    let value = HeaderValue::from_str(&format!("volume {v}")).expect("versions are ASCII");
    let h = resp.headers_mut();
    h.insert("openstack-api-version", value);
    h.insert(
        axum::http::header::VARY,
        HeaderValue::from_static("OpenStack-API-Version"),
    );
}

pub async fn v3(mut req: Request, next: Next) -> Response {
    match requested(req.headers()) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            let mut resp = next.run(req).await;
            echo(&mut resp, v);
            resp
        }
        Err(e) => {
            let mut resp = e.into_response();
            echo(&mut resp, ApiVersion::MIN_V3);
            resp
        }
    }
}

pub async fn v2(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(ApiVersion::V2);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("openstack-api-version", v.parse().unwrap());
        h
    }

    #[test]
    fn absent_header_means_the_minimum() {
        assert_eq!(requested(&HeaderMap::new()).unwrap(), ApiVersion::MIN_V3);
    }

    #[test]
    fn latest_and_exact_versions_are_accepted() {
        assert_eq!(
            requested(&with("volume latest")).unwrap(),
            ApiVersion::MAX_V3
        );
        assert_eq!(requested(&with("volume 3.0")).unwrap(), ApiVersion::MIN_V3);
        assert_eq!(
            requested(&with("compute 2.1, volume 3.0")).unwrap(),
            ApiVersion::MIN_V3
        );
    }

    #[test]
    fn out_of_range_is_406_and_garbage_is_400() {
        assert!(matches!(
            requested(&with("volume 3.71")),
            Err(ApiError::VersionNotSupported(_))
        ));
        assert!(matches!(
            requested(&with("volume 2.0")),
            Err(ApiError::VersionNotSupported(_))
        ));
        assert!(matches!(
            requested(&with("volume 3")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            requested(&with("volume 3.x")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            requested(&with("compute 2.1")),
            Err(ApiError::BadRequest(_))
        ));
    }
}

//! Version documents: `GET /` (300, both versions, no token needed) and `GET /v2/`, `GET /v3/`.
//! Links use the configured public URL, because clients follow them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::microversion::ApiVersion;
use crate::state::ApiState;

#[derive(Serialize)]
pub struct Versions {
    versions: Vec<VersionEntry>,
}

#[derive(Serialize)]
struct VersionEntry {
    id: &'static str,
    status: &'static str,
    version: String,
    min_version: String,
    updated: &'static str,
    links: Vec<Link>,
    #[serde(rename = "media-types")]
    media_types: Vec<MediaType>,
}

#[derive(Serialize)]
struct Link {
    rel: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    media_type: Option<&'static str>,
    href: String,
}

#[derive(Serialize)]
struct MediaType {
    base: &'static str,
    #[serde(rename = "type")]
    media_type: &'static str,
}

fn entry(base: &str, v3: bool) -> VersionEntry {
    let (id, status, version, min, updated, path, mt) = if v3 {
        (
            "v3.0",
            "CURRENT",
            ApiVersion::MAX_V3.to_string(),
            ApiVersion::MIN_V3.to_string(),
            "2023-08-31T00:00:00Z",
            "v3",
            "application/vnd.openstack.volume+json;version=3",
        )
    } else {
        (
            "v2.0",
            "DEPRECATED",
            String::new(),
            String::new(),
            "2017-02-25T12:00:00Z",
            "v2",
            "application/vnd.openstack.volume+json;version=2",
        )
    };
    VersionEntry {
        id,
        status,
        version,
        min_version: min,
        updated,
        links: vec![
            Link {
                rel: "describedby",
                media_type: Some("text/html"),
                href: "https://docs.openstack.org/".into(),
            },
            Link {
                rel: "self",
                media_type: None,
                href: format!("{base}/{path}/"),
            },
        ],
        media_types: vec![MediaType {
            base: "application/json",
            media_type: mt,
        }],
    }
}

pub async fn root(State(s): State<ApiState>) -> (StatusCode, Json<Versions>) {
    let base = &s.urls.volume;
    let versions = vec![entry(base, false), entry(base, true)];
    (StatusCode::MULTIPLE_CHOICES, Json(Versions { versions }))
}

pub async fn v2(State(s): State<ApiState>) -> Json<Versions> {
    Json(Versions {
        versions: vec![entry(&s.urls.volume, false)],
    })
}

pub async fn v3(State(s): State<ApiState>) -> Json<Versions> {
    Json(Versions {
        versions: vec![entry(&s.urls.volume, true)],
    })
}

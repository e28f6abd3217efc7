//! `GET /extensions` and `GET /extensions/{alias}`. The list names only what Basalt implements:
//! entries are added here as the features they describe land, so that a client probing for an
//! extension never finds one that would fail.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;

use super::auth::Context;
use super::fault::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Extension {
    pub alias: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub updated: &'static str,
    pub links: [(); 0],
}

/// The implemented extensions. Empty until the first extension resource lands.
pub const EXTENSIONS: &[Extension] = &[];

#[derive(Serialize)]
pub struct ExtensionList {
    extensions: &'static [Extension],
}

#[derive(Serialize)]
pub struct ExtensionDoc {
    extension: Extension,
}

pub async fn list(_ctx: Context) -> Json<ExtensionList> {
    Json(ExtensionList {
        extensions: EXTENSIONS,
    })
}

pub async fn show(
    _ctx: Context,
    Path((_, alias)): Path<(String, String)>,
) -> ApiResult<Json<ExtensionDoc>> {
    EXTENSIONS
        .iter()
        .find(|e| e.alias == alias)
        .map(|e| Json(ExtensionDoc { extension: *e }))
        .ok_or_else(|| ApiError::NotFound(format!("Extension {alias} could not be found.")))
}

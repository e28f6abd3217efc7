//! Version discovery of the identity endpoint: `GET /` (300, `versions.values`), `GET /v3`,
//! `GET /v2.0`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::state::ApiState;

fn v3_entry(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

fn v2_entry(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "deprecated",
        "updated": "2016-08-04T00:00:00Z",
        "links": [
            {"rel": "self", "href": format!("{base}/v2.0/")},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v2.0+json"}],
    })
}

pub async fn root(State(s): State<ApiState>) -> Response {
    let base = &s.urls.identity;
    let body = json!({"versions": {"values": [v3_entry(base), v2_entry(base)]}});
    (
        StatusCode::MULTIPLE_CHOICES,
        [(header::LOCATION, format!("{base}/v3/"))],
        Json(body),
    )
        .into_response()
}

pub async fn v3(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({"version": v3_entry(&s.urls.identity)}))
}

pub async fn v2(State(s): State<ApiState>) -> Json<Value> {
    Json(json!({"version": v2_entry(&s.urls.identity)}))
}

//! Every response carries `x-openstack-request-id: req-<uuid>` (oslo's request-id middleware);
//! the block-storage API also the legacy `x-compute-request-id`. The id is logged with the
//! request, so that an error reported by a user can be found in the log.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

async fn tag(req: Request, next: Next, compute_header: bool) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let global = req
        .headers()
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("req-") && v.len() <= 64)
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("request", id = %id, global = %global,
        method = %req.method(), path = %req.uri().path());
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = resp.status().as_u16(), "done"));
    let value = HeaderValue::from_str(&id).expect("request ids are ASCII");
    if compute_header {
        resp.headers_mut()
            .insert("x-compute-request-id", value.clone());
    }
    resp.headers_mut().insert("x-openstack-request-id", value);
    resp
}

pub async fn identity(req: Request, next: Next) -> Response {
    tag(req, next, false).await
}

pub async fn volume(req: Request, next: Next) -> Response {
    tag(req, next, true).await
}

//! The block-storage API (default port 8776): `/`, `/v2/{project_id}/...` and
//! `/v3/{project_id}/...`, served by the same handlers; `/v3` adds microversions.

mod actions;
mod admin_actions;
mod attach_actions;
mod auth;
mod backup_actions;
mod backup_requests;
mod backup_views;
mod backups;
mod extensions;
mod extra_specs;
mod fault;
mod limits;
mod links;
mod manage;
mod manage_requests;
mod metadata;
mod microversion;
mod move_actions;
mod operator;
mod qos;
mod quotas;
mod schema;
mod snapshot_actions;
mod snapshot_metadata;
mod snapshot_requests;
mod snapshot_views;
mod snapshots;
mod transfer_requests;
mod transfer_views;
mod transfers;
mod type_access;
mod type_encryption;
mod type_requests;
mod type_views;
mod types;
mod versions;
mod volume_requests;
mod volume_views;
mod volumes;

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower::Layer;

use crate::request_id;
use crate::state::ApiState;
use fault::{ApiError, GENERIC_NOT_FOUND};

pub use microversion::ApiVersion;

/// The advertised maximum microversion, as a string for logs and docs.
pub const MAX_MICROVERSION: ApiVersion = ApiVersion::MAX_V3;

/// Routes under `/vN/{project_id}`, identical for v2 and v3.
fn project_routes() -> Router<ApiState> {
    Router::new()
        .route("/{project_id}/extensions", get(extensions::list))
        .route("/{project_id}/extensions/{alias}", get(extensions::show))
        .route("/{project_id}/limits", get(limits::show))
        .merge(volume_routes())
        .merge(snapshot_routes())
        .merge(backup_routes())
        .merge(quota_routes())
        .merge(type_routes())
        .merge(qos_routes())
        .merge(transfer_routes())
        .merge(operator_routes())
        .merge(manage_routes())
}

fn manage_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/{project_id}/os-volume-manage",
            get(manage::list_volumes).post(manage::manage_volume),
        )
        .route(
            "/{project_id}/os-volume-manage/detail",
            get(manage::detail_volumes),
        )
        .route(
            "/{project_id}/os-snapshot-manage",
            get(manage::list_snapshots).post(manage::manage_snapshot),
        )
        .route(
            "/{project_id}/os-snapshot-manage/detail",
            get(manage::detail_snapshots),
        )
}

fn operator_routes() -> Router<ApiState> {
    Router::new()
        .route("/{project_id}/os-services", get(operator::services))
        .route(
            "/{project_id}/os-services/{action}",
            axum::routing::put(operator::update_service),
        )
        .route("/{project_id}/os-availability-zone", get(operator::zones))
        .route("/{project_id}/os-hosts", get(operator::hosts))
        .route("/{project_id}/os-hosts/{host}", get(operator::host))
        .route(
            "/{project_id}/scheduler-stats/get_pools",
            get(operator::pools),
        )
        .route(
            "/{project_id}/capabilities/{host}",
            get(operator::capabilities),
        )
}

fn type_routes() -> Router<ApiState> {
    Router::new()
        .route("/{project_id}/types", get(types::list).post(types::create))
        .route(
            "/{project_id}/types/{id}",
            get(types::show).put(types::update).delete(types::delete),
        )
        .route("/{project_id}/types/{id}/action", post(type_access::act))
        .route(
            "/{project_id}/types/{id}/os-volume-type-access",
            get(type_access::list),
        )
        .route(
            "/{project_id}/types/{id}/extra_specs",
            get(extra_specs::list).post(extra_specs::create),
        )
        .route(
            "/{project_id}/types/{id}/extra_specs/{key}",
            get(extra_specs::show)
                .put(extra_specs::update)
                .delete(extra_specs::delete),
        )
        .route(
            "/{project_id}/types/{id}/encryption",
            get(type_encryption::show).post(type_encryption::create),
        )
        .route(
            "/{project_id}/types/{id}/encryption/{key}",
            get(type_encryption::show_field)
                .put(type_encryption::update)
                .delete(type_encryption::delete),
        )
        .route(
            "/{project_id}/volumes/{id}/encryption",
            get(type_encryption::volume),
        )
        .route(
            "/{project_id}/volumes/{id}/encryption/{key}",
            get(type_encryption::volume_field),
        )
}

fn qos_routes() -> Router<ApiState> {
    Router::new()
        .route("/{project_id}/qos-specs", get(qos::list).post(qos::create))
        .route(
            "/{project_id}/qos-specs/{id}",
            get(qos::show).put(qos::update).delete(qos::delete),
        )
        .route(
            "/{project_id}/qos-specs/{id}/delete_keys",
            axum::routing::put(qos::delete_keys),
        )
        .route(
            "/{project_id}/qos-specs/{id}/associations",
            get(qos::associations),
        )
        .route(
            "/{project_id}/qos-specs/{id}/associate",
            get(qos::associate),
        )
        .route(
            "/{project_id}/qos-specs/{id}/disassociate",
            get(qos::disassociate),
        )
        .route(
            "/{project_id}/qos-specs/{id}/disassociate_all",
            get(qos::disassociate_all),
        )
}

fn transfer_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/{project_id}/os-volume-transfer",
            get(transfers::list).post(transfers::create),
        )
        .route(
            "/{project_id}/os-volume-transfer/detail",
            get(transfers::detail),
        )
        .route(
            "/{project_id}/os-volume-transfer/{id}",
            get(transfers::show).delete(transfers::delete),
        )
        .route(
            "/{project_id}/os-volume-transfer/{id}/accept",
            post(transfers::accept),
        )
}

fn volume_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/{project_id}/volumes",
            get(volumes::list).post(volumes::create),
        )
        .route("/{project_id}/volumes/detail", get(volumes::detail))
        .route(
            "/{project_id}/volumes/{id}",
            get(volumes::show)
                .put(volumes::update)
                .delete(volumes::delete),
        )
        .route("/{project_id}/volumes/{id}/action", post(actions::act))
        .route(
            "/{project_id}/volumes/{id}/metadata",
            get(metadata::list)
                .post(metadata::merge)
                .put(metadata::replace),
        )
        .route(
            "/{project_id}/volumes/{id}/metadata/{key}",
            get(metadata::show)
                .put(metadata::set)
                .delete(metadata::delete),
        )
}

fn backup_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/{project_id}/backups",
            get(backups::list).post(backups::create),
        )
        .route("/{project_id}/backups/detail", get(backups::detail))
        .route(
            "/{project_id}/backups/import_record",
            post(backup_actions::import_record),
        )
        .route(
            "/{project_id}/backups/{id}",
            get(backups::show).delete(backups::delete),
        )
        .route(
            "/{project_id}/backups/{id}/restore",
            post(backup_actions::restore),
        )
        .route(
            "/{project_id}/backups/{id}/export_record",
            get(backup_actions::export_record),
        )
        .route(
            "/{project_id}/backups/{id}/action",
            post(backup_actions::act),
        )
}

fn snapshot_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/{project_id}/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route("/{project_id}/snapshots/detail", get(snapshots::detail))
        .route(
            "/{project_id}/snapshots/{id}",
            get(snapshots::show)
                .put(snapshots::update)
                .delete(snapshots::delete),
        )
        .route(
            "/{project_id}/snapshots/{id}/action",
            post(snapshot_actions::act),
        )
        .route(
            "/{project_id}/snapshots/{id}/metadata",
            get(snapshot_metadata::list)
                .post(snapshot_metadata::merge)
                .put(snapshot_metadata::replace),
        )
        .route(
            "/{project_id}/snapshots/{id}/metadata/{key}",
            get(snapshot_metadata::show)
                .put(snapshot_metadata::set)
                .delete(snapshot_metadata::delete),
        )
}

fn quota_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/{project_id}/os-quota-sets/{target}",
            get(quotas::show).put(quotas::update).delete(quotas::reset),
        )
        .route(
            "/{project_id}/os-quota-sets/{target}/defaults",
            get(quotas::defaults),
        )
        .route(
            "/{project_id}/os-quota-class-sets/{class}",
            get(quotas::show_class).put(quotas::update_class),
        )
}

pub fn router(state: ApiState) -> Router {
    let state_for_guard = state.clone();
    let token = from_fn_with_state(state.clone(), auth::require_token);
    let project = from_fn_with_state(state.clone(), auth::require_project);
    let v2_root = Router::new()
        .route("/v2", get(versions::v2))
        .route("/v2/", get(versions::v2))
        .layer(token.clone())
        .layer(from_fn(microversion::v2));
    let v3_root = Router::new()
        .route("/v3", get(versions::v3))
        .route("/v3/", get(versions::v3))
        .layer(token)
        .layer(from_fn(microversion::v3));
    let routes = Router::new()
        .route("/", get(versions::root))
        .merge(v2_root)
        .merge(v3_root)
        .nest(
            "/v2",
            project_routes()
                .route_layer(project.clone())
                .layer(from_fn(microversion::v2)),
        )
        .nest(
            "/v3",
            project_routes()
                .route_layer(project)
                .layer(from_fn(microversion::v3)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(bad_method)
        .with_state(state);
    // The `.json` suffix is stripped before routing (Cinder tolerates it).
    let routes = tower::util::MapRequestLayer::new(strip_json_suffix).layer(routes);
    Router::new()
        .fallback_service(routes)
        .layer(from_fn_with_state(state_for_guard, guard_body))
        .layer(from_fn(request_id::volume))
}

async fn guard_body(
    axum::extract::State(state): axum::extract::State<ApiState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match crate::body::precheck(req.headers(), state.max_body_bytes) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            crate::body::drain(req.into_body()).await;
            ApiError::from(e).into_response()
        }
    }
}

fn strip_json_suffix(mut req: Request) -> Request {
    let path = req.uri().path();
    if let Some(stripped) = path.strip_suffix(".json") {
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{stripped}?{q}"),
            None => stripped.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound(GENERIC_NOT_FOUND.into())
}

async fn bad_method() -> impl IntoResponse {
    ApiError::BadMethod
}

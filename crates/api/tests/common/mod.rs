//! In-process test harness: both routers over a fresh SQLite database per test, driven with
//! `oneshot`, with helpers that read like the requests a client makes.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use basalt_api::{ApiState, PublicUrls};
use basalt_db::Database;
use basalt_domain::quota::QuotaService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::volume::VolumeService;
use basalt_domain::{BackendPlacement, DomainSettings};
use basalt_identity::{CatalogSettings, EndpointUrls, Identity, IdentitySettings, PasswordHasher};
use basalt_storage::{BlockBackend, FileBackend};
use basalt_workers::{assemble_with_backups, Backends, BlockServices, JobRunner, RunnerSettings};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const IDENTITY: &str = "https://id.test:5000";
pub const VOLUME: &str = "https://vol.test:8776";
pub const ADMIN_PASSWORD: &str = "adminpw";

pub struct App {
    pub identity_app: Router,
    pub volume_app: Router,
    pub identity: Arc<Identity>,
    pub volumes: Arc<VolumeService>,
    pub snapshots: Arc<SnapshotService>,
    pub attach: Arc<basalt_domain::attach::AttachService>,
    pub quotas: Arc<QuotaService>,
    pub runner: Arc<JobRunner>,
    pub heartbeat: Arc<basalt_workers::Heartbeat>,
    /// Where the file backend keeps volume files.
    pub volume_dir: std::path::PathBuf,
    /// The backup repository's directory.
    pub backup_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn app() -> App {
    app_with_backends(&[("file", "nova", 20.0)]).await
}

/// An app whose backends are `(name, availability zone, over-subscription ratio)`, file
/// backends in `volumes` (the first) and `volumes-<name>` (the others).
pub async fn app_with_backends(specs: &[(&str, &str, f64)]) -> App {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let settings = IdentitySettings {
        token_ttl: Duration::from_secs(3600),
        token_cache_ttl: Duration::from_secs(30),
        catalog: CatalogSettings {
            region: "RegionOne".into(),
            identity: EndpointUrls::same(IDENTITY),
            volume: EndpointUrls::same(VOLUME),
        },
    };
    let identity = Arc::new(Identity::new(
        db.identity_store(),
        PasswordHasher::new(2),
        settings,
    ));
    identity
        .bootstrap(Some(ADMIN_PASSWORD.into()))
        .await
        .unwrap();
    let volume_dir = dir.path().join("volumes");
    let mut backends = Backends::new();
    let mut placements = Vec::new();
    for (i, (name, zone, ratio)) in specs.iter().enumerate() {
        let path = if i == 0 {
            volume_dir.clone()
        } else {
            dir.path().join(format!("volumes-{name}"))
        };
        let b: Arc<dyn BlockBackend> = Arc::new(
            FileBackend::new(path, *ratio, 0)
                .unwrap()
                .with_name(name.to_string()),
        );
        backends.insert(name.to_string(), b);
        placements.push(BackendPlacement {
            name: name.to_string(),
            availability_zone: zone.to_string(),
        });
    }
    let backup_dir = dir.path().join("backups");
    let settings = DomainSettings {
        host: "testhost".into(),
        default_availability_zone: specs[0].1.into(),
        backends: placements,
        max_page_size: 1000,
    };
    let BlockServices {
        volumes,
        snapshots,
        attach,
        quotas,
        types,
        qos,
        operator,
        heartbeat,
        transfers,
        backups,
        runner,
    } = assemble_with_backups(
        db.block_store(),
        Arc::new(basalt_workers::VolumeManager::new(backends)),
        settings,
        RunnerSettings::default(),
        basalt_workers::Protocols::new(),
        Some(basalt_backup::Repository::open_or_create(&backup_dir, 1 << 20).unwrap()),
    );
    volumes.ensure_default_type().await.unwrap();
    heartbeat.beat().await;
    let state = ApiState {
        identity: identity.clone(),
        volumes: volumes.clone(),
        snapshots: snapshots.clone(),
        backups,
        attach: attach.clone(),
        quotas: quotas.clone(),
        types,
        qos,
        operator,
        transfers,
        urls: Arc::new(PublicUrls {
            identity: IDENTITY.into(),
            volume: VOLUME.into(),
        }),
        max_body_bytes: basalt_api::DEFAULT_MAX_BODY_BYTES,
    };
    App {
        identity_app: basalt_api::identity_router(state.clone()),
        volume_app: basalt_api::volume_router(state),
        identity,
        volumes,
        snapshots,
        attach,
        quotas,
        runner,
        heartbeat,
        volume_dir,
        backup_dir,
        _dir: dir,
    }
}

pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

pub fn req(method: Method, uri: &str) -> Req {
    Req {
        method,
        uri: uri.into(),
        headers: vec![],
        body: vec![],
    }
}

pub fn get(uri: &str) -> Req {
    req(Method::GET, uri)
}

pub fn post(uri: &str, body: Value) -> Req {
    req(Method::POST, uri).json(body)
}

impl Req {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn token(self, t: &str) -> Self {
        self.header("x-auth-token", t)
    }

    pub fn json(mut self, v: Value) -> Self {
        self.body = serde_json::to_vec(&v).unwrap();
        self.header("content-type", "application/json")
    }

    pub fn raw_body(mut self, content_type: Option<&str>, body: Vec<u8>) -> Self {
        self.body = body;
        match content_type {
            Some(ct) => self.header("content-type", ct),
            None => self,
        }
    }

    pub async fn send(self, app: &Router) -> Resp {
        let mut b = Request::builder().method(self.method).uri(&self.uri);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        if !self.body.is_empty() {
            // As every HTTP/1.1 client does for a body of known size.
            b = b.header("content-length", self.body.len());
        }
        let resp = app
            .clone()
            .oneshot(b.body(Body::from(self.body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }
}

pub fn v3_password(user: &str, password: &str, project: Option<&str>) -> Value {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}});
    if let Some(p) = project {
        auth["scope"] = json!({"project": {"name": p, "domain": {"name": "Default"}}});
    }
    json!({ "auth": auth })
}

impl App {
    /// Runs every pending storage job (no worker task runs in process), as the server's
    /// workers would; returns how many ran.
    pub async fn run_jobs(&self) -> usize {
        self.runner.run_pending().await
    }

    /// A v3 token for `user` on `project`: (token id, project id).
    pub async fn token_for(&self, user: &str, password: &str, project: &str) -> (String, String) {
        let r = post(
            "/v3/auth/tokens",
            v3_password(user, password, Some(project)),
        )
        .send(&self.identity_app)
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.header("x-subject-token").unwrap().to_owned(),
            r.body["token"]["project"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    pub async fn admin_token(&self) -> (String, String) {
        self.token_for("admin", ADMIN_PASSWORD, "admin").await
    }

    /// A non-admin user `name` (password `pw`) with role member on a new project `project`.
    pub async fn member(&self, name: &str, project: &str) -> (String, String) {
        let p = self
            .identity
            .create_project(project, "default", "", true)
            .await
            .unwrap();
        let u = self
            .identity
            .create_user(name, "default", Some("pw"), true, None)
            .await
            .unwrap();
        let role = self
            .identity
            .find_role_by_name("member")
            .await
            .unwrap()
            .unwrap();
        self.identity
            .grant_role(&p.id, &u.id, &role.id)
            .await
            .unwrap();
        self.token_for(name, "pw", project).await
    }
}

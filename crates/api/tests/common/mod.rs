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
use basalt_workers::{assemble, Backends, BlockServices, JobRunner, RunnerSettings};
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
    /// Where the file backend keeps volume files.
    pub volume_dir: std::path::PathBuf,
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
    let file: Arc<dyn BlockBackend> =
        Arc::new(FileBackend::new(volume_dir.clone(), 20.0, 0).unwrap());
    let backends: Backends = [("file".to_string(), file)].into_iter().collect();
    let settings = DomainSettings {
        host: "testhost".into(),
        default_availability_zone: "nova".into(),
        backends: vec![BackendPlacement {
            name: "file".into(),
            availability_zone: "nova".into(),
        }],
        max_page_size: 1000,
    };
    let BlockServices {
        volumes,
        snapshots,
        attach,
        quotas,
        types,
        qos,
        transfers,
        runner,
    } = assemble(
        db.block_store(),
        Arc::new(basalt_workers::VolumeManager::new(backends)),
        settings,
        RunnerSettings::default(),
        basalt_workers::Protocols::new(),
    );
    volumes.ensure_default_type().await.unwrap();
    let state = ApiState {
        identity: identity.clone(),
        volumes: volumes.clone(),
        snapshots: snapshots.clone(),
        attach: attach.clone(),
        quotas: quotas.clone(),
        types,
        qos,
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
        volume_dir,
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

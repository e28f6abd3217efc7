//! A block-storage client for the in-process tests: a token, its project and an API version,
//! with helpers that read like the requests a client makes and the faults it gets back.

#![allow(dead_code)] // each test binary uses a different subset

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{req, App, Resp};

/// A caller of the block-storage API: a token, its project and an API version.
pub struct Client<'a> {
    pub app: &'a App,
    pub token: String,
    pub project: String,
    pub version: &'static str,
}

impl<'a> Client<'a> {
    pub async fn admin(app: &'a App) -> Client<'a> {
        let (token, project) = app.admin_token().await;
        Client {
            app,
            token,
            project,
            version: "v2",
        }
    }

    pub async fn member(app: &'a App, name: &str, project: &str) -> Client<'a> {
        let (token, project) = app.member(name, project).await;
        Client {
            app,
            token,
            project,
            version: "v2",
        }
    }

    pub fn v3(mut self) -> Self {
        self.version = "v3";
        self
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/{}/{}/{rest}", self.version, self.project)
    }

    pub async fn send(&self, method: Method, rest: &str, body: Option<Value>) -> Resp {
        let mut r = req(method, &self.path(rest)).token(&self.token);
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send(&self.app.volume_app).await
    }

    pub async fn get(&self, rest: &str) -> Resp {
        self.send(Method::GET, rest, None).await
    }

    pub async fn post(&self, rest: &str, body: Value) -> Resp {
        self.send(Method::POST, rest, Some(body)).await
    }

    pub async fn put(&self, rest: &str, body: Value) -> Resp {
        self.send(Method::PUT, rest, Some(body)).await
    }

    pub async fn delete(&self, rest: &str) -> Resp {
        self.send(Method::DELETE, rest, None).await
    }

    /// Creates a volume and returns its id.
    pub async fn create(&self, volume: Value) -> String {
        let r = self.post("volumes", json!({ "volume": volume })).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        r.body["volume"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates a volume and runs the jobs, so that it is `available`.
    pub async fn available(&self, volume: Value) -> String {
        let id = self.create(volume).await;
        self.app.run_jobs().await;
        assert_eq!(self.volume(&id).await["status"], "available");
        id
    }

    pub async fn volume(&self, id: &str) -> Value {
        let r = self.get(&format!("volumes/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["volume"].clone()
    }
}

pub fn bad_request(r: &Resp) -> &str {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["badRequest"]["code"], 400);
    r.body["badRequest"]["message"].as_str().unwrap()
}

pub fn not_found(r: &Resp) -> &str {
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    r.body["itemNotFound"]["message"].as_str().unwrap()
}

pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, no zone.
pub fn is_cinder_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
        && s.len() == 26
        && !s.ends_with('Z')
}

pub const VIEW_KEYS: [&str; 20] = [
    "attachments",
    "availability_zone",
    "bootable",
    "consistencygroup_id",
    "created_at",
    "description",
    "encrypted",
    "id",
    "links",
    "metadata",
    "multiattach",
    "name",
    "replication_status",
    "size",
    "snapshot_id",
    "source_volid",
    "status",
    "updated_at",
    "user_id",
    "volume_type",
];

pub fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut k: Vec<&str> = VIEW_KEYS.iter().chain(extra).copied().collect();
    k.sort_unstable();
    k
}

pub fn over_limit(r: &Resp) -> &str {
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("0"));
    assert_eq!(r.body["overLimit"]["code"], 413);
    assert_eq!(r.body["overLimit"]["retryAfter"], "0");
    r.body["overLimit"]["message"].as_str().unwrap()
}

pub fn forbidden(r: &Resp) -> &str {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["forbidden"]["code"], 403);
    r.body["forbidden"]["message"].as_str().unwrap()
}

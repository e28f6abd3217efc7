//! The block-storage calls of the volume scenario (create, show, delete, quotas), each one
//! request on a caller's connection, with the answers it expects checked.

use std::time::Duration;

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::http::{Conn, Reply};

/// Cinder's settings for a benchmark data directory: the default file backend, with thin
/// provisioning raised so that 100,000 sparse 1 GiB volumes fit on any disk. Everything else
/// keeps its default.
pub const CONFIG: &str = "[[backends]]\n\
                          name = \"file\"\n\
                          driver = \"file\"\n\
                          path = \"volumes\"\n\
                          availability_zone = \"nova\"\n\
                          over_subscription_ratio = 1000000.0\n\
                          reserved_percentage = 0\n";

/// One project's volumes, reached with a project-scoped (admin) token.
#[derive(Clone)]
pub struct Volumes {
    pub project: String,
    pub token: String,
}

/// What a `GET /volumes/{id}` showed.
#[derive(Debug, Clone)]
pub enum Shown {
    /// 200: the status, and `updated_at - created_at` when both are given.
    Status(String, Option<Duration>),
    /// 404: deleted.
    Gone,
}

impl Volumes {
    /// `/v2/{project}` followed by `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/v2/{}{rest}", self.project)
    }

    pub(crate) async fn call(
        &self,
        conn: &mut Conn,
        method: Method,
        rest: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let path = self.path(rest);
        conn.request(method.clone(), &path, Some(&self.token), body)
            .await
            .with_context(|| format!("{method} {path}"))
    }

    /// Lifts the project's volume and gigabyte quotas (`-1`: unlimited).
    pub async fn unlimited_quota(&self, conn: &mut Conn) -> anyhow::Result<()> {
        let body = json!({"quota_set": {"volumes": -1, "gigabytes": -1}});
        let rest = format!("/os-quota-sets/{}", self.project);
        let reply = self.call(conn, Method::PUT, &rest, Some(&body)).await?;
        expect(&reply, StatusCode::OK, "PUT os-quota-sets")
    }

    /// `POST /volumes` (202): the new volume's id.
    pub async fn create(
        &self,
        conn: &mut Conn,
        name: &str,
        size_gib: u32,
    ) -> anyhow::Result<String> {
        self.create_in(conn, name, size_gib, None).await
    }

    /// `POST /volumes` in availability zone `zone` (the default zone when `None`).
    pub async fn create_in(
        &self,
        conn: &mut Conn,
        name: &str,
        size_gib: u32,
        zone: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut body = json!({"volume": {"size": size_gib, "name": name}});
        if let Some(zone) = zone {
            body["volume"]["availability_zone"] = json!(zone);
        }
        let reply = self
            .call(conn, Method::POST, "/volumes", Some(&body))
            .await?;
        expect(&reply, StatusCode::ACCEPTED, "POST volumes")?;
        let doc: Value = serde_json::from_slice(&reply.body)?;
        Ok(doc["volume"]["id"]
            .as_str()
            .context("no volume.id in the create answer")?
            .to_owned())
    }

    pub async fn show(&self, conn: &mut Conn, id: &str) -> anyhow::Result<Shown> {
        let reply = self
            .call(conn, Method::GET, &format!("/volumes/{id}"), None)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Shown::Gone);
        }
        expect(&reply, StatusCode::OK, "GET volume")?;
        let doc: Value = serde_json::from_slice(&reply.body)?;
        let v = &doc["volume"];
        let status = v["status"].as_str().context("no volume.status")?.to_owned();
        Ok(Shown::Status(status, span(v)))
    }

    /// `DELETE /volumes/{id}` (202).
    pub async fn delete(&self, conn: &mut Conn, id: &str) -> anyhow::Result<()> {
        let reply = self
            .call(conn, Method::DELETE, &format!("/volumes/{id}"), None)
            .await?;
        expect(&reply, StatusCode::ACCEPTED, "DELETE volume")
    }

    /// Whether any of the project's volumes has `status` (one indexed query, whatever N).
    pub async fn any_in(&self, conn: &mut Conn, status: &str) -> anyhow::Result<bool> {
        let rest = format!("/volumes?status={status}&limit=1");
        let reply = self.call(conn, Method::GET, &rest, None).await?;
        expect(&reply, StatusCode::OK, "GET volumes?status")?;
        let doc: Value = serde_json::from_slice(&reply.body)?;
        Ok(!doc["volumes"]
            .as_array()
            .context("no volumes array")?
            .is_empty())
    }

    /// Every volume id of the project, oldest first (summary pages of 1,000, newest first).
    pub async fn all_ids(&self, conn: &mut Conn) -> anyhow::Result<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        loop {
            let rest = match ids.last() {
                Some(marker) => format!("/volumes?limit=1000&marker={marker}"),
                None => "/volumes?limit=1000".to_owned(),
            };
            let reply = self.call(conn, Method::GET, &rest, None).await?;
            expect(&reply, StatusCode::OK, "GET volumes")?;
            let doc: Value = serde_json::from_slice(&reply.body)?;
            let page = doc["volumes"].as_array().context("no volumes array")?;
            for v in page {
                ids.push(v["id"].as_str().context("no volume id")?.to_owned());
            }
            if page.len() < 1000 {
                ids.reverse();
                return Ok(ids);
            }
        }
    }

    /// The number of volumes on one page of `rest` (a listing path with its query).
    pub async fn page_len(&self, conn: &mut Conn, rest: &str) -> anyhow::Result<usize> {
        let reply = self.call(conn, Method::GET, rest, None).await?;
        expect(&reply, StatusCode::OK, "GET volumes listing")?;
        let doc: Value = serde_json::from_slice(&reply.body)?;
        Ok(doc["volumes"].as_array().context("no volumes array")?.len())
    }
}

pub(crate) fn expect(reply: &Reply, want: StatusCode, what: &str) -> anyhow::Result<()> {
    if reply.status != want {
        bail!(
            "{what} answered {} (expected {want}): {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    Ok(())
}

/// `updated_at - created_at` of a volume document: the server's own create time, free of the
/// client's polling resolution.
pub(crate) fn span(v: &Value) -> Option<Duration> {
    let at = |key: &str| {
        chrono::NaiveDateTime::parse_from_str(v[key].as_str()?, "%Y-%m-%dT%H:%M:%S%.f").ok()
    };
    (at("updated_at")? - at("created_at")?).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_of_a_volume_document() {
        let v = json!({"created_at": "2026-12-03T18:00:00.001000",
                       "updated_at": "2026-12-03T18:00:00.004500"});
        assert_eq!(span(&v), Some(Duration::from_micros(3500)));
        assert_eq!(span(&json!({"created_at": "2026-12-03T18:00:00"})), None);
    }
}

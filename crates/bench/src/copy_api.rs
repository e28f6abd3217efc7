//! The calls of the copies scenario: snapshot a volume, make a volume from a snapshot or a
//! clone of a volume, show and delete volumes and snapshots alike; each one request on a
//! caller's connection, with the answers it expects checked.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::http::Conn;
use crate::volume_api::{expect, span, Shown, Volumes};

/// What a copy makes: a volume or a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Volume,
    Snapshot,
}

impl Kind {
    /// The JSON key of one resource (`volume`), also the file backend's file prefix.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Snapshot => "snapshot",
        }
    }

    fn collection(self) -> &'static str {
        match self {
            Kind::Volume => "volumes",
            Kind::Snapshot => "snapshots",
        }
    }

    /// The sparse file the file backend keeps resource `id` in, under the server's data
    /// directory (the backend's `path = "volumes"`).
    pub fn file(self, data_dir: &Path, id: &str) -> PathBuf {
        data_dir
            .join("volumes")
            .join(format!("{}-{id}", self.key()))
    }
}

/// Where a new volume's data comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Snapshot(&'a str),
    Volume(&'a str),
}

impl Volumes {
    /// `POST /snapshots` (202): the new snapshot's id.
    pub async fn snapshot(&self, conn: &mut Conn, volume_id: &str) -> anyhow::Result<String> {
        let body = json!({"snapshot": {"volume_id": volume_id, "name": "bench-copies-snap"}});
        let reply = self
            .call(conn, Method::POST, "/snapshots", Some(&body))
            .await?;
        expect(&reply, StatusCode::ACCEPTED, "POST snapshots")?;
        id_of(&reply.body, Kind::Snapshot)
    }

    /// `POST /volumes` from a snapshot or a volume, the size left out (the source's) (202):
    /// the new volume's id.
    pub async fn copy(&self, conn: &mut Conn, source: Source<'_>) -> anyhow::Result<String> {
        let body = match source {
            Source::Snapshot(id) => json!({"volume": {"snapshot_id": id, "name": "bench-copy"}}),
            Source::Volume(id) => json!({"volume": {"source_volid": id, "name": "bench-copy"}}),
        };
        let reply = self
            .call(conn, Method::POST, "/volumes", Some(&body))
            .await?;
        expect(&reply, StatusCode::ACCEPTED, "POST volumes (copy)")?;
        id_of(&reply.body, Kind::Volume)
    }

    /// `GET /volumes/{id}` or `GET /snapshots/{id}`.
    pub async fn show_kind(&self, conn: &mut Conn, kind: Kind, id: &str) -> anyhow::Result<Shown> {
        let rest = format!("/{}/{id}", kind.collection());
        let reply = self.call(conn, Method::GET, &rest, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Shown::Gone);
        }
        expect(&reply, StatusCode::OK, &format!("GET {}", kind.key()))?;
        let doc: Value = serde_json::from_slice(&reply.body)?;
        let v = &doc[kind.key()];
        let status = v["status"]
            .as_str()
            .with_context(|| format!("no {}.status", kind.key()))?
            .to_owned();
        Ok(Shown::Status(status, span(v)))
    }

    /// `DELETE /volumes/{id}?cascade=true` (its snapshots go with it) or
    /// `DELETE /snapshots/{id}` (202).
    pub async fn delete_kind(&self, conn: &mut Conn, kind: Kind, id: &str) -> anyhow::Result<()> {
        let rest = match kind {
            Kind::Volume => format!("/volumes/{id}?cascade=true"),
            Kind::Snapshot => format!("/snapshots/{id}"),
        };
        let reply = self.call(conn, Method::DELETE, &rest, None).await?;
        expect(
            &reply,
            StatusCode::ACCEPTED,
            &format!("DELETE {}", kind.key()),
        )
    }
}

fn id_of(body: &[u8], kind: Kind) -> anyhow::Result<String> {
    let doc: Value = serde_json::from_slice(body)?;
    Ok(doc[kind.key()]["id"]
        .as_str()
        .with_context(|| format!("no {}.id in the create answer", kind.key()))?
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_the_file_backend() {
        let data = Path::new("/d");
        assert_eq!(
            Kind::Snapshot.file(data, "s1"),
            Path::new("/d/volumes/snapshot-s1")
        );
        assert_eq!(
            Kind::Volume.file(data, "v1"),
            Path::new("/d/volumes/volume-v1")
        );
    }
}

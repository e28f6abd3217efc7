//! The attach calls of the exports scenario (`POST /volumes/{id}/action`): reserve,
//! initialize_connection, attach, and the detach sequence; each one request on a caller's
//! connection, with the answer it expects checked.

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::http::Conn;
use crate::volume_api::{expect, Volumes};

/// What an attach hands a compute host: where the NBD export is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdExport {
    pub host: String,
    pub port: u16,
    pub name: String,
}

impl NbdExport {
    /// `nbd://HOST:PORT/NAME`, the URI qemu and libnbd take.
    pub fn uri(&self) -> String {
        format!("nbd://{}:{}/{}", self.host, self.port, self.name)
    }
}

/// What an iSCSI attach hands a compute host: the LUN and its CHAP credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IscsiExport {
    pub portal: String,
    pub iqn: String,
    pub lun: u64,
    pub user: String,
    pub password: String,
    /// The initiator name the ACL lets in.
    pub initiator: String,
}

impl IscsiExport {
    /// qemu's `--image-opts` for the LUN (libiscsi). `qemu-img bench` takes no `--object`,
    /// so the CHAP password goes in the (deprecated, still supported) `password` option.
    pub fn image_opts(&self) -> String {
        format!(
            "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal={},file.target={},\
             file.lun={},file.initiator-name={},file.user={},file.password={}",
            self.portal, self.iqn, self.lun, self.initiator, self.user, self.password
        )
    }
}

impl IscsiExport {
    /// libiscsi's URL for the LUN, CHAP credentials included (`iscsi-perf` takes no other
    /// form).
    pub fn url(&self) -> String {
        format!(
            "iscsi://{}%{}@{}/{}/{}",
            self.user, self.password, self.portal, self.iqn, self.lun
        )
    }
}

/// The connector the benchmark presents, as a compute host would.
fn connector() -> Value {
    json!({"host": "bench-host", "ip": "127.0.0.1"})
}

/// The connector of a compute host that attaches over iSCSI.
fn iscsi_connector(initiator: &str) -> Value {
    json!({"host": "bench-host", "ip": "127.0.0.1", "initiator": initiator})
}

impl Volumes {
    /// One volume action; its answer checked against `want`.
    async fn action(
        &self,
        conn: &mut Conn,
        id: &str,
        body: &Value,
        want: StatusCode,
    ) -> anyhow::Result<bytes::Bytes> {
        let rest = format!("/volumes/{id}/action");
        let reply = self.call(conn, Method::POST, &rest, Some(body)).await?;
        let what = body
            .as_object()
            .and_then(|o| o.keys().next())
            .map_or("action", String::as_str);
        expect(&reply, want, &format!("POST action {what}"))?;
        Ok(reply.body)
    }

    /// `os-reserve` (202).
    pub async fn reserve(&self, conn: &mut Conn, id: &str) -> anyhow::Result<()> {
        let body = json!({"os-reserve": null});
        self.action(conn, id, &body, StatusCode::ACCEPTED).await?;
        Ok(())
    }

    /// `os-initialize_connection` (200): the NBD export it names.
    pub async fn initialize_connection(
        &self,
        conn: &mut Conn,
        id: &str,
    ) -> anyhow::Result<NbdExport> {
        let body = json!({"os-initialize_connection": {"connector": connector()}});
        let reply = self.action(conn, id, &body, StatusCode::OK).await?;
        parse_connection_info(&serde_json::from_slice(&reply)?)
    }

    /// `os-attach` to `instance` at /dev/vdb, read-write (202).
    pub async fn attach(&self, conn: &mut Conn, id: &str, instance: &str) -> anyhow::Result<()> {
        let body = json!({"os-attach": {"instance_uuid": instance, "mountpoint": "/dev/vdb",
                                        "mode": "rw"}});
        self.action(conn, id, &body, StatusCode::ACCEPTED).await?;
        Ok(())
    }

    /// `os-initialize_connection` with an iSCSI connector for `initiator` (200): the LUN.
    pub async fn initialize_iscsi(
        &self,
        conn: &mut Conn,
        id: &str,
        initiator: &str,
    ) -> anyhow::Result<IscsiExport> {
        let body = json!({"os-initialize_connection": {"connector": iscsi_connector(initiator)}});
        let reply = self.action(conn, id, &body, StatusCode::OK).await?;
        parse_iscsi_info(&serde_json::from_slice(&reply)?, initiator)
    }

    /// `os-begin_detaching`, `os-terminate_connection`, `os-detach` (202 each).
    pub async fn detach_all(&self, conn: &mut Conn, id: &str) -> anyhow::Result<()> {
        self.detach_with(conn, id, connector()).await
    }

    /// The detach sequence of an iSCSI attachment of `initiator`.
    pub async fn detach_iscsi(
        &self,
        conn: &mut Conn,
        id: &str,
        initiator: &str,
    ) -> anyhow::Result<()> {
        self.detach_with(conn, id, iscsi_connector(initiator)).await
    }

    async fn detach_with(&self, conn: &mut Conn, id: &str, connector: Value) -> anyhow::Result<()> {
        for body in [
            json!({"os-begin_detaching": null}),
            json!({"os-terminate_connection": {"connector": connector}}),
            json!({"os-detach": {"attachment_id": null}}),
        ] {
            self.action(conn, id, &body, StatusCode::ACCEPTED).await?;
        }
        Ok(())
    }
}

/// The export of an initialize_connection answer; anything but `nbd` is refused.
fn parse_connection_info(doc: &Value) -> anyhow::Result<NbdExport> {
    let info = &doc["connection_info"];
    let kind = info["driver_volume_type"].as_str().unwrap_or("(none)");
    if kind != "nbd" {
        bail!("connection_info.driver_volume_type is {kind}, not nbd: {doc}");
    }
    let data = &info["data"];
    let field = |key: &str| {
        data[key]
            .as_str()
            .with_context(|| format!("no connection_info.data.{key} in {doc}"))
    };
    let port = data["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .with_context(|| format!("no connection_info.data.port in {doc}"))?;
    Ok(NbdExport {
        host: field("host")?.to_owned(),
        port,
        name: field("export_name")?.to_owned(),
    })
}

/// The LUN of an iSCSI initialize_connection answer (os-brick's keys).
fn parse_iscsi_info(doc: &Value, initiator: &str) -> anyhow::Result<IscsiExport> {
    let info = &doc["connection_info"];
    let kind = info["driver_volume_type"].as_str().unwrap_or("(none)");
    if kind != "iscsi" {
        bail!("connection_info.driver_volume_type is {kind}, not iscsi: {doc}");
    }
    let data = &info["data"];
    let field = |key: &str| {
        data[key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no connection_info.data.{key} in {doc}"))
    };
    Ok(IscsiExport {
        portal: field("target_portal")?,
        iqn: field("target_iqn")?,
        lun: data["target_lun"]
            .as_u64()
            .with_context(|| format!("no connection_info.data.target_lun in {doc}"))?,
        user: field("auth_username")?,
        password: field("auth_password")?,
        initiator: initiator.to_owned(),
    })
}

/// A version-4-shaped UUID made from `n` and the clock (the server only checks the form).
pub fn instance_uuid(n: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 32) as u32,
        (nanos >> 16) as u16,
        nanos & 0xfff,
        n & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_nbd_connection_info() {
        let doc = json!({"connection_info": {"driver_volume_type": "nbd", "data": {
            "host": "127.0.0.1", "port": 40123, "export_name": "x1", "tls": true}}});
        let e = parse_connection_info(&doc).unwrap();
        assert_eq!(e.uri(), "nbd://127.0.0.1:40123/x1");
        let iscsi = json!({"connection_info": {"driver_volume_type": "iscsi", "data": {}}});
        assert!(parse_connection_info(&iscsi).is_err());
        assert!(parse_iscsi_info(&doc, "iqn.x").is_err());
    }

    #[test]
    fn reads_an_iscsi_connection_info() {
        let doc = json!({"connection_info": {"driver_volume_type": "iscsi", "data": {
            "target_portal": "127.0.0.1:3260", "target_iqn": "iqn.2010-10.org.openstack:v",
            "target_lun": 1, "auth_method": "CHAP", "auth_username": "u", "auth_password": "p"}}});
        let e = parse_iscsi_info(&doc, "iqn.1993-08.org.debian:01:bench").unwrap();
        assert_eq!((e.lun, e.password.as_str()), (1, "p"));
        assert_eq!(
            e.url(),
            "iscsi://u%p@127.0.0.1:3260/iqn.2010-10.org.openstack:v/1"
        );
        assert!(e.image_opts().contains(
            "file.portal=127.0.0.1:3260,file.target=iqn.2010-10.org.openstack:v,file.lun=1,\
             file.initiator-name=iqn.1993-08.org.debian:01:bench,file.user=u,file.password=p"
        ));
    }

    #[test]
    fn instance_uuids_have_the_form() {
        let u = instance_uuid(7);
        let parts: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(u.ends_with("000000000007"));
    }
}

//! Attach over the built-in NBD server against the real binary, with QEMU's userspace initiator
//! as the compute host: an attached volume's export comes back after a restart under the same
//! name, with the data written before it, and goes away with terminate_connection.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

struct Api {
    c: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .header("x-auth-token", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self, id: &str) -> String {
        let r = self
            .c
            .get(format!("{}/volumes/{id}", self.base))
            .header("x-auth-token", &self.token)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["volume"]["status"].as_str().unwrap().to_owned()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs one qemu-io command on an NBD URL; whether it succeeded, and what it said.
fn qemu_io(url: &str, command: &str) -> (bool, String) {
    let out = Command::new("qemu-io")
        .args(["-f", "raw", "-c", command, url])
        .output()
        .expect("qemu-io (qemu-utils) is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = out.status.success()
        && !text.to_lowercase().contains("error")
        && !text.contains("Pattern verification failed");
    (ok, text)
}

async fn api(s: &Server, ca: &Path, token: Option<String>) -> (Api, String) {
    let c = client(ca);
    let (token, project) = match token {
        Some(t) => {
            // The token is still valid after a restart: only the project id is needed.
            let (_, project) = login(&c, s, "pw").await.unwrap();
            (t, project)
        }
        None => login(&c, s, "pw").await.unwrap(),
    };
    let base = format!("{}/v2/{project}", s.volume);
    (Api { c, base, token }, project)
}

#[tokio::test]
async fn an_attached_volumes_nbd_export_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ca = data.join("tls/ca.pem");
    let nbd = format!("127.0.0.1:{}", free_port());
    let s = start(data, &["--nbd-addr", &nbd], Some("pw"));
    assert!(
        s.stdout.iter().any(|l| l.contains(&format!(" nbd {nbd} "))),
        "{:?}",
        s.stdout
    );
    let (api1, _) = api(&s, &ca, None).await;

    let (st, body) = api1.post("/volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(st, 202, "{body}");
    let id = body["volume"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api1.status(&id).await != "available" {
        assert!(Instant::now() < deadline, "volume never became available");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = format!("/volumes/{id}/action");
    let action = |a: Value| api1.post(&path, a);
    assert_eq!(action(json!({"os-reserve": null})).await.0, 202);
    let connector = json!({"host": "compute-1", "ip": "127.0.0.1"});
    let (st, body) = action(json!({"os-initialize_connection": {"connector": connector}})).await;
    assert_eq!(st, 200, "{body}");
    let info = &body["connection_info"];
    assert_eq!(info["driver_volume_type"], "nbd");
    let d = &info["data"];
    let url = format!(
        "nbd://{}:{}/{}",
        d["host"].as_str().unwrap(),
        d["port"],
        d["export_name"].as_str().unwrap()
    );
    let (ok, out) = qemu_io(&url, "write -P 0x5c 0 64k");
    assert!(ok, "{out}");
    let attach = json!({"os-attach": {"instance_uuid": "7d1b4f1e-0b8c-4a55-9d55-1c8b5b3c2f10",
        "mountpoint": "/dev/vdb", "mode": "rw"}});
    assert_eq!(action(attach).await.0, 202);
    let token = api1.token.clone();
    assert!(s.terminate().success());

    // After the restart the same URL works and holds the data.
    let s = start(data, &["--nbd-addr", &nbd], None);
    let (api2, _) = api(&s, &ca, Some(token)).await;
    assert_eq!(api2.status(&id).await, "in-use");
    let (ok, out) = qemu_io(&url, "read -P 0x5c 0 64k");
    assert!(ok, "the export was not restored: {out}");

    // Terminating the connection takes it away for everyone.
    let (st, _) = api2
        .post(
            &format!("/volumes/{id}/action"),
            json!({"os-terminate_connection": {"connector": connector}}),
        )
        .await;
    assert_eq!(st, 202);
    let (ok, _) = qemu_io(&url, "read 0 4k");
    assert!(!ok, "a terminated export must not be reachable");
    assert!(s.terminate().success());
}

/// Nova asks again for the connection after Basalt moved to another NBD port: it gets the new
/// port and the same export, which holds the data.
#[tokio::test]
async fn after_a_restart_on_another_port_the_connection_info_follows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ca = data.join("tls/ca.pem");
    let first = format!("127.0.0.1:{}", free_port());
    let s = start(data, &["--nbd-addr", &first], Some("pw"));
    let (api1, _) = api(&s, &ca, None).await;
    let (_, body) = api1.post("/volumes", json!({"volume": {"size": 1}})).await;
    let id = body["volume"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api1.status(&id).await != "available" {
        assert!(Instant::now() < deadline, "volume never became available");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = format!("/volumes/{id}/action");
    let connector = json!({"host": "compute-9", "ip": "127.0.0.1"});
    let init = json!({"os-initialize_connection": {"connector": connector}});
    let (_, body) = api1.post(&path, init.clone()).await;
    let before = body["connection_info"]["data"].clone();
    let url = |d: &Value| {
        format!(
            "nbd://{}:{}/{}",
            d["host"].as_str().unwrap(),
            d["port"],
            d["export_name"].as_str().unwrap()
        )
    };
    let (ok, out) = qemu_io(&url(&before), "write -P 0x6d 0 64k");
    assert!(ok, "{out}");
    let token = api1.token.clone();
    assert!(s.terminate().success());

    let second = format!("127.0.0.1:{}", free_port());
    let s = start(data, &["--nbd-addr", &second], None);
    let (api2, _) = api(&s, &ca, Some(token)).await;
    let (st, body) = api2.post(&path, init).await;
    assert_eq!(st, 200, "{body}");
    let after = &body["connection_info"]["data"];
    assert_eq!(after["export_name"], before["export_name"]);
    assert_eq!(
        after["port"].as_u64().unwrap().to_string(),
        second.rsplit(':').next().unwrap()
    );
    let (ok, out) = qemu_io(&url(after), "read -P 0x6d 0 64k");
    assert!(ok, "{out}");
    assert!(s.terminate().success());
}

/// Runs qemu-io over iSCSI with CHAP, as the initiator `initiator`.
fn qemu_io_iscsi(data: &Value, initiator: &str, password: &str, command: &str) -> (bool, String) {
    let opts = format!(
        "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal={},file.target={},\
         file.lun={},file.initiator-name={initiator},file.user={},file.password-secret=sec0",
        data["target_portal"].as_str().unwrap(),
        data["target_iqn"].as_str().unwrap(),
        data["target_lun"],
        data["auth_username"].as_str().unwrap(),
    );
    let out = Command::new("qemu-io")
        .arg("--object")
        .arg(format!("secret,id=sec0,data={password}"))
        .arg("--image-opts")
        .arg(opts)
        .args(["-c", command])
        .output()
        .expect("qemu-io is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = out.status.success()
        && !text.to_lowercase().contains("error")
        && !text.contains("Pattern verification failed");
    (ok, text)
}

/// With `target_protocol = "iscsi"` the binary starts its own tgtd and attaches over iSCSI.
/// Skipped (with a message) where tgt is not installed, unless BASALT_REQUIRE_ISCSI=1.
#[tokio::test]
async fn a_backend_exporting_over_iscsi_attaches_through_tgt() {
    let have_tgt = Command::new("sh")
        .args(["-c", "command -v tgtd && command -v tgtadm"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_tgt {
        assert!(
            std::env::var("BASALT_REQUIRE_ISCSI").as_deref() != Ok("1"),
            "tgt is required (BASALT_REQUIRE_ISCSI=1) but not installed"
        );
        eprintln!("skipped: tgt is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let portal = format!("127.0.0.1:{}", free_port());
    // A tgt control port of this test's own (tgtd accepts 0..=32767).
    let control = 20000 + std::process::id() % 10000;
    let config = dir.path().join("basalt.toml");
    std::fs::write(
        &config,
        format!(
            "[iscsi]\nportal = \"{portal}\"\ncontrol_port = {control}\n\n[[backends]]\n\
             name = \"file\"\ntarget_protocol = \"iscsi\"\n"
        ),
    )
    .unwrap();
    let ca = data.join("tls/ca.pem");
    let cfg = config.to_str().unwrap().to_owned();
    let s = start(&data, &["--config", &cfg], Some("pw"));
    let (api1, _) = api(&s, &ca, None).await;
    let (st, body) = api1.post("/volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(st, 202, "{body}");
    let id = body["volume"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api1.status(&id).await != "available" {
        assert!(Instant::now() < deadline, "volume never became available");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = format!("/volumes/{id}/action");
    assert_eq!(api1.post(&path, json!({"os-reserve": null})).await.0, 202);
    let initiator = "iqn.2004-10.org.basalt-test:compute-1";
    let connector = json!({"host": "compute-1", "initiator": initiator, "ip": "127.0.0.1"});
    let (st, body) = api1
        .post(
            &path,
            json!({"os-initialize_connection": {"connector": connector}}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let info = &body["connection_info"];
    assert_eq!(info["driver_volume_type"], "iscsi", "{info}");
    let d = &info["data"];
    assert_eq!(
        (d["auth_method"].as_str(), d["access_mode"].as_str()),
        (Some("CHAP"), Some("rw"))
    );
    let password = d["auth_password"].as_str().unwrap().to_owned();

    let (ok, out) = qemu_io_iscsi(d, initiator, &password, "write -P 0x3c 0 64k");
    assert!(ok, "{out}");
    let (ok, out) = qemu_io_iscsi(d, initiator, &password, "read -P 0x3c 0 64k");
    assert!(ok, "{out}");
    let (ok, _) = qemu_io_iscsi(d, initiator, "wrong-password-123456", "read 0 4k");
    assert!(!ok, "a wrong CHAP password must be refused");
    let (ok, _) = qemu_io_iscsi(
        d,
        "iqn.2004-10.org.basalt-test:intruder",
        &password,
        "read 0 4k",
    );
    assert!(!ok, "an initiator outside the ACL must be refused");

    let (st, _) = api1
        .post(
            &path,
            json!({"os-terminate_connection": {"connector": connector}}),
        )
        .await;
    assert_eq!(st, 202);
    let (ok, _) = qemu_io_iscsi(d, initiator, &password, "read 0 4k");
    assert!(!ok, "a terminated target must be gone");
    // The data is in the volume's file.
    let file = data.join(format!("volumes/volume-{id}"));
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes[..65536].iter().all(|b| *b == 0x3c));
    assert!(s.terminate().success());
}

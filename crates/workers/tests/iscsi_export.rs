//! iSCSI exports through a real `tgtd`, attached by a real initiator: QEMU's userspace one
//! (`qemu-io` over libiscsi). Each test starts its own tgtd on a free port (its control port
//! too) and stops it by pid at the end.
//!
//! They need root, tgt, and qemu-io with its iSCSI driver (`qemu-block-extra`); without them
//! a test prints why and skips, unless `BASALT_REQUIRE_ISCSI=1` (scripts/test sets it after
//! installing them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use basalt_domain::ports::Export;
use basalt_storage::{BlockBackend, FileBackend};
use basalt_workers::{Backends, Protocol, TgtIscsi, TgtSettings, VolumeManager};
use serde_json::Value;
use tokio::process::Command;

const HOST_A: &str = "iqn.1994-05.com.redhat:compute-a";
const HOST_B: &str = "iqn.1994-05.com.redhat:compute-b";

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Whether the iSCSI tests can run here; panics instead of skipping when they must.
fn runnable() -> bool {
    let why = if !is_root() {
        Some("not root (tgtd needs it)".to_owned())
    } else {
        ["tgtd", "tgtadm", "qemu-io"]
            .iter()
            .find(|p| which(p).is_none())
            .map(|p| format!("{p} is not installed"))
    };
    match why {
        None => true,
        Some(why) if std::env::var_os("BASALT_REQUIRE_ISCSI").is_some_and(|v| v == "1") => {
            panic!("BASALT_REQUIRE_ISCSI=1 but the iSCSI tests cannot run: {why}")
        }
        Some(why) => {
            eprintln!("skipping: {why}");
            false
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tgt control port no other test of this run uses (tgtd takes 0..=32767).
fn control_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 1000 + (std::process::id() % 300) as u16 * 100;
    base + NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Rig {
    iscsi: TgtIscsi,
    settings: TgtSettings,
    manager: Arc<VolumeManager>,
    backend: Arc<FileBackend>,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(FileBackend::new(dir.path().join("volumes"), 1.0, 0).unwrap());
        backend.create("v", 1).await.unwrap();
        let dynb: Arc<dyn BlockBackend> = backend.clone();
        let backends: Backends = [("file".to_string(), dynb)].into_iter().collect();
        let manager = Arc::new(VolumeManager::new(backends));
        let port = free_port();
        let settings = TgtSettings {
            portal: ([127, 0, 0, 1], port).into(),
            control_port: control_port(),
            ..TgtSettings::default()
        };
        let iscsi = TgtIscsi::start(settings.clone(), manager.clone())
            .await
            .unwrap();
        assert!(iscsi.daemon_pid().await.is_some(), "the test's own tgtd");
        Rig {
            iscsi,
            settings,
            manager,
            backend,
            _dir: dir,
        }
    }

    fn file(&self) -> PathBuf {
        self.backend.local_path("v").unwrap()
    }

    async fn tgtadm(&self, args: &[&str]) -> String {
        let out = Command::new("tgtadm")
            .arg("-C")
            .arg(self.settings.control_port.to_string())
            .args(["--lld", "iscsi"])
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "tgtadm {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    async fn stop(self) {
        self.iscsi.shutdown().await;
    }
}

/// What an initiator presents.
#[derive(Clone)]
struct Login {
    portal: String,
    iqn: String,
    lun: u64,
    user: Option<String>,
    password: String,
    initiator: String,
}

impl Login {
    /// What os-brick would use from `connection_info.data`.
    fn from_data(data: &Value, initiator: &str) -> Login {
        assert_eq!(data["auth_method"], "CHAP");
        Login {
            portal: data["target_portal"].as_str().unwrap().to_owned(),
            iqn: data["target_iqn"].as_str().unwrap().to_owned(),
            lun: data["target_lun"].as_u64().unwrap(),
            user: Some(data["auth_username"].as_str().unwrap().to_owned()),
            password: data["auth_password"].as_str().unwrap().to_owned(),
            initiator: initiator.to_owned(),
        }
    }

    /// Runs qemu-io over iSCSI; whether it succeeded and what it printed.
    async fn qemu_io(&self, read_only: bool, commands: &[&str]) -> (bool, String) {
        let mut opts = format!(
            "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal={},file.target={},\
             file.lun={},file.initiator-name={}",
            self.portal, self.iqn, self.lun, self.initiator
        );
        if let Some(user) = &self.user {
            opts.push_str(&format!(",file.user={user},file.password-secret=sec0"));
        }
        let mut cmd = Command::new("qemu-io");
        cmd.arg("--object")
            .arg(format!("secret,id=sec0,data={}", self.password))
            .arg("--image-opts")
            .arg(opts);
        if read_only {
            cmd.arg("-r");
        }
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("qemu-io hung")
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("Unknown driver"),
            "qemu has no iSCSI driver (install qemu-block-extra matching qemu): {text}"
        );
        let ok = out.status.success() && !text.contains("failed") && !text.contains("error");
        (ok, text)
    }
}

fn bytes_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0; len];
    f.read_exact_at(&mut buf, offset).unwrap();
    buf
}

fn export_record(handle: Value, data: Value, read_only: bool) -> Export {
    Export {
        id: "e1".into(),
        volume_id: "v".into(),
        connector_key: HOST_A.into(),
        protocol: "iscsi".into(),
        read_only,
        handle,
        data,
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn a_write_is_read_back_over_a_second_connection_and_lands_in_the_file() {
    if !runnable() {
        return;
    }
    let rig = Rig::new().await;
    let (handle, data) = rig
        .iscsi
        .export_volume("v", "file", false, HOST_A)
        .await
        .unwrap();
    assert_eq!(data["target_discovered"], false);
    assert_eq!(
        data["target_portal"],
        format!("127.0.0.1:{}", rig.settings.portal.port())
    );
    assert_eq!(data["target_iqn"], "iqn.2010-10.org.openstack:volume-v");
    assert_eq!(data["target_lun"], 1);
    assert!(data["auth_username"].as_str().unwrap().len() >= 16);
    assert!(data["auth_password"].as_str().unwrap().len() >= 16);
    assert_eq!(handle["target_iqn"], data["target_iqn"]);

    // tgt's own view: LUN 1 is the file, the ACL is the one initiator, one account.
    let show = rig.tgtadm(&["--mode", "target", "--op", "show"]).await;
    assert!(show.contains(&format!("Backing store path: {}", rig.file().display())));
    assert!(show.contains(HOST_A) && !show.contains("ALL"), "{show}");
    assert!(show.contains(data["auth_username"].as_str().unwrap()));

    let login = Login::from_data(&data, HOST_A);
    let (ok, out) = login
        .qemu_io(false, &["write -P 0x5a 1M 64k", "flush"])
        .await;
    assert!(ok, "{out}");
    let (ok, out) = login
        .qemu_io(true, &["read -P 0x5a 1M 64k", "read -P 0 0 1M"])
        .await;
    assert!(ok, "{out}");
    assert!(bytes_at(&rig.file(), 1 << 20, 65536)
        .iter()
        .all(|b| *b == 0x5a));
    assert!(bytes_at(&rig.file(), (1 << 20) - 512, 512)
        .iter()
        .all(|b| *b == 0));

    // A second export of the same volume (another host) is another target, with other
    // credentials, and sees the same data.
    let (_, data_b) = rig
        .iscsi
        .export_volume("v", "file", true, HOST_B)
        .await
        .unwrap();
    assert_ne!(data_b["target_iqn"], data["target_iqn"]);
    assert_ne!(data_b["auth_password"], data["auth_password"]);
    let (ok, out) = Login::from_data(&data_b, HOST_B)
        .qemu_io(true, &["read -P 0x5a 1M 64k"])
        .await;
    assert!(ok, "{out}");
    rig.stop().await;
}

#[tokio::test]
async fn a_wrong_chap_password_or_an_initiator_not_in_the_acl_is_refused() {
    if !runnable() {
        return;
    }
    let rig = Rig::new().await;
    let (_, data) = rig
        .iscsi
        .export_volume("v", "file", false, HOST_A)
        .await
        .unwrap();
    let good = Login::from_data(&data, HOST_A);

    let wrong_password = Login {
        password: "not-the-password-at-all".into(),
        ..good.clone()
    };
    let (ok, out) = wrong_password.qemu_io(true, &["read 0 512"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("Authentication failure"), "{out}");

    let no_chap = Login {
        user: None,
        ..good.clone()
    };
    let (ok, out) = no_chap.qemu_io(true, &["read 0 512"]).await;
    assert!(!ok, "{out}");

    // The right credentials from a host the export was not made for.
    let other_host = Login {
        initiator: HOST_B.into(),
        ..good.clone()
    };
    let (ok, out) = other_host.qemu_io(true, &["read 0 512"]).await;
    assert!(!ok, "{out}");

    let (ok, out) = good.qemu_io(true, &["read 0 512"]).await;
    assert!(ok, "{out}");
    rig.stop().await;
}

#[tokio::test]
async fn a_read_only_export_refuses_writes() {
    if !runnable() {
        return;
    }
    let rig = Rig::new().await;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(rig.file())
            .unwrap();
        f.write_all_at(&[0x11; 4096], 0).unwrap();
    }
    let (handle, data) = rig
        .iscsi
        .export_volume("v", "file", true, HOST_A)
        .await
        .unwrap();
    assert_eq!(handle["read_only"], true);
    let login = Login::from_data(&data, HOST_A);
    let (ok, out) = login.qemu_io(false, &["write -P 0x22 0 4k"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("write protected"), "{out}");
    let (ok, out) = login.qemu_io(true, &["read -P 0x11 0 4k"]).await;
    assert!(ok, "{out}");
    assert!(bytes_at(&rig.file(), 0, 4096).iter().all(|b| *b == 0x11));
    rig.stop().await;
}

#[tokio::test]
async fn after_unexport_the_target_is_gone_and_restore_brings_it_back_with_the_same_credentials() {
    if !runnable() {
        return;
    }
    let mut rig = Rig::new().await;
    let (handle, data) = rig
        .iscsi
        .export_volume("v", "file", false, HOST_A)
        .await
        .unwrap();
    let login = Login::from_data(&data, HOST_A);
    let (ok, out) = login.qemu_io(false, &["write -P 0x77 0 4k"]).await;
    assert!(ok, "{out}");
    let export = export_record(handle.clone(), data.clone(), false);

    rig.iscsi.unexport(&export).await.unwrap();
    let (ok, out) = login.qemu_io(true, &["read 0 4k"]).await;
    assert!(!ok, "{out}");
    assert!(!rig
        .tgtadm(&["--mode", "target", "--op", "show"])
        .await
        .contains(data["target_iqn"].as_str().unwrap()));
    assert!(!rig
        .tgtadm(&["--mode", "account", "--op", "show"])
        .await
        .contains(data["auth_username"].as_str().unwrap()));
    // Again: already gone is fine.
    rig.iscsi.unexport(&export).await.unwrap();

    rig.iscsi
        .restore_handle("v", "file", false, &handle)
        .await
        .unwrap();
    let (ok, out) = login.qemu_io(true, &["read -P 0x77 0 4k"]).await;
    assert!(ok, "{out}");
    let show = rig.tgtadm(&["--mode", "target", "--op", "show"]).await;
    assert!(
        show.contains(&format!(
            "Target {}: {}",
            handle["tid"],
            data["target_iqn"].as_str().unwrap()
        )),
        "{show}"
    );
    // Restoring what exists changes nothing.
    rig.iscsi
        .restore_handle("v", "file", false, &handle)
        .await
        .unwrap();
    assert_eq!(
        rig.tgtadm(&["--mode", "target", "--op", "show"]).await,
        show
    );

    // tgtd itself restarted: everything is made again from the handle.
    rig.iscsi.shutdown().await;
    rig.iscsi = TgtIscsi::start(rig.settings.clone(), rig.manager.clone())
        .await
        .unwrap();
    let (ok, out) = login.qemu_io(true, &["read 0 4k"]).await;
    assert!(!ok, "{out}");
    rig.iscsi
        .restore_handle("v", "file", false, &handle)
        .await
        .unwrap();
    let (ok, out) = login
        .qemu_io(false, &["read -P 0x77 0 4k", "write -P 0x78 4k 4k"])
        .await;
    assert!(ok, "{out}");
    assert!(bytes_at(&rig.file(), 4096, 4096).iter().all(|b| *b == 0x78));
    rig.stop().await;
}

#[tokio::test]
async fn exporting_needs_the_connectors_initiator_and_the_volumes_file() {
    if !runnable() {
        return;
    }
    let rig = Rig::new().await;
    assert!(rig
        .iscsi
        .export_volume("v", "file", false, "--force")
        .await
        .is_err());
    let e = rig
        .iscsi
        .export_volume("missing", "file", false, HOST_A)
        .await
        .unwrap_err();
    assert!(e.contains("no file"), "{e}");
    let e = rig
        .iscsi
        .export_volume("v", "nope", false, HOST_A)
        .await
        .unwrap_err();
    assert!(e.contains("not configured"), "{e}");
    assert!(!rig
        .tgtadm(&["--mode", "target", "--op", "show"])
        .await
        .contains("Target"));
    rig.stop().await;
}

#[tokio::test]
async fn start_fails_at_once_when_tgt_is_missing_or_the_port_is_taken() {
    let manager = Arc::new(VolumeManager::new(Backends::new()));
    let e = TgtIscsi::start(
        TgtSettings {
            control_port: 40000,
            ..TgtSettings::default()
        },
        manager.clone(),
    )
    .await
    .err()
    .expect("control port out of range");
    assert!(e.contains("out of range"), "{e}");
    let missing = TgtSettings {
        tgtadm: "/nonexistent/tgtadm".into(),
        control_port: control_port(),
        ..TgtSettings::default()
    };
    let e = TgtIscsi::start(missing, manager.clone())
        .await
        .err()
        .expect("no tgtadm");
    assert!(
        e.contains("/nonexistent/tgtadm") && e.contains("'tgt'"),
        "{e}"
    );
    let missing = TgtSettings {
        tgtd: "basalt-no-such-tgtd".into(),
        control_port: control_port(),
        ..TgtSettings::default()
    };
    if which("tgtadm").is_some() {
        let e = TgtIscsi::start(missing, manager.clone())
            .await
            .err()
            .expect("no tgtd");
        assert!(e.contains("not installed"), "{e}");
    }

    if !runnable() {
        return;
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let settings = TgtSettings {
        portal: ([127, 0, 0, 1], port).into(),
        control_port: control_port(),
        ..TgtSettings::default()
    };
    let e = TgtIscsi::start(settings, manager)
        .await
        .err()
        .expect("port taken");
    assert!(e.contains("could not listen"), "{e}");
}

#[tokio::test]
async fn a_running_tgtd_is_used_and_made_to_listen_on_the_portal() {
    if !runnable() {
        return;
    }
    let rig = Rig::new().await;
    let settings = TgtSettings {
        portal: ([127, 0, 0, 1], free_port()).into(),
        ..rig.settings.clone()
    };
    let second = TgtIscsi::start(settings.clone(), rig.manager.clone())
        .await
        .unwrap();
    assert_eq!(second.daemon_pid().await, None, "it found the rig's tgtd");
    let portals = rig.tgtadm(&["--mode", "portal", "--op", "show"]).await;
    assert!(portals.contains(&settings.portal.to_string()), "{portals}");
    let (_, data) = second
        .export_volume("v", "file", true, HOST_A)
        .await
        .unwrap();
    assert_eq!(data["target_portal"], settings.portal.to_string());
    let (ok, out) = Login::from_data(&data, HOST_A)
        .qemu_io(true, &["read -P 0 0 4k"])
        .await;
    assert!(ok, "{out}");
    // Not its tgtd to stop.
    second.shutdown().await;
    assert!(rig.iscsi.daemon_pid().await.is_some());
    rig.tgtadm(&["--mode", "target", "--op", "show"]).await;
    rig.stop().await;
}

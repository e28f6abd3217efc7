//! iSCSI exports through the userspace target `tgt` (`tgtd`, driven with `tgtadm`), what
//! os-brick's iSCSI connector attaches.
//!
//! Every export is its own target: the volume's file as LUN 1 (`bstype rdwr`, write-protected
//! for read-only exports), an ACL naming the connector's initiator only, and a CHAP account
//! made for it alone, random user and password. The handle keeps the target name, tid and
//! credentials, so that a restore after a restart (of Basalt or of tgtd) gives the compute host
//! the same target with the same credentials. Target names are Cinder's
//! (`iqn.2010-10.org.openstack:volume-<id>`); a second export of the same volume (another
//! connector, or read-only) gets `-<tid>` appended.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use basalt_domain::ports::Export;
use basalt_domain::volume::Volume;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::exporter::Protocol;
use crate::iscsi_tgt::{locate, parse_accounts, parse_portals, parse_targets, Daemon};
use crate::iscsi_tgt::{TargetInfo, Tgtadm};
use crate::manager::VolumeManager;

/// The LUN the volume is; LUN 0 is tgt's controller.
const LUN: u32 = 1;

/// The largest control port tgtd accepts.
pub const MAX_CONTROL_PORT: u16 = 32767;

/// How `TgtIscsi` reaches (or starts) its tgtd and names its targets.
#[derive(Debug, Clone)]
pub struct TgtSettings {
    /// Where tgtd listens for initiators.
    pub portal: SocketAddr,
    /// What connectors are told to dial (`target_portal`), when not `portal` (a wildcard
    /// `portal`, or NAT).
    pub advertised_portal: Option<String>,
    /// Target names are `<prefix>volume-<id>`.
    pub iqn_prefix: String,
    /// `tgtadm`, as a path or a name looked up in `PATH` and the sbin directories.
    pub tgtadm: PathBuf,
    /// `tgtd`, the same way; started when no tgtd answers on `control_port`.
    pub tgtd: PathBuf,
    /// tgtd's management channel (`tgtd -C`, `tgtadm -C`; socket `/var/run/tgtd/socket.<n>`),
    /// at most [`MAX_CONTROL_PORT`].
    pub control_port: u16,
    /// tgt's low-level driver.
    pub lld: String,
    /// The longest one `tgtadm` call may take.
    pub command_timeout: Duration,
    /// The longest a started tgtd may take to answer.
    pub start_timeout: Duration,
}

impl Default for TgtSettings {
    fn default() -> Self {
        TgtSettings {
            portal: SocketAddr::from(([127, 0, 0, 1], 3260)),
            advertised_portal: None,
            iqn_prefix: "iqn.2010-10.org.openstack:".into(),
            tgtadm: "tgtadm".into(),
            tgtd: "tgtd".into(),
            control_port: 0,
            lld: "iscsi".into(),
            command_timeout: Duration::from_secs(10),
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// The iSCSI export protocol over tgt.
pub struct TgtIscsi {
    settings: TgtSettings,
    tgtadm: Tgtadm,
    manager: Arc<VolumeManager>,
    /// Serialises changes to tgtd's configuration: a tid is chosen and taken as one step.
    changes: Mutex<()>,
    /// The tgtd this process started, if it did (killed on shutdown or drop).
    daemon: Mutex<Option<Daemon>>,
}

/// What one export is, as kept in its handle.
#[derive(Debug, Clone)]
struct Record {
    tid: u32,
    name: String,
    initiator: String,
    user: String,
    password: String,
    read_only: bool,
}

impl Record {
    fn handle(&self) -> Value {
        json!({
            "tid": self.tid,
            "target_iqn": self.name,
            "target_lun": LUN,
            "initiator": self.initiator,
            "auth_username": self.user,
            "auth_password": self.password,
            "read_only": self.read_only,
        })
    }

    fn from_handle(h: &Value, read_only: bool) -> Result<Record, String> {
        let s = |k: &str| {
            h.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("the iSCSI export handle has no '{k}'"))
        };
        Ok(Record {
            tid: h
                .get("tid")
                .and_then(Value::as_u64)
                .and_then(|t| u32::try_from(t).ok())
                .ok_or("the iSCSI export handle has no 'tid'")?,
            name: s("target_iqn")?,
            initiator: s("initiator")?,
            user: s("auth_username")?,
            password: s("auth_password")?,
            read_only,
        })
    }
}

/// `n` random lowercase hex digits (from v4 UUIDs: the OS's random generator).
fn random_hex(n: usize) -> String {
    let mut s = String::with_capacity(n + 32);
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(n);
    s
}

/// An initiator name fit for an ACL: an IQN, EUI or NAA name, passed to tgtadm as an argument.
fn check_initiator(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 223
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid iSCSI initiator name"))
    }
}

impl TgtIscsi {
    /// Connects to the tgtd on `settings.control_port`, starting one (listening on
    /// `settings.portal`) when none answers, and makes sure it listens on the portal. Fails,
    /// without waiting, when tgt is not installed.
    pub async fn start(settings: TgtSettings, manager: Arc<VolumeManager>) -> Result<Self, String> {
        if settings.iqn_prefix.is_empty()
            || settings
                .iqn_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "'{}' is not a usable IQN prefix",
                settings.iqn_prefix
            ));
        }
        if settings.control_port > MAX_CONTROL_PORT {
            return Err(format!(
                "tgt control port {} is out of range (0..={MAX_CONTROL_PORT})",
                settings.control_port
            ));
        }
        let tgtadm = Tgtadm {
            program: locate(&settings.tgtadm, "tgt")?,
            control_port: settings.control_port,
            lld: settings.lld.clone(),
            timeout: settings.command_timeout,
        };
        let this = TgtIscsi {
            tgtadm,
            manager,
            changes: Mutex::new(()),
            daemon: Mutex::new(None),
            settings,
        };
        match this.tgtadm.run(&["--mode", "target", "--op", "show"]).await {
            Ok(_) => this.adopt().await?,
            Err(probe) => {
                tracing::debug!(%probe, "no tgtd answers; starting one");
                this.spawn().await?;
            }
        }
        tracing::info!(
            portal = %this.settings.portal,
            control_port = this.settings.control_port,
            started = this.daemon_pid().await.is_some(),
            "iSCSI exports through tgt"
        );
        Ok(this)
    }

    /// A tgtd already runs: it must listen on the portal, which is added if missing.
    async fn adopt(&self) -> Result<(), String> {
        let portal = self.settings.portal;
        if self.portals().await?.contains(&portal) {
            return Ok(());
        }
        let param = format!("portal={portal}");
        self.tgtadm
            .run(&["--mode", "portal", "--op", "new", "--param", &param])
            .await
            .map_err(|e| {
                format!(
                    "the tgtd on control port {} does not listen on {portal} and cannot be made to: {e}",
                    self.settings.control_port
                )
            })?;
        Ok(())
    }

    async fn spawn(&self) -> Result<(), String> {
        let s = &self.settings;
        let program = locate(&s.tgtd, "tgt")?;
        let mut d = Daemon::spawn(&program, s.portal, s.control_port)?;
        let deadline = Instant::now() + s.start_timeout;
        loop {
            if let Some(status) = d.exited() {
                // Give the stderr reader a moment to catch the last words.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(format!(
                    "tgtd (control port {}) exited at start ({status}): {}",
                    s.control_port,
                    d.log_tail()
                ));
            }
            match self.tgtadm.run(&["--mode", "target", "--op", "show"]).await {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => {
                    let tail = d.log_tail();
                    d.stop().await;
                    return Err(format!(
                        "tgtd did not answer within {:?}: {e}; tgtd said: {tail}",
                        s.start_timeout
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        // tgtd that cannot bind its portal logs it, falls back to the wildcard port 3260 and
        // carries on; that is not an export service to keep.
        let portals = match self.portals().await {
            Ok(p) => p,
            Err(e) => {
                d.stop().await;
                return Err(e);
            }
        };
        if !portals.contains(&s.portal) {
            let tail = d.log_tail();
            d.stop().await;
            return Err(format!(
                "tgtd could not listen on {} (is the port in use?): {tail}",
                s.portal
            ));
        }
        *self.daemon.lock().await = Some(d);
        Ok(())
    }

    /// The pid of the tgtd this process started, if it started one.
    pub async fn daemon_pid(&self) -> Option<u32> {
        self.daemon.lock().await.as_ref().and_then(Daemon::pid)
    }

    /// Stops the tgtd this process started (its sessions end); a tgtd found running is left.
    pub async fn shutdown(&self) {
        if let Some(d) = self.daemon.lock().await.take() {
            d.stop().await;
        }
    }

    /// The portal connectors dial.
    pub fn target_portal(&self) -> String {
        self.settings
            .advertised_portal
            .clone()
            .unwrap_or_else(|| self.settings.portal.to_string())
    }

    async fn portals(&self) -> Result<Vec<SocketAddr>, String> {
        let out = self
            .tgtadm
            .run(&["--mode", "portal", "--op", "show"])
            .await?;
        Ok(parse_portals(&out))
    }

    async fn targets(&self) -> Result<Vec<TargetInfo>, String> {
        let out = self
            .tgtadm
            .run(&["--mode", "target", "--op", "show"])
            .await?;
        Ok(parse_targets(&out))
    }

    async fn accounts(&self) -> Result<Vec<String>, String> {
        let out = self
            .tgtadm
            .run(&["--mode", "account", "--op", "show"])
            .await?;
        Ok(parse_accounts(&out))
    }

    /// The volume's file for the target. tgt writes it directly, so the backend stops
    /// trusting the writes it tracked (see `BlockBackend::forget_changes`).
    async fn path(&self, volume_id: &str, backend: &str) -> Result<PathBuf, String> {
        let b = self
            .manager
            .backend(backend)
            .ok_or_else(|| format!("backend '{backend}' is not configured on this host"))?;
        let path = b.local_path(volume_id).ok_or_else(|| {
            format!("backend '{backend}' has no local file for its volumes to export over iSCSI")
        })?;
        if !path.exists() {
            return Err(format!(
                "volume {volume_id} has no file at {}",
                path.display()
            ));
        }
        b.forget_changes(volume_id)
            .await
            .map_err(|e| format!("volume {volume_id}: {e}"))?;
        Ok(path)
    }

    /// Exports the volume to the connector (os-brick's): its `initiator` is let in.
    pub async fn export_for(
        &self,
        volume: &Volume,
        backend: &str,
        read_only: bool,
        connector: &Value,
    ) -> Result<(Value, Value), String> {
        let initiator = connector
            .get("initiator")
            .and_then(Value::as_str)
            .ok_or("the connector has no iSCSI initiator name ('initiator')")?;
        self.export_volume(&volume.id, backend, read_only, initiator)
            .await
    }

    /// Exports the volume to one initiator: a new target with the volume as LUN 1, that
    /// initiator alone in its ACL, and a new CHAP account. Returns the handle to keep and the
    /// `connection_info.data` for the connector.
    pub async fn export_volume(
        &self,
        volume_id: &str,
        backend: &str,
        read_only: bool,
        initiator: &str,
    ) -> Result<(Value, Value), String> {
        check_initiator(initiator)?;
        let path = self.path(volume_id, backend).await?;
        let _changing = self.changes.lock().await;
        let targets = self.targets().await?;
        let tid = targets.iter().map(|t| t.tid).max().unwrap_or(0) + 1;
        let base = format!("{}volume-{volume_id}", self.settings.iqn_prefix);
        let name = if targets.iter().any(|t| t.name == base) {
            format!("{base}-{tid}")
        } else {
            base
        };
        let record = Record {
            tid,
            name,
            initiator: initiator.to_owned(),
            user: random_hex(20),
            password: random_hex(32),
            read_only,
        };
        if let Err(e) = self.build(&record, &path, None, false).await {
            if let Err(undo) = self.remove(&record.name, &record.user).await {
                tracing::warn!(target = %record.name, %undo, "a half-made iSCSI target remains");
            }
            return Err(format!(
                "volume {volume_id} cannot be exported over iSCSI: {e}"
            ));
        }
        tracing::info!(volume_id, target = %record.name, tid, initiator, read_only, "iSCSI export");
        Ok((record.handle(), self.data(&record)))
    }

    fn data(&self, r: &Record) -> Value {
        json!({
            "target_discovered": false,
            "target_portal": self.target_portal(),
            "target_iqn": r.name,
            "target_lun": LUN,
            "auth_method": "CHAP",
            "auth_username": r.user,
            "auth_password": r.password,
        })
    }

    /// Brings the target to what the record says, making what is missing: the target (at
    /// `record.tid`), the LUN, its write protection, the ACL, the account and its binding.
    async fn build(
        &self,
        r: &Record,
        path: &std::path::Path,
        existing: Option<&TargetInfo>,
        account_exists: bool,
    ) -> Result<(), String> {
        let tid = existing.map_or(r.tid, |t| t.tid).to_string();
        let tid = tid.as_str();
        let adm = &self.tgtadm;
        if existing.is_none() {
            adm.run(&[
                "--mode",
                "target",
                "--op",
                "new",
                "--tid",
                tid,
                "--targetname",
                &r.name,
            ])
            .await?;
        }
        let lun = LUN.to_string();
        let lun = lun.as_str();
        let current = existing.and_then(|t| t.lun(LUN));
        match current {
            Some(l) if l.path.as_deref() != path.to_str() => {
                return Err(format!(
                    "target {} serves {} as LUN {LUN}, not {}",
                    r.name,
                    l.path.as_deref().unwrap_or("nothing"),
                    path.display()
                ));
            }
            Some(_) => {}
            None => {
                let path = path
                    .to_str()
                    .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
                adm.run(&[
                    "--mode",
                    "logicalunit",
                    "--op",
                    "new",
                    "--tid",
                    tid,
                    "--lun",
                    lun,
                    "--backing-store",
                    path,
                    "--bstype",
                    "rdwr",
                ])
                .await?;
            }
        }
        // A new LUN is writable; nobody can log in before the ACL below exists.
        if current.map_or(r.read_only, |l| l.readonly != r.read_only) {
            let param = format!("readonly={}", u8::from(r.read_only));
            adm.run(&[
                "--mode",
                "logicalunit",
                "--op",
                "update",
                "--tid",
                tid,
                "--lun",
                lun,
                "--params",
                &param,
            ])
            .await?;
        }
        if !existing.is_some_and(|t| t.acls.contains(&r.initiator)) {
            adm.run(&[
                "--mode",
                "target",
                "--op",
                "bind",
                "--tid",
                tid,
                "--initiator-name",
                &r.initiator,
            ])
            .await?;
        }
        if !account_exists {
            adm.run(&[
                "--mode",
                "account",
                "--op",
                "new",
                "--user",
                &r.user,
                "--password",
                &r.password,
            ])
            .await?;
        }
        if !existing.is_some_and(|t| t.accounts.contains(&r.user)) {
            adm.run(&[
                "--mode", "account", "--op", "bind", "--tid", tid, "--user", &r.user,
            ])
            .await?;
        }
        Ok(())
    }

    /// Deletes the target named `name` (closing its sessions) and the account `user`; what is
    /// already gone is fine.
    async fn remove(&self, name: &str, user: &str) -> Result<(), String> {
        if let Some(t) = self.targets().await?.into_iter().find(|t| t.name == name) {
            let tid = t.tid.to_string();
            match self
                .tgtadm
                .run(&[
                    "--mode", "target", "--op", "delete", "--force", "--tid", &tid,
                ])
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        match self
            .tgtadm
            .run(&["--mode", "account", "--op", "delete", "--user", user])
            .await
        {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Takes an export back: its target goes, with any session on it, and so does its account.
    pub async fn unexport_handle(&self, handle: &Value) -> Result<(), String> {
        let r = Record::from_handle(handle, false)?;
        let _changing = self.changes.lock().await;
        self.remove(&r.name, &r.user).await?;
        tracing::info!(target = %r.name, "iSCSI export removed");
        Ok(())
    }

    /// Makes an export as its handle describes it again (after tgtd or Basalt restarted):
    /// same target name, the same tid when free, same ACL and credentials. What still exists
    /// is kept, so sessions on a surviving target go on.
    pub async fn restore_handle(
        &self,
        volume_id: &str,
        backend: &str,
        read_only: bool,
        handle: &Value,
    ) -> Result<(), String> {
        let mut r = Record::from_handle(handle, read_only)?;
        check_initiator(&r.initiator)?;
        let path = self.path(volume_id, backend).await?;
        let _changing = self.changes.lock().await;
        let targets = self.targets().await?;
        let existing = targets.iter().find(|t| t.name == r.name);
        if existing.is_none() && targets.iter().any(|t| t.tid == r.tid) {
            // The tid is only tgt's; initiators know the name.
            r.tid = targets.iter().map(|t| t.tid).max().unwrap_or(0) + 1;
        }
        let account_exists = self.accounts().await?.contains(&r.user);
        self.build(&r, &path, existing, account_exists)
            .await
            .map_err(|e| format!("the iSCSI export {} cannot be restored: {e}", r.name))?;
        tracing::info!(volume_id, target = %r.name, tid = r.tid, "iSCSI export restored");
        Ok(())
    }
}

#[basalt_domain::async_trait]
impl Protocol for TgtIscsi {
    fn name(&self) -> &'static str {
        "iscsi"
    }

    async fn export(
        &self,
        volume: &Volume,
        backend: &str,
        read_only: bool,
        connector: &Value,
    ) -> Result<(Value, Value), String> {
        self.export_for(volume, backend, read_only, connector).await
    }

    async fn unexport(&self, export: &Export) -> Result<(), String> {
        self.unexport_handle(&export.handle).await
    }

    async fn restore(
        &self,
        volume: &Volume,
        backend: &str,
        export: &Export,
    ) -> Result<Option<Value>, String> {
        self.restore_handle(&volume.id, backend, export.read_only, &export.handle)
            .await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_random_hex_of_the_length_asked() {
        let a = random_hex(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(32));
        assert_eq!(random_hex(40).len(), 40);
    }

    #[test]
    fn initiator_names_are_checked() {
        assert!(check_initiator("iqn.1994-05.com.redhat:abc123").is_ok());
        assert!(check_initiator("").is_err());
        assert!(check_initiator("--force").is_err());
        assert!(check_initiator("iqn.x y").is_err());
    }

    #[test]
    fn a_handle_round_trips() {
        let r = Record {
            tid: 7,
            name: "iqn.x:volume-1".into(),
            initiator: "iqn.y:h".into(),
            user: "u".into(),
            password: "p".into(),
            read_only: true,
        };
        let back = Record::from_handle(&r.handle(), true).unwrap();
        assert_eq!(
            (
                back.tid,
                back.name,
                back.initiator,
                back.user,
                back.password
            ),
            (7, r.name, r.initiator, r.user, r.password)
        );
        assert!(Record::from_handle(&json!({"tid": 1}), false).is_err());
    }
}

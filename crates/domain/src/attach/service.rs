//! The attach service: each call of the legacy attach and detach sequence is a compare-and-swap
//! of the volume (and its attachments and admin metadata, in the same transaction); exports go
//! through the [`Exporter`] port and are recorded so that they can be undone or restored.

use std::sync::Arc;

use chrono::Utc;

use super::connector::{connector_key, ConnectionInfo};
use crate::error::DomainError;
use crate::ports::{Export, ExportStore, Exporter, Transition, VolumeStore};
use crate::volume::{AttachStatus, Attachment, Volume, VolumeStatus};
use crate::Caller;

/// `os-attach`: who attaches the volume, where, and how.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub instance_uuid: Option<String>,
    pub host_name: Option<String>,
    pub mountpoint: String,
    /// `rw` or `ro` (already validated).
    pub mode: String,
}

pub struct AttachService {
    volumes: Arc<dyn VolumeStore>,
    exports: Arc<dyn ExportStore>,
    exporter: Arc<dyn Exporter>,
    /// Front-end QoS specs go into `connection_info` when known.
    qos: Option<Arc<crate::qos::QosService>>,
}

fn maintenance(v: &Volume, what: &str) -> Result<(), DomainError> {
    if v.status == VolumeStatus::Maintenance {
        return Err(DomainError::InvalidVolume(format!(
            "The volume {what} in maintenance mode."
        )));
    }
    Ok(())
}

fn read_only(v: &Volume) -> bool {
    v.admin_metadata.get("readonly").map(String::as_str) == Some("True")
}

impl AttachService {
    pub fn new(
        volumes: Arc<dyn VolumeStore>,
        exports: Arc<dyn ExportStore>,
        exporter: Arc<dyn Exporter>,
    ) -> Self {
        AttachService {
            volumes,
            exports,
            exporter,
            qos: None,
        }
    }

    pub fn with_qos(mut self, qos: Arc<crate::qos::QosService>) -> Self {
        self.qos = Some(qos);
        self
    }

    /// `connection_info.data.qos_specs`: what the host must enforce (null when nothing).
    async fn front_end_qos(&self, v: &Volume) -> Result<serde_json::Value, DomainError> {
        let Some(q) = &self.qos else {
            return Ok(serde_json::Value::Null);
        };
        Ok(match q.front_end_specs(&v.volume_type_id, v.size).await? {
            Some(specs) => serde_json::to_value(specs).unwrap_or_default(),
            None => serde_json::Value::Null,
        })
    }

    async fn get(&self, caller: &Caller, id: &str) -> Result<Volume, DomainError> {
        crate::volume::service::visible_volume(self.volumes.as_ref(), caller, id).await
    }

    /// `os-reserve`: `available` (or `in-use` for a multiattach volume) → `attaching`.
    pub async fn reserve(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        let from: &[VolumeStatus] = if v.multiattach {
            &[VolumeStatus::Available, VolumeStatus::InUse]
        } else {
            &[VolumeStatus::Available]
        };
        // A migrating volume's data must not change until it has moved.
        let mut t = Transition::new(id, from, VolumeStatus::Attaching);
        t.require_not_migrating = true;
        if self.volumes.transition(&t).await? {
            return Ok(());
        }
        let now = self.get(caller, id).await?;
        if now.is_migrating() {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} is migrating; it can be reserved once the migration ends."
            )));
        }
        let expected = if v.multiattach {
            "available or in-use"
        } else {
            "available"
        };
        Err(DomainError::InvalidVolume(format!(
            "Volume status must be {expected} to reserve, but the status is {}.",
            now.status.shown()
        )))
    }

    /// `os-unreserve`: `attaching` → `in-use` when attachments remain, else `available`; a
    /// volume that is not `attaching` is left alone (Cinder's no-op).
    pub async fn unreserve(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        if v.status != VolumeStatus::Attaching {
            return Ok(());
        }
        let to = if v.attachments.is_empty() {
            VolumeStatus::Available
        } else {
            VolumeStatus::InUse
        };
        self.volumes
            .transition(&Transition::new(id, &[VolumeStatus::Attaching], to))
            .await?;
        Ok(())
    }

    /// `os-begin_detaching`: `in-use` and attached → `detaching`.
    pub async fn begin_detaching(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        let mut t = Transition::new(id, &[VolumeStatus::InUse], VolumeStatus::Detaching);
        t.require_not_migrating = true;
        if v.attach_status == AttachStatus::Attached && self.volumes.transition(&t).await? {
            return Ok(());
        }
        // During a migration Cinder keeps the status and answers success.
        if self.get(caller, id).await?.is_migrating() {
            return Ok(());
        }
        Err(DomainError::InvalidVolume(
            "Unable to detach volume. Volume status must be 'in-use' and attach_status must be \
             'attached' to detach."
                .into(),
        ))
    }

    /// `os-roll_detaching`: `detaching` → `in-use`; anything else is left alone.
    pub async fn roll_detaching(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        let t = Transition::new(id, &[VolumeStatus::Detaching], VolumeStatus::InUse);
        self.volumes.transition(&t).await?;
        Ok(())
    }

    /// `os-initialize_connection`: exports the volume to the connector (once per connector:
    /// asking again returns the same export) and says how to reach it.
    pub async fn initialize_connection(
        &self,
        caller: &Caller,
        id: &str,
        connector: &serde_json::Value,
    ) -> Result<ConnectionInfo, DomainError> {
        let v = self.get(caller, id).await?;
        maintenance(&v, "connection cannot be initialized")?;
        let key = connector_key(connector)?;
        if !matches!(
            v.status,
            VolumeStatus::Available
                | VolumeStatus::Attaching
                | VolumeStatus::InUse
                | VolumeStatus::Detaching
                | VolumeStatus::Reserved
        ) {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} cannot be exported while its status is {}.",
                v.status.shown()
            )));
        }
        let ro = read_only(&v);
        if let Some(e) = self
            .exports
            .exports_of_volume(id)
            .await?
            .into_iter()
            .find(|e| e.connector_key == key && e.read_only == ro)
        {
            return Ok(info(&e, v.encrypted, self.front_end_qos(&v).await?));
        }
        let grant = self
            .exporter
            .export(&v, ro, connector)
            .await
            .map_err(|why| {
                DomainError::Storage(format!(
                    "Unable to fetch connection information from backend: {why}"
                ))
            })?;
        let export = Export {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: id.to_owned(),
            connector_key: key,
            protocol: grant.protocol,
            read_only: ro,
            handle: grant.handle,
            data: grant.data,
            created_at: Utc::now(),
        };
        if let Err(e) = self.exports.add_export(&export).await {
            // Not recorded, so it must not stay reachable either.
            let _ = self.exporter.unexport(&export).await;
            return Err(e.into());
        }
        Ok(info(&export, v.encrypted, self.front_end_qos(&v).await?))
    }

    /// `os-terminate_connection`: removes the connector's exports (dropping its sessions),
    /// then unreserves, as Cinder does.
    pub async fn terminate_connection(
        &self,
        caller: &Caller,
        id: &str,
        connector: &serde_json::Value,
    ) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        // Cinder accepts a null or string connector here; only an object names one.
        let key = connector_key(connector).ok();
        for e in self.exports.exports_of_volume(id).await? {
            if key.is_none() || key.as_deref() == Some(e.connector_key.as_str()) {
                self.remove(&e).await?;
            }
        }
        self.unreserve(caller, id).await
    }

    async fn remove(&self, e: &Export) -> Result<(), DomainError> {
        self.exporter.unexport(e).await.map_err(|why| {
            DomainError::Storage(format!("Unable to terminate the volume connection: {why}"))
        })?;
        self.exports.remove_export(&e.id).await?;
        Ok(())
    }

    /// `os-attach`: records the attachment; the volume goes `in-use` and `attached`.
    pub async fn attach(
        &self,
        caller: &Caller,
        id: &str,
        req: AttachRequest,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        maintenance(&v, "cannot be attached")?;
        if read_only(&v) && req.mode != "ro" {
            return Err(DomainError::InvalidVolume(format!(
                "Invalid attaching mode '{}' for volume {id}.",
                req.mode
            )));
        }
        let mut from = vec![VolumeStatus::Attaching, VolumeStatus::Available];
        if v.multiattach {
            from.push(VolumeStatus::InUse);
        } else if !v.attachments.is_empty() || v.status == VolumeStatus::InUse {
            return Err(DomainError::InvalidVolume(format!(
                "Volume {id} is already attached and is not multiattach."
            )));
        }
        let mut t = Transition::new(id, &from, VolumeStatus::InUse);
        t.changes.attach_status = Some(AttachStatus::Attached);
        t.changes.admin_metadata = vec![
            ("attached_mode".into(), Some(req.mode.clone())),
            (
                "readonly".into(),
                Some(if read_only(&v) { "True" } else { "False" }.into()),
            ),
        ];
        t.changes.add_attachment = Some(Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            instance_uuid: req.instance_uuid,
            attached_host: req.host_name,
            mountpoint: Some(req.mountpoint),
            mode: req.mode,
            attached_at: Some(Utc::now()),
        });
        if self.volumes.transition(&t).await? {
            return Ok(());
        }
        let now = self.get(caller, id).await?;
        Err(DomainError::InvalidVolume(format!(
            "Volume {id} cannot be attached while its status is {}.",
            now.status.shown()
        )))
    }

    /// `os-detach`: removes one attachment (the only one when none is named); the last one
    /// leaves the volume `available` and `detached`.
    pub async fn detach(
        &self,
        caller: &Caller,
        id: &str,
        attachment_id: Option<&str>,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        maintenance(&v, "cannot be detached")?;
        self.remove_attachment(
            &v,
            attachment_id,
            &[VolumeStatus::InUse, VolumeStatus::Detaching],
        )
        .await
    }

    async fn remove_attachment(
        &self,
        v: &Volume,
        attachment_id: Option<&str>,
        from: &[VolumeStatus],
    ) -> Result<(), DomainError> {
        let id = &v.id;
        let attachment = match attachment_id {
            Some(a) => v.attachments.iter().find(|x| x.id == a),
            None if v.attachments.len() == 1 => v.attachments.first(),
            None => None,
        }
        .ok_or_else(|| {
            DomainError::InvalidVolume(match attachment_id {
                Some(a) => format!("Unable to detach volume {id}: attachment {a} not found."),
                None => format!(
                    "Unable to detach volume {id}: it has {} attachments; name one.",
                    v.attachments.len()
                ),
            })
        })?;
        let last = v.attachments.len() == 1;
        let mut t = Transition::new(
            id,
            from,
            if last {
                VolumeStatus::Available
            } else {
                VolumeStatus::InUse
            },
        );
        t.changes.remove_attachment = Some(attachment.id.clone());
        if last {
            t.changes.attach_status = Some(AttachStatus::Detached);
            t.changes.admin_metadata = vec![("attached_mode".into(), None)];
        }
        if self.volumes.transition(&t).await? {
            return Ok(());
        }
        Err(DomainError::InvalidVolume(format!(
            "Unable to detach volume {id}: it changed meanwhile; try again."
        )))
    }

    /// `os-force_detach` (admin): drops the connector's exports (every export without a
    /// connector) and the attachment (every attachment without an id), whatever the status.
    pub async fn force_detach(
        &self,
        caller: &Caller,
        id: &str,
        connector: Option<&serde_json::Value>,
        attachment_id: Option<&str>,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        if !caller.is_admin {
            return Err(DomainError::Forbidden(
                "volume_extension:volume_admin_actions:force_detach",
            ));
        }
        let key = connector.and_then(|c| connector_key(c).ok());
        for e in self.exports.exports_of_volume(id).await? {
            if key.is_none() || key.as_deref() == Some(e.connector_key.as_str()) {
                self.remove(&e).await?;
            }
        }
        let any: Vec<VolumeStatus> = VolumeStatus::ALL.to_vec();
        let targets: Vec<String> = match attachment_id {
            Some(a) => vec![a.to_owned()],
            None => v.attachments.iter().map(|a| a.id.clone()).collect(),
        };
        if targets.is_empty() {
            let mut t = Transition::new(
                id,
                &[
                    VolumeStatus::Attaching,
                    VolumeStatus::Detaching,
                    VolumeStatus::InUse,
                ],
                VolumeStatus::Available,
            );
            t.changes.attach_status = Some(AttachStatus::Detached);
            t.changes.admin_metadata = vec![("attached_mode".into(), None)];
            self.volumes.transition(&t).await?;
            return Ok(());
        }
        for a in targets {
            let now = self.get(caller, id).await?;
            self.remove_attachment(&now, Some(&a), &any).await?;
        }
        Ok(())
    }

    /// `os-update_readonly_flag`: only an `available` volume changes its access mode.
    pub async fn update_readonly_flag(
        &self,
        caller: &Caller,
        id: &str,
        readonly: bool,
    ) -> Result<(), DomainError> {
        self.get(caller, id).await?;
        let mut t = Transition::new(id, &[VolumeStatus::Available], VolumeStatus::Available);
        t.changes.admin_metadata = vec![(
            "readonly".into(),
            Some(if readonly { "True" } else { "False" }.into()),
        )];
        if self.volumes.transition(&t).await? {
            return Ok(());
        }
        Err(DomainError::InvalidVolume(
            "Volume status must be available to update readonly flag.".into(),
        ))
    }

    /// `os-set_bootable`: any status but maintenance.
    pub async fn set_bootable(
        &self,
        caller: &Caller,
        id: &str,
        bootable: bool,
    ) -> Result<(), DomainError> {
        let v = self.get(caller, id).await?;
        maintenance(&v, "bootable flag cannot be changed")?;
        let mut t = Transition::new(id, &[v.status], v.status);
        t.changes.bootable = Some(bootable);
        if self.volumes.transition(&t).await? {
            return Ok(());
        }
        Err(DomainError::InvalidVolume(format!(
            "Volume {id} changed while its bootable flag was set; try again."
        )))
    }

    /// Removes every export of a volume (its storage is about to go): sessions are dropped
    /// after their in-flight I/O, and the records go.
    pub async fn drop_exports(&self, volume_id: &str) -> Result<usize, DomainError> {
        let exports = self.exports.exports_of_volume(volume_id).await?;
        for e in &exports {
            self.remove(e).await?;
        }
        Ok(exports.len())
    }

    /// Start-up: every recorded export of a volume that still exists is made reachable again
    /// under its old name; exports of volumes that are gone are forgotten.
    pub async fn restore_exports(&self) -> Result<usize, DomainError> {
        let mut restored = 0;
        for e in self.exports.all_exports().await? {
            match self.volumes.get_volume(&e.volume_id).await? {
                Some(v) => match self.exporter.restore(&v, &e).await {
                    Ok(moved) => {
                        if let Some(data) = moved.filter(|d| *d != e.data) {
                            self.exports.update_export_data(&e.id, &data).await?;
                        }
                        restored += 1
                    }
                    Err(why) => {
                        tracing::error!(volume = %v.id, export = %e.id, %why, "export not restored")
                    }
                },
                None => {
                    self.exports.remove_export(&e.id).await?;
                }
            }
        }
        Ok(restored)
    }
}

fn info(e: &Export, encrypted: bool, qos_specs: serde_json::Value) -> ConnectionInfo {
    let mut data = e.data.clone();
    if let Some(obj) = data.as_object_mut() {
        obj.insert(
            "access_mode".into(),
            (if e.read_only { "ro" } else { "rw" }).into(),
        );
        obj.insert("encrypted".into(), encrypted.into());
        // Cinder always sets the key, null when the type has no front-end spec.
        obj.insert("qos_specs".into(), qos_specs);
        obj.insert("volume_id".into(), e.volume_id.clone().into());
    }
    ConnectionInfo {
        driver_volume_type: e.protocol.clone(),
        data,
    }
}

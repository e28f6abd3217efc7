//! The exporters: how a compute host reaches a volume. Each backend names its protocol
//! (Cinder's `target_protocol`); a connector asking for `do_local_attach` gets the backing
//! file's path when the backend has one.

use std::sync::Arc;

use basalt_domain::ports::{Export, ExportGrant, Exporter};
use basalt_domain::volume::Volume;
use serde_json::{json, Value};

use crate::manager::VolumeManager;

/// One export protocol.
#[basalt_domain::async_trait]
pub trait Protocol: Send + Sync + 'static {
    /// `driver_volume_type`.
    fn name(&self) -> &'static str;
    /// Enforces the back-end QoS specs of each volume's type on its exports, where the
    /// protocol's server is Basalt's own; others leave them to the target (the default).
    fn enforce_qos(&self, _qos: Arc<basalt_domain::qos::QosService>) {}
    /// Exports the volume to the connector (os-brick's: `initiator`, `host`, `ip`...);
    /// returns the exporter's handle and `connection_info.data`.
    async fn export(
        &self,
        volume: &Volume,
        backend: &str,
        read_only: bool,
        connector: &Value,
    ) -> Result<(Value, Value), String>;
    async fn unexport(&self, export: &Export) -> Result<(), String>;
    /// Re-issues a recorded export; the new `connection_info.data` when it changed.
    async fn restore(
        &self,
        volume: &Volume,
        backend: &str,
        export: &Export,
    ) -> Result<Option<Value>, String>;
}

/// Chooses the protocol of each export and keeps the set of protocols configured.
pub struct Exporters {
    manager: Arc<VolumeManager>,
    /// The network protocol of each backend, by name.
    network: crate::assemble::Protocols,
}

impl Exporters {
    pub fn new(manager: Arc<VolumeManager>, network: crate::assemble::Protocols) -> Self {
        Exporters { manager, network }
    }

    /// The volume's file for a compute service on this host, which writes it directly: the
    /// backend stops trusting the writes it tracked (see `BlockBackend::forget_changes`).
    async fn local(&self, volume: &Volume) -> Result<std::path::PathBuf, String> {
        let backend = volume.backend().unwrap_or_default();
        let b = self
            .manager
            .backend(backend)
            .ok_or_else(|| format!("backend '{backend}' is not configured on this host"))?;
        let path = b
            .local_path(&volume.id)
            .ok_or_else(|| format!("backend '{backend}' has no local path for its volumes"))?;
        b.forget_changes(&volume.id)
            .await
            .map_err(|e| format!("volume {}: {e}", volume.id))?;
        Ok(path)
    }

    fn network(&self, backend: &str) -> Result<&Arc<dyn Protocol>, String> {
        self.network.get(backend).ok_or_else(|| {
            format!("no network export protocol is configured for backend '{backend}'")
        })
    }
}

impl Exporters {
    /// The protocol that made an export (the backend's may have changed since).
    fn by_protocol(&self, name: &str) -> Result<&Arc<dyn Protocol>, String> {
        self.network
            .values()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("the {name} export protocol is not configured"))
    }
}

fn wants_local(connector: &Value) -> bool {
    matches!(connector.get("do_local_attach"), Some(Value::Bool(true)))
        || connector
            .get("do_local_attach")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

#[basalt_domain::async_trait]
impl Exporter for Exporters {
    async fn export(
        &self,
        volume: &Volume,
        read_only: bool,
        connector: &Value,
    ) -> Result<ExportGrant, String> {
        if wants_local(connector) {
            let path = self.local(volume).await?;
            return Ok(ExportGrant {
                protocol: "local".into(),
                handle: json!({}),
                data: json!({"device_path": path.display().to_string()}),
            });
        }
        let backend = volume.backend().unwrap_or_default();
        let p = self.network(backend)?;
        let (handle, data) = p.export(volume, backend, read_only, connector).await?;
        Ok(ExportGrant {
            protocol: p.name().into(),
            handle,
            data,
        })
    }

    async fn unexport(&self, export: &Export) -> Result<(), String> {
        match export.protocol.as_str() {
            // A path is not something to take back; the attachment records are.
            "local" => Ok(()),
            _ => self.by_protocol(&export.protocol)?.unexport(export).await,
        }
    }

    async fn restore(&self, volume: &Volume, export: &Export) -> Result<Option<Value>, String> {
        match export.protocol.as_str() {
            "local" => Ok(None),
            _ => {
                let backend = volume.backend().unwrap_or_default();
                self.by_protocol(&export.protocol)?
                    .restore(volume, backend, export)
                    .await
            }
        }
    }
}

//! The built-in NBD exporter: a volume's device goes into the NBD server's export table under a
//! fresh unguessable name, which only the connector that asked for it learns.

use std::sync::{Arc, OnceLock};

use basalt_domain::ports::Export;
use basalt_domain::qos::QosService;
use basalt_domain::volume::Volume;
use basalt_nbd::ExportTable;
use serde_json::{json, Value};

use crate::exporter::Protocol;
use crate::manager::VolumeManager;

pub struct NbdExporter {
    table: ExportTable,
    manager: Arc<VolumeManager>,
    /// What connectors dial: the configured public host and the server's port.
    host: String,
    port: u16,
    /// Whether the server offers STARTTLS (with Basalt's CA).
    tls: bool,
    /// Where the back-end QoS limits of a volume's type come from (set once assembled).
    qos: OnceLock<Arc<QosService>>,
}

impl NbdExporter {
    pub fn new(
        table: ExportTable,
        manager: Arc<VolumeManager>,
        host: String,
        port: u16,
        tls: bool,
    ) -> Self {
        NbdExporter {
            table,
            manager,
            host,
            port,
            tls,
            qos: OnceLock::new(),
        }
    }

    async fn device(
        &self,
        volume: &Volume,
        backend: &str,
    ) -> Result<Arc<dyn basalt_storage::BlockDevice>, String> {
        let b = self
            .manager
            .backend(backend)
            .ok_or_else(|| format!("backend '{backend}' is not configured on this host"))?;
        let device = b
            .open(&volume.id)
            .await
            .map_err(|e| format!("volume {} cannot be opened: {e}", volume.id))?;
        // The type's back-end QoS specs, enforced here: Basalt is the back end.
        let limits = match self.qos.get() {
            Some(q) => q
                .back_end_limits(&volume.volume_type_id, volume.size)
                .await
                .map_err(|e| {
                    format!("the QoS specs of volume {} cannot be read: {e}", volume.id)
                })?,
            None => Default::default(),
        };
        Ok(crate::throttle::Throttled::wrap(device, limits))
    }

    fn data(&self, name: &str) -> Value {
        json!({
            "host": self.host,
            "port": self.port,
            "export_name": name,
            "tls": self.tls,
        })
    }
}

fn export_name(e: &Export) -> Result<&str, String> {
    e.handle
        .get("export_name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("export {} has no NBD export name", e.id))
}

#[basalt_domain::async_trait]
impl Protocol for NbdExporter {
    fn name(&self) -> &'static str {
        "nbd"
    }

    fn enforce_qos(&self, qos: Arc<QosService>) {
        let _ = self.qos.set(qos);
    }

    async fn export(
        &self,
        volume: &Volume,
        backend: &str,
        read_only: bool,
        _connector: &Value,
    ) -> Result<(Value, Value), String> {
        let device = self.device(volume, backend).await?;
        let name = self.table.issue(&volume.id, device, read_only);
        Ok((json!({ "export_name": name }), self.data(&name)))
    }

    async fn unexport(&self, export: &Export) -> Result<(), String> {
        self.table.revoke(export_name(export)?).await;
        Ok(())
    }

    async fn restore(
        &self,
        volume: &Volume,
        backend: &str,
        export: &Export,
    ) -> Result<Option<Value>, String> {
        let name = export_name(export)?;
        let device = self.device(volume, backend).await?;
        self.table
            .issue_named(name, &volume.id, device, export.read_only)
            .map_err(|e| format!("export {} cannot be restored: {e}", export.id))?;
        // The server may listen elsewhere than when the export was made.
        Ok(Some(self.data(name)))
    }
}

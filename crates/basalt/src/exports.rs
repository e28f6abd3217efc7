//! The network export protocol of each backend (its `target_protocol`): the built-in NBD
//! server, or iSCSI through tgt, started only when some backend asks for it.

use std::net::SocketAddr;
use std::sync::Arc;

use basalt_workers::{NbdExporter, Protocol, Protocols, TgtIscsi, TgtSettings, VolumeManager};

use crate::config::Config;

/// Where the NBD server listens and whether it offers STARTTLS.
pub struct NbdEndpoint {
    pub addr: SocketAddr,
    pub table: basalt_nbd::ExportTable,
    pub tls: bool,
}

pub async fn protocols(
    cfg: &Config,
    manager: &Arc<VolumeManager>,
    nbd: Option<NbdEndpoint>,
) -> anyhow::Result<Protocols> {
    let nbd: Option<Arc<dyn Protocol>> = nbd.map(|n| {
        let host = match cfg.nbd.public_host.as_str() {
            "" => n.addr.ip().to_string(),
            h => h.to_owned(),
        };
        Arc::new(NbdExporter::new(
            n.table,
            manager.clone(),
            host,
            n.addr.port(),
            n.tls,
        )) as Arc<dyn Protocol>
    });
    let mut iscsi: Option<Arc<dyn Protocol>> = None;
    let mut out = Protocols::new();
    for b in &cfg.backends {
        let p = match b.target_protocol.as_str() {
            "nbd" => nbd.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "backend {} exports over NBD, but the NBD server is disabled ([nbd] enabled)",
                    b.name
                )
            })?,
            "iscsi" => match &iscsi {
                Some(p) => p.clone(),
                None => {
                    let settings = TgtSettings {
                        portal: cfg.iscsi.portal,
                        advertised_portal: Some(cfg.iscsi.advertised_portal.clone())
                            .filter(|p| !p.is_empty()),
                        iqn_prefix: cfg.iscsi.iqn_prefix.clone(),
                        control_port: cfg.iscsi.control_port,
                        ..TgtSettings::default()
                    };
                    let started = TgtIscsi::start(settings, manager.clone())
                        .await
                        .map_err(|e| anyhow::anyhow!("iSCSI exporter (tgt): {e}"))?;
                    let p: Arc<dyn Protocol> = Arc::new(started);
                    iscsi = Some(p.clone());
                    p
                }
            },
            other => anyhow::bail!(
                "backend {}: unknown target_protocol {other:?} (\"nbd\" or \"iscsi\")",
                b.name
            ),
        };
        out.insert(b.name.clone(), p);
    }
    Ok(out)
}

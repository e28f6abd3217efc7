//! State shared by every handler.

use std::sync::Arc;

use basalt_domain::quota::QuotaService;
use basalt_domain::snapshot::SnapshotService;
use basalt_domain::volume::VolumeService;
use basalt_identity::Identity;

/// Public base URLs (scheme://host:port, no path) used in version documents and links.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    pub identity: String,
    pub volume: String,
}

#[derive(Clone)]
pub struct ApiState {
    pub identity: Arc<Identity>,
    pub volumes: Arc<VolumeService>,
    pub snapshots: Arc<SnapshotService>,
    pub backups: Arc<basalt_domain::backup::BackupService>,
    pub attach: Arc<basalt_domain::attach::AttachService>,
    pub quotas: Arc<QuotaService>,
    pub types: Arc<basalt_domain::volume_type::TypeService>,
    pub qos: Arc<basalt_domain::qos::QosService>,
    pub operator: Arc<basalt_domain::backends::OperatorService>,
    pub transfers: Arc<basalt_domain::transfer::TransferService>,
    pub urls: Arc<PublicUrls>,
    pub max_body_bytes: usize,
}

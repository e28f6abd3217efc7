//! Backup views (contract §2.3): summaries `{id, name, links}`, details with every field of
//! Cinder's view, times without a zone; restores and exported records.

use basalt_domain::backup::{Backup, RestoreAccepted};
use serde::Serialize;

use super::links::{Link, Links};
use crate::timefmt;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BackupView {
    Summary {
        id: String,
        name: Option<String>,
        links: Vec<Link>,
    },
    Detail(Box<BackupDetail>),
}

#[derive(Debug, Serialize)]
pub struct BackupDetail {
    id: String,
    status: &'static str,
    size: i64,
    object_count: i64,
    availability_zone: Option<String>,
    container: Option<String>,
    created_at: String,
    updated_at: Option<String>,
    name: Option<String>,
    description: Option<String>,
    fail_reason: Option<String>,
    volume_id: String,
    links: Vec<Link>,
    is_incremental: bool,
    has_dependent_backups: bool,
    snapshot_id: Option<String>,
    data_timestamp: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BackupDoc {
    backup: BackupView,
}

#[derive(Debug, Serialize)]
pub struct BackupList {
    backups: Vec<BackupView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    backups_links: Vec<Link>,
}

impl BackupList {
    pub fn new(backups: Vec<BackupView>, next: Option<Link>) -> Self {
        BackupList {
            backups,
            backups_links: next.into_iter().collect(),
        }
    }
}

pub fn view(b: &Backup, links: &Links, detail: bool) -> BackupView {
    let links = links.resource("backups", &b.id);
    if !detail {
        return BackupView::Summary {
            id: b.id.clone(),
            name: b.name.clone(),
            links,
        };
    }
    BackupView::Detail(Box::new(BackupDetail {
        id: b.id.clone(),
        status: b.status.as_str(),
        size: b.size,
        object_count: b.object_count,
        availability_zone: b.availability_zone.clone(),
        container: b.container.clone(),
        created_at: timefmt::cinder(b.created_at),
        updated_at: b.updated_at.map(timefmt::cinder),
        name: b.name.clone(),
        description: b.description.clone(),
        fail_reason: b.fail_reason.clone(),
        volume_id: b.volume_id.clone(),
        links,
        is_incremental: b.is_incremental(),
        has_dependent_backups: b.has_dependent_backups,
        snapshot_id: b.snapshot_id.clone(),
        data_timestamp: b.data_timestamp.map(timefmt::cinder),
    }))
}

pub fn doc(b: &Backup, links: &Links, detail: bool) -> BackupDoc {
    BackupDoc {
        backup: view(b, links, detail),
    }
}

#[derive(Debug, Serialize)]
pub struct RestoreView {
    backup_id: String,
    volume_id: String,
    volume_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RestoreDoc {
    restore: RestoreView,
}

pub fn restore(r: RestoreAccepted) -> RestoreDoc {
    RestoreDoc {
        restore: RestoreView {
            backup_id: r.backup_id,
            volume_id: r.volume_id,
            volume_name: r.volume_name,
        },
    }
}

#[derive(Debug, Serialize)]
pub struct RecordView {
    backup_service: String,
    backup_url: String,
}

#[derive(Debug, Serialize)]
pub struct RecordDoc {
    #[serde(rename = "backup-record")]
    record: RecordView,
}

pub fn record(backup_service: String, backup_url: String) -> RecordDoc {
    RecordDoc {
        record: RecordView {
            backup_service,
            backup_url,
        },
    }
}

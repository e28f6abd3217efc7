//! Volume views (contract §2.1, §1.15) with the exact JSON types clients insist on: `bootable`
//! a string, `encrypted`/`multiattach` booleans, `size` an integer, times without a zone,
//! `volume_type` the type's name. Policy-gated fields are absent, not null, when not allowed.

use basalt_domain::metadata::Metadata;
use basalt_domain::volume::{Attachment, Volume};
use serde::Serialize;

use super::links::{Link, Links};
use crate::timefmt;

/// Admin metadata keys shown in a volume's `metadata` (Cinder's visible admin metadata).
const VISIBLE_ADMIN_METADATA: [&str; 2] = ["readonly", "attached_mode"];

/// Which optional parts a detailed view carries.
#[derive(Debug, Clone, Copy)]
pub struct Audience {
    pub admin: bool,
    /// The `os-vol-*` extension attributes: show and detail only, not create or update.
    pub extended: bool,
}

#[derive(Debug, Serialize)]
pub struct VolumeView {
    id: String,
    name: Option<String>,
    description: Option<String>,
    status: &'static str,
    size: i64,
    availability_zone: String,
    created_at: String,
    updated_at: Option<String>,
    volume_type: String,
    snapshot_id: Option<String>,
    source_volid: Option<String>,
    metadata: Metadata,
    links: Vec<Link>,
    user_id: String,
    bootable: &'static str,
    encrypted: bool,
    replication_status: String,
    consistencygroup_id: Option<String>,
    multiattach: bool,
    attachments: Vec<AttachmentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migration_status: Option<Option<String>>,
    #[serde(
        rename = "os-vol-tenant-attr:tenant_id",
        skip_serializing_if = "Option::is_none"
    )]
    tenant_id: Option<String>,
    #[serde(
        rename = "os-vol-host-attr:host",
        skip_serializing_if = "Option::is_none"
    )]
    host: Option<Option<String>>,
    #[serde(
        rename = "os-vol-mig-status-attr:migstat",
        skip_serializing_if = "Option::is_none"
    )]
    migstat: Option<Option<String>>,
    #[serde(
        rename = "os-vol-mig-status-attr:name_id",
        skip_serializing_if = "Option::is_none"
    )]
    name_id: Option<Option<String>>,
}

#[derive(Debug, Serialize)]
pub struct AttachmentView {
    /// The volume id (legacy), as Cinder shows it.
    id: String,
    attachment_id: String,
    volume_id: String,
    server_id: Option<String>,
    /// Null for non-admins.
    host_name: Option<String>,
    device: Option<String>,
    attached_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VolumeSummary {
    id: String,
    name: Option<String>,
    links: Vec<Link>,
}

#[derive(Debug, Serialize)]
pub struct VolumeDoc {
    volume: VolumeView,
}

#[derive(Debug, Serialize)]
pub struct VolumeList<T> {
    volumes: Vec<T>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes_links: Vec<Link>,
}

impl<T> VolumeList<T> {
    pub fn new(volumes: Vec<T>, next: Option<Link>) -> Self {
        VolumeList {
            volumes,
            volumes_links: next.into_iter().collect(),
        }
    }
}

/// User metadata with the visible admin keys laid over it.
fn shown_metadata(v: &Volume) -> Metadata {
    let mut md = v.metadata.clone();
    for key in VISIBLE_ADMIN_METADATA {
        if let Some(value) = v.admin_metadata.get(key) {
            md.insert(key.to_owned(), value.clone());
        }
    }
    md
}

fn attachment(v: &Volume, a: &Attachment, admin: bool) -> AttachmentView {
    AttachmentView {
        id: v.id.clone(),
        attachment_id: a.id.clone(),
        volume_id: v.id.clone(),
        server_id: a.instance_uuid.clone(),
        host_name: a.attached_host.clone().filter(|_| admin),
        device: a.mountpoint.clone(),
        attached_at: a.attached_at.map(timefmt::cinder),
    }
}

pub fn detail(v: &Volume, links: &Links, who: Audience) -> VolumeView {
    let admin_ext = who.admin && who.extended;
    VolumeView {
        id: v.id.clone(),
        name: v.name.clone(),
        description: v.description.clone(),
        status: v.status.shown(),
        size: v.size,
        availability_zone: v.availability_zone.clone(),
        created_at: timefmt::cinder(v.created_at),
        updated_at: v.updated_at.map(timefmt::cinder),
        volume_type: v
            .volume_type_name
            .clone()
            .unwrap_or_else(|| v.volume_type_id.clone()),
        snapshot_id: v.snapshot_id.clone(),
        source_volid: v.source_volid.clone(),
        metadata: shown_metadata(v),
        links: links.resource("volumes", &v.id),
        user_id: v.user_id.clone(),
        bootable: if v.bootable { "true" } else { "false" },
        encrypted: v.encrypted,
        replication_status: v.replication_status.clone(),
        consistencygroup_id: v.consistencygroup_id.clone(),
        multiattach: v.multiattach,
        attachments: v
            .attachments
            .iter()
            .map(|a| attachment(v, a, who.admin))
            .collect(),
        migration_status: who.admin.then(|| v.migration_status.clone()),
        tenant_id: who.extended.then(|| v.project_id.clone()),
        host: admin_ext.then(|| v.host.clone()),
        migstat: admin_ext.then(|| v.migration_status.clone()),
        name_id: admin_ext.then_some(None),
    }
}

pub fn doc(v: &Volume, links: &Links, who: Audience) -> VolumeDoc {
    VolumeDoc {
        volume: detail(v, links, who),
    }
}

pub fn summary(v: &Volume, links: &Links) -> VolumeSummary {
    VolumeSummary {
        id: v.id.clone(),
        name: v.name.clone(),
        links: links.resource("volumes", &v.id),
    }
}

#[cfg(test)]
mod tests {
    use basalt_domain::volume::{AttachStatus, VolumeStatus};
    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};

    use super::*;

    fn volume() -> Volume {
        let t = DateTime::<Utc>::from_timestamp_micros(1_448_766_104_000_007).unwrap();
        Volume {
            id: "vid".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            name: None,
            description: None,
            size: 1,
            new_size: None,
            status: VolumeStatus::Managing,
            attach_status: AttachStatus::Attached,
            migration_status: None,
            availability_zone: "nova".into(),
            volume_type_id: "type-id".into(),
            volume_type_name: None,
            snapshot_id: None,
            source_volid: None,
            bootable: true,
            multiattach: false,
            encrypted: false,
            replication_status: "disabled".into(),
            consistencygroup_id: None,
            group_id: None,
            host: Some("h@b#b".into()),
            use_quota: true,
            status_reason: None,
            metadata: [("k".into(), "v".into()), ("readonly".into(), "user".into())].into(),
            admin_metadata: [
                ("readonly".into(), "True".into()),
                ("attached_mode".into(), "ro".into()),
                ("secret".into(), "x".into()),
            ]
            .into(),
            attachments: vec![Attachment {
                mode: "rw".into(),
                id: "aid".into(),
                instance_uuid: Some("server".into()),
                attached_host: Some("compute1".into()),
                mountpoint: Some("/dev/vdb".into()),
                attached_at: Some(t),
            }],
            created_at: t,
            updated_at: None,
        }
    }

    fn links() -> Links {
        Links::for_tests("https://h", "v2", "p")
    }

    fn render(admin: bool) -> Value {
        let who = Audience {
            admin,
            extended: true,
        };
        serde_json::to_value(detail(&volume(), &links(), who)).unwrap()
    }

    #[test]
    fn visible_admin_metadata_overrides_user_metadata_and_nothing_else_shows() {
        assert_eq!(
            render(false)["metadata"],
            json!({"k": "v", "readonly": "True", "attached_mode": "ro"})
        );
    }

    #[test]
    fn types_statuses_and_flags_render_as_cinder_does() {
        let v = render(false);
        assert_eq!(
            v["volume_type"], "type-id",
            "the id when the name is unknown"
        );
        assert_eq!(v["status"], "creating", "managing is shown as creating");
        assert_eq!(v["bootable"], "true");
        assert_eq!(v["created_at"], "2015-11-29T03:01:44.000007");
    }

    #[test]
    fn attachments_hide_the_host_from_members() {
        let expected = json!({"id": "vid", "attachment_id": "aid", "volume_id": "vid",
                              "server_id": "server", "host_name": "compute1",
                              "device": "/dev/vdb",
                              "attached_at": "2015-11-29T03:01:44.000007"});
        assert_eq!(render(true)["attachments"], json!([expected.clone()]));
        let mut hidden = expected;
        hidden["host_name"] = Value::Null;
        assert_eq!(render(false)["attachments"], json!([hidden]));
    }
}

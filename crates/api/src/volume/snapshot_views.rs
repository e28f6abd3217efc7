//! Snapshot views (contract §2.2, §1.15): the same fields in every answer (v2's summary list is
//! as full as its detail), `size` an integer, times without a zone, and no `links` (v2
//! snapshots have none). Show and detail add the `os-extended-snapshot-attributes:*` fields,
//! which the default policy grants to whoever may see the snapshot.

use basalt_domain::metadata::Metadata;
use basalt_domain::snapshot::Snapshot;
use serde::Serialize;

use super::links::Link;
use crate::timefmt;

#[derive(Debug, Serialize)]
pub struct SnapshotView {
    id: String,
    created_at: String,
    updated_at: Option<String>,
    name: Option<String>,
    description: Option<String>,
    volume_id: String,
    status: &'static str,
    size: i64,
    metadata: Metadata,
    #[serde(
        rename = "os-extended-snapshot-attributes:project_id",
        skip_serializing_if = "Option::is_none"
    )]
    project_id: Option<String>,
    #[serde(
        rename = "os-extended-snapshot-attributes:progress",
        skip_serializing_if = "Option::is_none"
    )]
    progress: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SnapshotDoc {
    snapshot: SnapshotView,
}

#[derive(Debug, Serialize)]
pub struct SnapshotList {
    snapshots: Vec<SnapshotView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    snapshots_links: Vec<Link>,
}

impl SnapshotList {
    pub fn new(snapshots: Vec<SnapshotView>, next: Option<Link>) -> Self {
        SnapshotList {
            snapshots,
            snapshots_links: next.into_iter().collect(),
        }
    }
}

/// One snapshot; `extended` adds the extension attributes (show and detail only, not the list
/// summary, create or update).
pub fn view(s: &Snapshot, extended: bool) -> SnapshotView {
    SnapshotView {
        id: s.id.clone(),
        created_at: timefmt::cinder(s.created_at),
        updated_at: s.updated_at.map(timefmt::cinder),
        name: s.name.clone(),
        description: s.description.clone(),
        volume_id: s.volume_id.clone(),
        status: s.status.as_str(),
        size: s.size,
        metadata: s.metadata.clone(),
        project_id: extended.then(|| s.project_id.clone()),
        progress: extended.then(|| s.progress.clone()),
    }
}

pub fn doc(s: &Snapshot, extended: bool) -> SnapshotDoc {
    SnapshotDoc {
        snapshot: view(s, extended),
    }
}

#[cfg(test)]
mod tests {
    use basalt_domain::snapshot::SnapshotStatus;
    use chrono::DateTime;
    use serde_json::{json, Value};

    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            id: "sid".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            volume_id: "vid".into(),
            name: Some("n".into()),
            description: None,
            size: 2,
            status: SnapshotStatus::BackingUp,
            progress: "40%".into(),
            volume_type_id: "t".into(),
            host: Some("h@b#b".into()),
            use_quota: true,
            status_reason: Some("why".into()),
            metadata: [("k".into(), "v".into())].into(),
            created_at: DateTime::from_timestamp_micros(1_448_766_104_000_007).unwrap(),
            updated_at: None,
        }
    }

    #[test]
    fn snapshots_render_in_cinders_shape_and_types() {
        let v = serde_json::to_value(view(&snapshot(), false)).unwrap();
        assert_eq!(
            v,
            json!({"id": "sid", "created_at": "2015-11-29T03:01:44.000007",
                   "updated_at": null, "name": "n", "description": null, "volume_id": "vid",
                   "status": "backing-up", "size": 2, "metadata": {"k": "v"}})
        );
    }

    #[test]
    fn extended_views_add_project_and_progress() {
        let v: Value = serde_json::to_value(doc(&snapshot(), true)).unwrap();
        assert_eq!(
            v["snapshot"]["os-extended-snapshot-attributes:project_id"],
            "p"
        );
        assert_eq!(
            v["snapshot"]["os-extended-snapshot-attributes:progress"],
            "40%"
        );
        assert_eq!(v["snapshot"].as_object().unwrap().len(), 11);
    }
}

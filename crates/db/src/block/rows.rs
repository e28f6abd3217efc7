//! Reading volume rows back into domain volumes, with their type name, both metadata sets and
//! their attachments.

use std::collections::HashMap;

use basalt_domain::metadata::Metadata;
use basalt_domain::ports::StoreError;
use basalt_domain::volume::{AttachStatus, Attachment, Volume, VolumeStatus};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::from_micros;
use crate::error::store_err_domain as err;

/// Columns of `volumes v` plus the type name, in `VolumeRow`'s order.
pub(crate) const VOLUME_COLUMNS: &str = "v.id, v.project_id, v.user_id, v.display_name, \
    v.display_description, v.size, v.new_size, v.status, v.attach_status, v.migration_status, \
    v.availability_zone, v.volume_type_id, t.name AS volume_type_name, v.snapshot_id, \
    v.source_volid, v.bootable, v.multiattach, v.encrypted, v.replication_status, \
    v.consistencygroup_id, v.group_id, v.host, v.use_quota, v.status_reason, v.created_at, \
    v.updated_at";

pub(crate) const VOLUME_FROM: &str =
    "FROM volumes v LEFT JOIN volume_types t ON t.id = v.volume_type_id";

#[derive(sqlx::FromRow)]
pub(crate) struct VolumeRow {
    id: String,
    project_id: String,
    user_id: String,
    display_name: Option<String>,
    display_description: Option<String>,
    size: i64,
    new_size: Option<i64>,
    status: String,
    attach_status: String,
    migration_status: Option<String>,
    availability_zone: String,
    volume_type_id: String,
    volume_type_name: Option<String>,
    snapshot_id: Option<String>,
    source_volid: Option<String>,
    bootable: bool,
    multiattach: bool,
    encrypted: bool,
    replication_status: String,
    consistencygroup_id: Option<String>,
    group_id: Option<String>,
    host: Option<String>,
    use_quota: bool,
    status_reason: Option<String>,
    created_at: i64,
    updated_at: Option<i64>,
}

impl VolumeRow {
    pub(crate) fn into_volume(self) -> Result<Volume, StoreError> {
        let status = VolumeStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Backend(format!("unknown status {}", self.status)))?;
        let attach_status = AttachStatus::parse(&self.attach_status).ok_or_else(|| {
            StoreError::Backend(format!("unknown attach status {}", self.attach_status))
        })?;
        Ok(Volume {
            id: self.id,
            project_id: self.project_id,
            user_id: self.user_id,
            name: self.display_name,
            description: self.display_description,
            size: self.size,
            new_size: self.new_size,
            status,
            attach_status,
            migration_status: self.migration_status,
            availability_zone: self.availability_zone,
            volume_type_id: self.volume_type_id,
            volume_type_name: self.volume_type_name,
            snapshot_id: self.snapshot_id,
            source_volid: self.source_volid,
            bootable: self.bootable,
            multiattach: self.multiattach,
            encrypted: self.encrypted,
            replication_status: self.replication_status,
            consistencygroup_id: self.consistencygroup_id,
            group_id: self.group_id,
            host: self.host,
            use_quota: self.use_quota,
            status_reason: self.status_reason,
            metadata: Metadata::new(),
            admin_metadata: Metadata::new(),
            attachments: vec![],
            created_at: from_micros(self.created_at),
            updated_at: self.updated_at.map(from_micros),
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: String,
    volume_id: String,
    instance_uuid: Option<String>,
    attached_host: Option<String>,
    mountpoint: Option<String>,
    attach_mode: String,
    attached_at: Option<i64>,
}

impl AttachmentRow {
    fn into_attachment(self) -> Attachment {
        Attachment {
            id: self.id,
            instance_uuid: self.instance_uuid,
            attached_host: self.attached_host,
            mountpoint: self.mountpoint,
            mode: self.attach_mode,
            attached_at: self.attached_at.map(from_micros),
        }
    }
}

/// Fills in the attachments of `volumes` (oldest first) with one query, whatever their number.
async fn attach_attachments(
    conn: &mut SqliteConnection,
    volumes: &mut [Volume],
) -> Result<(), StoreError> {
    if volumes.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT id, volume_id, instance_uuid, attached_host, mountpoint, attach_mode, \
         attached_at FROM volume_attachments WHERE volume_id IN (",
    );
    let mut ids = q.separated(", ");
    for v in volumes.iter() {
        ids.push_bind(v.id.clone());
    }
    q.push(") ORDER BY attached_at, id");
    let rows: Vec<AttachmentRow> = q
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    let mut by_volume: HashMap<String, Vec<Attachment>> = HashMap::new();
    for r in rows {
        by_volume
            .entry(r.volume_id.clone())
            .or_default()
            .push(r.into_attachment());
    }
    for v in volumes.iter_mut() {
        v.attachments = by_volume.remove(&v.id).unwrap_or_default();
    }
    Ok(())
}

/// Fills in user and admin metadata and the attachments of `volumes` with three queries,
/// whatever their number.
pub(crate) async fn fill_details(
    conn: &mut SqliteConnection,
    volumes: &mut [Volume],
) -> Result<(), StoreError> {
    if volumes.is_empty() {
        return Ok(());
    }
    for table in ["volume_metadata", "volume_admin_metadata"] {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT volume_id, key, value FROM {table} WHERE volume_id IN ("
        ));
        let mut ids = q.separated(", ");
        for v in volumes.iter() {
            ids.push_bind(v.id.clone());
        }
        q.push(")");
        let rows: Vec<(String, String, String)> = q
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(err)?;
        let mut by_volume: HashMap<String, Metadata> = HashMap::new();
        for (id, k, v) in rows {
            by_volume.entry(id).or_default().insert(k, v);
        }
        for v in volumes.iter_mut() {
            let md = by_volume.remove(&v.id).unwrap_or_default();
            if table == "volume_metadata" {
                v.metadata = md;
            } else {
                v.admin_metadata = md;
            }
        }
    }
    attach_attachments(conn, volumes).await
}

/// Runs a volume query built on `VOLUME_COLUMNS`/`VOLUME_FROM` and fills in the metadata and
/// attachments.
pub(crate) async fn fetch_volumes(
    conn: &mut SqliteConnection,
    mut query: QueryBuilder<'_, Sqlite>,
) -> Result<Vec<Volume>, StoreError> {
    let rows: Vec<VolumeRow> = query
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    let mut volumes = rows
        .into_iter()
        .map(VolumeRow::into_volume)
        .collect::<Result<Vec<_>, _>>()?;
    fill_details(conn, &mut volumes).await?;
    Ok(volumes)
}

pub(crate) async fn load_volume(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<Volume>, StoreError> {
    let sql = format!("SELECT {VOLUME_COLUMNS} {VOLUME_FROM} WHERE v.id = ?");
    let row: Option<VolumeRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    let Some(row) = row else { return Ok(None) };
    let mut v = [row.into_volume()?];
    fill_details(conn, &mut v).await?;
    let [v] = v;
    Ok(Some(v))
}

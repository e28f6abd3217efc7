//! Manage and unmanage (Cinder's `os-volume-manage`, `os-snapshot-manage`, `os-unmanage`):
//! Basalt forgets a volume or snapshot while its storage stays on the backend, lists the
//! files a backend holds with whether each may be adopted, and adopts one as a new volume.
//! The ports, the listing model and its paging live here; the operations are methods of the
//! volume and snapshot services.

use async_trait::async_trait;

use crate::error::DomainError;
use crate::ports::StoreError;
use crate::snapshot::SnapshotStatus;
use crate::volume::VolumeStatus;

/// A file a backend holds, as its directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendFile {
    pub name: String,
    pub size_bytes: u64,
}

/// What the storage side holds, asked for the manageable listings and before an adoption.
#[async_trait]
pub trait Inventory: Send + Sync + 'static {
    /// Every file of `backend`; `None` when no such backend is configured here. `Err` carries
    /// the reason for the user.
    async fn files(&self, backend: &str) -> Result<Option<Vec<BackendFile>>, String>;
}

/// Removing rows whose storage stays (unmanage), each a compare-and-swap on the status.
#[async_trait]
pub trait ManageStore: Send + Sync + 'static {
    /// Removes the volume row (its metadata and attachments with it) provided its status is
    /// one of `from`, it is detached, not migrating, has no snapshot, no job and no volume
    /// being created from it; false (nothing removed) otherwise.
    async fn unmanage_volume(&self, id: &str, from: &[VolumeStatus]) -> Result<bool, StoreError>;
    /// Removes the snapshot row provided its status is one of `from`, it has no job and no
    /// volume is being created from it; false otherwise.
    async fn unmanage_snapshot(
        &self,
        id: &str,
        from: &[SnapshotStatus],
    ) -> Result<bool, StoreError>;
}

/// One entry of `GET /os-volume-manage` or `/os-snapshot-manage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manageable {
    /// The file name (`{"source-name": ...}` on the wire).
    pub reference: String,
    /// GiB, rounded up.
    pub size: i64,
    pub safe_to_manage: bool,
    pub reason_not_safe: Option<String>,
    /// The Basalt volume or snapshot the file belongs to.
    pub cinder_id: Option<String>,
    /// Snapshots only: the file of the volume the snapshot was taken of, when known.
    pub source_reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManageableKey {
    Reference,
    Size,
}

/// Paging and sorting of a manageable listing (Cinder sorts and pages these in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageableQuery {
    /// `host@backend#pool` or `host@backend`.
    pub host: String,
    pub limit: Option<usize>,
    pub offset: usize,
    /// The `source-name` of the last entry of the previous page.
    pub marker: Option<String>,
    /// Keys with `true` for descending.
    pub sort: Vec<(ManageableKey, bool)>,
}

/// Cinder's reason for a file that belongs to a volume or snapshot already.
pub const ALREADY_MANAGED: &str = "already managed";

/// GiB holding `bytes`, rounded up; an empty file still makes a 1 GiB volume.
pub fn gib_rounded_up(bytes: u64) -> i64 {
    let gib = bytes.div_ceil(1 << 30).max(1);
    i64::try_from(gib).unwrap_or(i64::MAX)
}

/// Sorts, then applies marker, offset and limit as Cinder's `paginate_entries_list`.
pub fn page(
    mut entries: Vec<Manageable>,
    q: &ManageableQuery,
) -> Result<Vec<Manageable>, DomainError> {
    let sort = if q.sort.is_empty() {
        vec![(ManageableKey::Reference, true)]
    } else {
        q.sort.clone()
    };
    entries.sort_by(|a, b| {
        for (key, desc) in &sort {
            let o = match key {
                ManageableKey::Reference => a.reference.cmp(&b.reference),
                ManageableKey::Size => a.size.cmp(&b.size),
            };
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        a.reference.cmp(&b.reference)
    });
    let start = match &q.marker {
        None => 0,
        Some(m) => {
            entries
                .iter()
                .position(|e| &e.reference == m)
                .ok_or_else(|| {
                    DomainError::InvalidInput(format!("marker not found: {{'source-name': '{m}'}}"))
                })?
                + 1
        }
    };
    Ok(entries
        .into_iter()
        .skip(start + q.offset)
        .take(q.limit.unwrap_or(usize::MAX))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, size: i64) -> Manageable {
        Manageable {
            reference: name.into(),
            size,
            safe_to_manage: true,
            reason_not_safe: None,
            cinder_id: None,
            source_reference: None,
        }
    }

    fn query() -> ManageableQuery {
        ManageableQuery {
            host: "h@b".into(),
            limit: None,
            offset: 0,
            marker: None,
            sort: vec![],
        }
    }

    fn names(v: &[Manageable]) -> Vec<&str> {
        v.iter().map(|e| e.reference.as_str()).collect()
    }

    #[test]
    fn pages_sort_by_reference_descending_by_default() {
        let all = vec![entry("a", 3), entry("c", 1), entry("b", 2)];
        assert_eq!(
            names(&page(all.clone(), &query()).unwrap()),
            ["c", "b", "a"]
        );
        let mut q = query();
        q.sort = vec![(ManageableKey::Size, false)];
        q.marker = Some("c".into());
        q.limit = Some(1);
        assert_eq!(names(&page(all.clone(), &q).unwrap()), ["b"]);
        q.marker = Some("zz".into());
        assert!(page(all, &q).is_err());
    }

    #[test]
    fn sizes_round_up_to_whole_gib() {
        assert_eq!(gib_rounded_up(0), 1);
        assert_eq!(gib_rounded_up(1), 1);
        assert_eq!(gib_rounded_up(1 << 30), 1);
        assert_eq!(gib_rounded_up((1 << 30) + 1), 2);
    }
}

//! Listing queries: which volumes (project or all), filters, sort and page, parsed from the
//! query string by Cinder's v2 rules (non-admins are limited to an allowlist of filters, unknown
//! ones are silently dropped; admins may filter on any column, and a column that does not
//! exist matches nothing).

use super::model::Metadata;
use crate::error::DomainError;
use crate::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    Name,
    Description,
    Status,
    Size,
    AvailabilityZone,
    CreatedAt,
    UpdatedAt,
    Bootable,
    ProjectId,
    UserId,
    Host,
    VolumeTypeId,
    AttachStatus,
    MigrationStatus,
    Multiattach,
    SnapshotId,
    SourceVolid,
    ReplicationStatus,
    ConsistencygroupId,
    GroupId,
    Encrypted,
}

impl SortKey {
    /// Column names clients may use, for sorting and admin filters (`name` is an alias of
    /// `display_name`, as in Cinder).
    pub fn parse(s: &str) -> Option<SortKey> {
        use SortKey::*;
        Some(match s {
            "id" => Id,
            "name" | "display_name" => Name,
            "description" | "display_description" => Description,
            "status" => Status,
            "size" => Size,
            "availability_zone" => AvailabilityZone,
            "created_at" => CreatedAt,
            "updated_at" => UpdatedAt,
            "bootable" => Bootable,
            "project_id" => ProjectId,
            "user_id" => UserId,
            "host" => Host,
            "volume_type_id" => VolumeTypeId,
            "attach_status" => AttachStatus,
            "migration_status" => MigrationStatus,
            "multiattach" => Multiattach,
            "snapshot_id" => SnapshotId,
            "source_volid" => SourceVolid,
            "replication_status" => ReplicationStatus,
            "consistencygroup_id" => ConsistencygroupId,
            "group_id" => GroupId,
            "encrypted" => Encrypted,
            _ => return None,
        })
    }

    pub fn is_bool(self) -> bool {
        matches!(
            self,
            SortKey::Bootable | SortKey::Multiattach | SortKey::Encrypted
        )
    }

    pub fn is_int(self) -> bool {
        matches!(self, SortKey::Size)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: SortKey,
    pub value: FilterValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeQuery {
    /// `None`: every project (admin with `all_tenants`).
    pub project_id: Option<String>,
    pub filters: Vec<Filter>,
    /// Every pair must match, in user or admin metadata.
    pub metadata: Metadata,
    /// An admin filtered on a column that does not exist: Cinder returns an empty list.
    pub match_nothing: bool,
    pub hide_migration_targets: bool,
    pub sort: Vec<(SortKey, SortDir)>,
    pub limit: u32,
    pub offset: u64,
    pub marker: Option<String>,
}

/// Filters a non-admin may use in v2 (Wallaby's resource_filters.json for volumes).
const USER_FILTERS: &[&str] = &[
    "name",
    "status",
    "metadata",
    "bootable",
    "migration_status",
    "availability_zone",
    "group_id",
    "size",
    "created_at",
    "updated_at",
];

/// Parameters that are never filters.
pub(crate) const CONTROL: &[&str] = &[
    "limit",
    "marker",
    "offset",
    "sort",
    "sort_key",
    "sort_dir",
    "all_tenants",
    "with_count",
];

/// Cinder's lenient boolean of v2 filters: `false` spellings are false, anything else true.
fn lenient_bool(v: &str) -> bool {
    !matches!(
        v.to_ascii_lowercase().as_str(),
        "false" | "0" | "off" | "no" | "n" | "f" | ""
    )
}

/// Strict boolean of parameters such as `all_tenants`.
pub fn strict_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" | "y" | "t" => Some(true),
        "false" | "0" | "off" | "no" | "n" | "f" => Some(false),
        _ => None,
    }
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::InvalidInput(msg.into())
}

/// Parses the `metadata` filter: a Python dict literal (`{'k': 'v'}`, what cinderclient and
/// gophercloud send) or JSON.
fn parse_metadata_filter(raw: &str) -> Result<Metadata, DomainError> {
    let json_like = raw.replace('\'', "\"");
    let value: serde_json::Value = serde_json::from_str(&json_like)
        .map_err(|_| invalid(format!("Invalid metadata filter: {raw}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid(format!("Invalid metadata filter: {raw}")))?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect())
}

fn parse_sort(params: &[(String, String)]) -> Result<Vec<(SortKey, SortDir)>, DomainError> {
    parse_sort_with(params, SortKey::parse, SortKey::CreatedAt)
}

/// `sort` or the legacy `sort_key`/`sort_dir`, for any resource's keys; `created_at:desc`
/// (the `default` key, descending) when neither is given.
pub(crate) fn parse_sort_with<K: Copy>(
    params: &[(String, String)],
    parse_key: impl Fn(&str) -> Option<K>,
    default: K,
) -> Result<Vec<(K, SortDir)>, DomainError> {
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    };
    let (sort, key, dir) = (get("sort"), get("sort_key"), get("sort_dir"));
    if sort.is_some() && (key.is_some() || dir.is_some()) {
        return Err(DomainError::BadRequest(
            "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with \
             the 'sort' parameter."
                .into(),
        ));
    }
    let dir_of = |d: &str| match d.to_ascii_lowercase().as_str() {
        "asc" => Ok(SortDir::Asc),
        "desc" => Ok(SortDir::Desc),
        _ => Err(invalid(format!(
            "Unknown sort direction, must be 'desc' or 'asc': {d}"
        ))),
    };
    let key_of = |k: &str| parse_key(k.trim()).ok_or_else(|| invalid("Invalid sort key"));
    let mut out = Vec::new();
    if let Some(sort) = sort {
        for item in sort.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, d) = item.split_once(':').unwrap_or((item, "desc"));
            out.push((key_of(k)?, dir_of(d.trim())?));
        }
    } else if key.is_some() || dir.is_some() {
        out.push((
            key_of(key.unwrap_or("created_at"))?,
            dir_of(dir.unwrap_or("desc"))?,
        ));
    }
    if out.is_empty() {
        out.push((default, SortDir::Desc));
    }
    Ok(out)
}

pub(crate) fn parse_page(params: &[(String, String)], max: u32) -> Result<(u32, u64), DomainError> {
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit") {
        None => max,
        Some(l) => {
            let n: i64 = l
                .parse()
                // Cinder raises these as plain 400s, without "Invalid input received:".
                .map_err(|_| DomainError::BadRequest("limit param must be an integer".into()))?;
            if n < 0 {
                return Err(DomainError::BadRequest(
                    "limit param must be positive".into(),
                ));
            }
            n.min(i64::from(max)) as u32
        }
    };
    let offset = match get("offset") {
        None => 0,
        Some(o) => {
            let n: i64 = o
                .parse()
                .map_err(|_| invalid(format!("offset param must be an integer: {o}")))?;
            if !(0..=i64::from(i32::MAX)).contains(&n) {
                return Err(invalid(format!("offset param must be positive: {o}")));
            }
            n as u64
        }
    };
    Ok((limit, offset))
}

impl VolumeQuery {
    /// Parses a listing's query parameters for `caller`.
    pub fn from_params(
        params: &[(String, String)],
        caller: &Caller,
        max_page: u32,
    ) -> Result<VolumeQuery, DomainError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let all_tenants =
            caller.is_admin && get("all_tenants").is_some_and(|v| strict_bool(v) != Some(false));
        let (limit, offset) = parse_page(params, max_page)?;
        let mut q = VolumeQuery {
            project_id: (!all_tenants).then(|| caller.project_id.clone()),
            filters: vec![],
            metadata: Metadata::new(),
            match_nothing: false,
            hide_migration_targets: !caller.is_admin,
            sort: parse_sort(params)?,
            limit,
            offset,
            marker: get("marker").map(str::to_owned),
        };
        for (k, v) in params {
            if CONTROL.contains(&k.as_str()) {
                continue;
            }
            if !caller.is_admin && !USER_FILTERS.contains(&k.as_str()) {
                continue; // v2 silently drops filters a non-admin may not use
            }
            match k.as_str() {
                "metadata" => q.metadata.extend(parse_metadata_filter(v)?),
                // glance_metadata filters are ignored in v2.
                "glance_metadata" => {}
                _ => match SortKey::parse(k) {
                    None => q.match_nothing = true,
                    Some(column) => {
                        let value = if column.is_bool() {
                            FilterValue::Bool(lenient_bool(v))
                        } else if column.is_int() {
                            match v.parse() {
                                Ok(n) => FilterValue::Int(n),
                                Err(_) => {
                                    q.match_nothing = true;
                                    continue;
                                }
                            }
                        } else {
                            FilterValue::Text(v.clone())
                        };
                        q.filters.push(Filter { column, value });
                    }
                },
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool) -> Caller {
        Caller {
            user_id: "u".into(),
            project_id: "p".into(),
            is_admin: admin,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_own_project_newest_first_full_page() {
        let q = VolumeQuery::from_params(&[], &user(false), 1000).unwrap();
        assert_eq!(q.project_id.as_deref(), Some("p"));
        assert_eq!(q.sort, vec![(SortKey::CreatedAt, SortDir::Desc)]);
        assert_eq!(q.limit, 1000);
    }

    #[test]
    fn non_admins_lose_unknown_filters_and_all_tenants() {
        let q = VolumeQuery::from_params(
            &params(&[("all_tenants", "1"), ("host", "x"), ("status", "available")]),
            &user(false),
            1000,
        )
        .unwrap();
        assert_eq!(q.project_id.as_deref(), Some("p"));
        assert_eq!(q.filters.len(), 1);
        assert!(!q.match_nothing);
    }

    #[test]
    fn admins_filter_any_column_and_unknown_columns_match_nothing() {
        let q = VolumeQuery::from_params(
            &params(&[("all_tenants", "True"), ("host", "x"), ("nonsense", "1")]),
            &user(true),
            1000,
        )
        .unwrap();
        assert_eq!(q.project_id, None);
        assert!(q.match_nothing);
    }

    #[test]
    fn metadata_filter_takes_python_dict_literals() {
        let q = VolumeQuery::from_params(
            &params(&[("metadata", "{'k': 'v', 'a': 'b'}")]),
            &user(false),
            1000,
        )
        .unwrap();
        assert_eq!(q.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(q.metadata.len(), 2);
    }

    #[test]
    fn bad_pages_and_sorts_are_rejected_with_cinders_messages() {
        let err = |p: &[(&str, &str)]| {
            VolumeQuery::from_params(&params(p), &user(false), 1000)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(&[("limit", "x")]), "limit param must be an integer");
        assert_eq!(err(&[("limit", "-1")]), "limit param must be positive");
        assert!(err(&[("sort", "foo:asc")]).contains("Invalid sort key"));
        assert!(err(&[("sort", "size:sideways")]).contains("sort direction"));
        assert!(err(&[("sort", "size"), ("sort_key", "id")]).contains("cannot be used"));
        assert!(err(&[("offset", "-3")]).contains("offset"));
    }

    #[test]
    fn sort_accepts_several_keys_and_the_legacy_pair() {
        let q = VolumeQuery::from_params(&params(&[("sort", "size:asc,name")]), &user(false), 10)
            .unwrap();
        assert_eq!(
            q.sort,
            vec![
                (SortKey::Size, SortDir::Asc),
                (SortKey::Name, SortDir::Desc)
            ]
        );
        let q = VolumeQuery::from_params(
            &params(&[("sort_key", "size"), ("sort_dir", "asc"), ("limit", "5000")]),
            &user(false),
            10,
        )
        .unwrap();
        assert_eq!(q.sort, vec![(SortKey::Size, SortDir::Asc)]);
        assert_eq!(q.limit, 10);
    }
}

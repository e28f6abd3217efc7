//! Volume transfers (Cinder's `os-volume-transfer`): a project offers one of its volumes, with
//! its snapshots, to whoever presents the auth key; accepting moves them to the acceptor's
//! project in one transaction that checks the acceptor's quota.

pub mod auth_key;
mod service;

use chrono::{DateTime, Utc};

use crate::error::DomainError;
use crate::volume::query::{parse_page, CONTROL};
use crate::Caller;

pub use service::{NewTransfer, TransferService};

/// An offer pending acceptance. The key itself is never stored, only `crypt_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: String,
    pub volume_id: String,
    /// The donor: the volume's project when the offer was made.
    pub project_id: String,
    pub name: Option<String>,
    pub salt: String,
    /// [`auth_key::digest`] of the salt and the key.
    pub crypt_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A listing of transfers: always by `created_at`, `id` ascending (Cinder's fixed order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferQuery {
    /// `None`: every project (admin with `all_tenants`).
    pub project_id: Option<String>,
    pub name: Option<String>,
    pub volume_id: Option<String>,
    pub id: Option<String>,
    /// A filter on something transfers do not have: the list is empty, as in Cinder.
    pub match_nothing: bool,
    pub limit: u32,
    pub offset: u64,
    pub marker: Option<String>,
}

impl TransferQuery {
    pub fn from_params(
        params: &[(String, String)],
        caller: &Caller,
        max_page: u32,
    ) -> Result<TransferQuery, DomainError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.to_owned())
        };
        // oslo's `bool_from_string`: only a true spelling is true here.
        let all_tenants = caller.is_admin
            && get("all_tenants").is_some_and(|v| {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "1" | "t" | "true" | "on" | "y" | "yes"
                )
            });
        let (limit, offset) = parse_page(params, max_page)?;
        let filters = ["name", "volume_id", "id"];
        Ok(TransferQuery {
            project_id: (!all_tenants).then(|| caller.project_id.clone()),
            name: get("name"),
            volume_id: get("volume_id"),
            id: get("id"),
            match_nothing: params
                .iter()
                .any(|(k, _)| !CONTROL.contains(&k.as_str()) && !filters.contains(&k.as_str())),
            limit,
            offset,
            marker: get("marker"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn caller(admin: bool) -> Caller {
        Caller {
            user_id: "u".into(),
            project_id: "p".into(),
            is_admin: admin,
        }
    }

    #[test]
    fn all_tenants_needs_an_admin_and_a_true_spelling() {
        let q = |admin, v| {
            TransferQuery::from_params(&params(&[("all_tenants", v)]), &caller(admin), 1000)
                .unwrap()
                .project_id
        };
        assert_eq!(q(true, "1"), None);
        assert_eq!(q(true, "bogus").as_deref(), Some("p"));
        assert_eq!(q(false, "true").as_deref(), Some("p"));
    }

    #[test]
    fn name_filters_and_unknown_filters_match_nothing() {
        let q = TransferQuery::from_params(
            &params(&[("name", "n"), ("limit", "2"), ("offset", "1")]),
            &caller(false),
            1000,
        )
        .unwrap();
        assert_eq!(
            (q.name.as_deref(), q.limit, q.offset, q.match_nothing),
            (Some("n"), 2, 1, false)
        );
        let q = TransferQuery::from_params(&params(&[("salt", "x")]), &caller(true), 1000).unwrap();
        assert!(q.match_nothing);
    }
}

//! The service catalog handed out with every scoped token: identity, and block storage under
//! the names each client looks for (`block-storage`, `volumev3`, `volumev2`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub const ALL: [Interface; 3] = [Interface::Public, Interface::Internal, Interface::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}

/// Base URLs (scheme, host, port; no path) of one service for each interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrls {
    pub public: String,
    pub internal: String,
    pub admin: String,
}

impl EndpointUrls {
    pub fn same(url: &str) -> Self {
        let url = url.trim_end_matches('/').to_owned();
        EndpointUrls {
            public: url.clone(),
            internal: url.clone(),
            admin: url,
        }
    }

    pub fn get(&self, interface: Interface) -> &str {
        match interface {
            Interface::Public => &self.public,
            Interface::Internal => &self.internal,
            Interface::Admin => &self.admin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSettings {
    pub region: String,
    pub identity: EndpointUrls,
    pub volume: EndpointUrls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEndpoint {
    pub id: String,
    pub interface: Interface,
    pub region: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogService {
    pub id: String,
    pub service_type: &'static str,
    pub name: &'static str,
    pub endpoints: Vec<CatalogEndpoint>,
}

/// (type, name, path under the base URL; `{project_id}` is substituted).
const SERVICES: [(&str, &str, &str); 4] = [
    ("identity", "keystone", "/v3"),
    ("block-storage", "cinder", "/v3/{project_id}"),
    ("volumev3", "cinderv3", "/v3/{project_id}"),
    ("volumev2", "cinderv2", "/v2/{project_id}"),
];

impl CatalogSettings {
    /// The catalog of a token scoped to `project_id`. Ids are derived from the service and
    /// interface so that they stay the same from one token to the next.
    pub fn catalog(&self, project_id: &str) -> Vec<CatalogService> {
        SERVICES
            .iter()
            .map(|(ty, name, path)| {
                let base = if *ty == "identity" {
                    &self.identity
                } else {
                    &self.volume
                };
                CatalogService {
                    id: stable_id(ty),
                    service_type: ty,
                    name,
                    endpoints: Interface::ALL
                        .iter()
                        .map(|i| CatalogEndpoint {
                            id: stable_id(&format!("{ty}/{}", i.as_str())),
                            interface: *i,
                            region: self.region.clone(),
                            url: format!(
                                "{}{}",
                                base.get(*i),
                                path.replace("{project_id}", project_id)
                            ),
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

fn stable_id(name: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("basalt:{name}").as_bytes(),
    )
    .simple()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_every_block_storage_alias_with_the_project() {
        let s = CatalogSettings {
            region: "RegionOne".into(),
            identity: EndpointUrls::same("https://127.0.0.1:5000/"),
            volume: EndpointUrls::same("https://127.0.0.1:8776"),
        };
        let cat = s.catalog("p1");
        let url = |ty: &str| {
            cat.iter().find(|c| c.service_type == ty).unwrap().endpoints[0]
                .url
                .clone()
        };
        assert_eq!(url("identity"), "https://127.0.0.1:5000/v3");
        assert_eq!(url("block-storage"), "https://127.0.0.1:8776/v3/p1");
        assert_eq!(url("volumev3"), "https://127.0.0.1:8776/v3/p1");
        assert_eq!(url("volumev2"), "https://127.0.0.1:8776/v2/p1");
        assert!(cat.iter().all(|c| c.endpoints.len() == 3));
        assert_eq!(s.catalog("p2")[0].id, cat[0].id);
    }
}

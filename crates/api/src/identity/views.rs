//! Wire shapes of the identity endpoint: v2.0 `access` and v3 `token` documents, catalogs, and
//! the v3 admin resources.

use basalt_identity::{
    CatalogService, Domain, DomainInfo, Project, ProjectInfo, Role, RoleInfo, TokenInfo, User,
};
use serde::Serialize;

use crate::timefmt::keystone;

// ---- v2.0 ----------------------------------------------------------------------------------

#[derive(Serialize)]
pub struct AccessV2 {
    pub access: AccessBody,
}

#[derive(Serialize)]
pub struct AccessBody {
    token: TokenV2,
    #[serde(rename = "serviceCatalog")]
    service_catalog: Vec<ServiceV2>,
    user: UserV2,
    metadata: MetadataV2,
}

#[derive(Serialize)]
struct TokenV2 {
    id: String,
    issued_at: String,
    expires: String,
    audit_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantV2>,
}

#[derive(Serialize)]
pub struct TenantV2 {
    id: String,
    name: String,
    description: String,
    enabled: bool,
}

impl From<&ProjectInfo> for TenantV2 {
    fn from(p: &ProjectInfo) -> Self {
        TenantV2 {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            enabled: p.enabled,
        }
    }
}

impl From<&Project> for TenantV2 {
    fn from(p: &Project) -> Self {
        TenantV2 {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            enabled: p.enabled,
        }
    }
}

#[derive(Serialize)]
struct ServiceV2 {
    name: &'static str,
    #[serde(rename = "type")]
    service_type: &'static str,
    endpoints: Vec<EndpointV2>,
    endpoints_links: [(); 0],
}

#[derive(Serialize)]
pub struct EndpointV2 {
    id: String,
    region: String,
    #[serde(rename = "publicURL")]
    public_url: String,
    #[serde(rename = "internalURL")]
    internal_url: String,
    #[serde(rename = "adminURL")]
    admin_url: String,
}

#[derive(Serialize)]
struct UserV2 {
    id: String,
    name: String,
    username: String,
    roles: Vec<NamedRole>,
    roles_links: [(); 0],
}

#[derive(Serialize)]
struct NamedRole {
    name: String,
}

#[derive(Serialize)]
struct MetadataV2 {
    is_admin: u8,
    roles: Vec<String>,
}

/// v2 collapses each service's three interfaces into one endpoint object.
pub fn endpoints_v2(service: &CatalogService) -> EndpointV2 {
    let url = |i: &str| {
        service
            .endpoints
            .iter()
            .find(|e| e.interface.as_str() == i)
            .map(|e| e.url.clone())
            .unwrap_or_default()
    };
    EndpointV2 {
        id: service.id.clone(),
        region: service
            .endpoints
            .first()
            .map(|e| e.region.clone())
            .unwrap_or_default(),
        public_url: url("public"),
        internal_url: url("internal"),
        admin_url: url("admin"),
    }
}

pub fn access_v2(id: &str, t: &TokenInfo, catalog: &[CatalogService]) -> AccessV2 {
    AccessV2 {
        access: AccessBody {
            token: TokenV2 {
                id: id.to_owned(),
                issued_at: keystone(t.issued_at),
                expires: keystone(t.expires_at),
                audit_ids: t.audit_ids.clone(),
                tenant: t.project.as_ref().map(TenantV2::from),
            },
            service_catalog: catalog
                .iter()
                .map(|s| ServiceV2 {
                    name: s.name,
                    service_type: s.service_type,
                    endpoints: vec![endpoints_v2(s)],
                    endpoints_links: [],
                })
                .collect(),
            user: UserV2 {
                id: t.user.id.clone(),
                name: t.user.name.clone(),
                username: t.user.name.clone(),
                roles: t
                    .roles
                    .iter()
                    .map(|r| NamedRole {
                        name: r.name.clone(),
                    })
                    .collect(),
                roles_links: [],
            },
            metadata: MetadataV2 {
                is_admin: 0,
                roles: t.roles.iter().map(|r| r.id.clone()).collect(),
            },
        },
    }
}

// ---- v3 tokens -----------------------------------------------------------------------------

#[derive(Serialize)]
pub struct TokenV3Doc {
    pub token: TokenV3,
}

#[derive(Serialize)]
pub struct TokenV3 {
    methods: Vec<String>,
    user: UserRefV3,
    audit_ids: Vec<String>,
    expires_at: String,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<ProjectRefV3>,
    is_domain: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<RoleInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog: Option<Vec<ServiceV3>>,
}

#[derive(Serialize)]
struct UserRefV3 {
    id: String,
    name: String,
    domain: DomainInfo,
    password_expires_at: Option<String>,
}

#[derive(Serialize)]
struct ProjectRefV3 {
    id: String,
    name: String,
    domain: DomainInfo,
}

#[derive(Serialize)]
pub struct ServiceV3 {
    id: String,
    #[serde(rename = "type")]
    service_type: &'static str,
    name: &'static str,
    endpoints: Vec<EndpointV3>,
}

#[derive(Serialize)]
struct EndpointV3 {
    id: String,
    interface: &'static str,
    region: String,
    region_id: String,
    url: String,
}

pub fn catalog_v3(catalog: &[CatalogService]) -> Vec<ServiceV3> {
    catalog
        .iter()
        .map(|s| ServiceV3 {
            id: s.id.clone(),
            service_type: s.service_type,
            name: s.name,
            endpoints: s
                .endpoints
                .iter()
                .map(|e| EndpointV3 {
                    id: e.id.clone(),
                    interface: e.interface.as_str(),
                    region: e.region.clone(),
                    region_id: e.region.clone(),
                    url: e.url.clone(),
                })
                .collect(),
        })
        .collect()
}

/// `catalog` is `None` for unscoped tokens and for `?nocatalog`.
pub fn token_v3(t: &TokenInfo, catalog: Option<&[CatalogService]>) -> TokenV3Doc {
    TokenV3Doc {
        token: TokenV3 {
            methods: t.methods.clone(),
            user: UserRefV3 {
                id: t.user.id.clone(),
                name: t.user.name.clone(),
                domain: t.user.domain.clone(),
                password_expires_at: None,
            },
            audit_ids: t.audit_ids.clone(),
            expires_at: keystone(t.expires_at),
            issued_at: keystone(t.issued_at),
            project: t.project.as_ref().map(|p| ProjectRefV3 {
                id: p.id.clone(),
                name: p.name.clone(),
                domain: p.domain.clone(),
            }),
            is_domain: false,
            roles: t.project.as_ref().map(|_| t.roles.clone()),
            catalog: catalog.map(catalog_v3),
        },
    }
}

// ---- v3 resources --------------------------------------------------------------------------

#[derive(Serialize)]
pub struct SelfLink {
    #[serde(rename = "self")]
    pub self_: String,
}

#[derive(Serialize)]
pub struct CollectionLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl CollectionLinks {
    pub fn at(url: String) -> Self {
        CollectionLinks {
            self_: url,
            previous: None,
            next: None,
        }
    }
}

#[derive(Serialize)]
pub struct ProjectV3 {
    id: String,
    name: String,
    domain_id: String,
    description: String,
    enabled: bool,
    is_domain: bool,
    parent_id: String,
    tags: [(); 0],
    options: serde_json::Map<String, serde_json::Value>,
    links: SelfLink,
}

pub fn project_v3(p: &Project, base: &str) -> ProjectV3 {
    ProjectV3 {
        id: p.id.clone(),
        name: p.name.clone(),
        domain_id: p.domain_id.clone(),
        description: p.description.clone(),
        enabled: p.enabled,
        is_domain: false,
        parent_id: p.domain_id.clone(),
        tags: [],
        options: Default::default(),
        links: SelfLink {
            self_: format!("{base}/v3/projects/{}", p.id),
        },
    }
}

#[derive(Serialize)]
pub struct UserV3 {
    id: String,
    name: String,
    domain_id: String,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    password_expires_at: Option<String>,
    options: serde_json::Map<String, serde_json::Value>,
    links: SelfLink,
}

pub fn user_v3(u: &User, base: &str) -> UserV3 {
    UserV3 {
        id: u.id.clone(),
        name: u.name.clone(),
        domain_id: u.domain_id.clone(),
        enabled: u.enabled,
        default_project_id: u.default_project_id.clone(),
        email: u.email.clone(),
        description: u.description.clone(),
        password_expires_at: None,
        options: Default::default(),
        links: SelfLink {
            self_: format!("{base}/v3/users/{}", u.id),
        },
    }
}

#[derive(Serialize)]
pub struct RoleV3 {
    id: String,
    name: String,
    domain_id: Option<String>,
    description: Option<String>,
    options: serde_json::Map<String, serde_json::Value>,
    links: SelfLink,
}

pub fn role_v3(r: &Role, base: &str) -> RoleV3 {
    RoleV3 {
        id: r.id.clone(),
        name: r.name.clone(),
        domain_id: None,
        description: None,
        options: Default::default(),
        links: SelfLink {
            self_: format!("{base}/v3/roles/{}", r.id),
        },
    }
}

#[derive(Serialize)]
pub struct DomainV3 {
    id: String,
    name: String,
    description: String,
    enabled: bool,
    tags: [(); 0],
    options: serde_json::Map<String, serde_json::Value>,
    links: SelfLink,
}

pub fn domain_v3(d: &Domain, base: &str) -> DomainV3 {
    DomainV3 {
        id: d.id.clone(),
        name: d.name.clone(),
        description: d.description.clone(),
        enabled: d.enabled,
        tags: [],
        options: Default::default(),
        links: SelfLink {
            self_: format!("{base}/v3/domains/{}", d.id),
        },
    }
}

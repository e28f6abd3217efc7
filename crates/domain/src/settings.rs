//! What the domain needs to know of the deployment.

#[derive(Debug, Clone)]
pub struct BackendPlacement {
    /// Backend name (`[[backends]] name`), the middle of `host@backend#pool`.
    pub name: String,
    pub availability_zone: String,
}

#[derive(Debug, Clone)]
pub struct DomainSettings {
    /// The volume service's host name, the first part of `host@backend#pool`.
    pub host: String,
    /// The zone of a volume created without one (Cinder's `default_availability_zone`).
    pub default_availability_zone: String,
    pub backends: Vec<BackendPlacement>,
    /// Cinder's `osapi_max_limit`: page size cap and default.
    pub max_page_size: u32,
}

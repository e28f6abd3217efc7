//! The configuration file: one serde struct, every field defaulted, and the commented template
//! written on first start. A test keeps the template and the defaults in agreement.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub database: DatabaseConfig,
    pub identity: IdentityConfig,
    pub catalog: CatalogConfig,
    pub volumes: VolumesConfig,
    pub nbd: NbdConfig,
    pub iscsi: IscsiConfig,
    pub backup: BackupConfig,
    pub backends: Vec<BackendConfig>,
}

/// The backup repository (Cinder's posix backup driver).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    pub enabled: bool,
    /// The repository's directory, relative to the data directory.
    pub path: String,
    /// Chunk size of a new repository; an existing one keeps its own.
    pub chunk_kib: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: true,
            path: "backups".into(),
            chunk_kib: 1024,
        }
    }
}

/// The built-in NBD server, through which compute hosts reach attached volumes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NbdConfig {
    pub enabled: bool,
    pub listen_addr: SocketAddr,
    /// The host name or address put in `connection_info`; empty: the listen address's IP.
    pub public_host: String,
    /// Offer `NBD_OPT_STARTTLS` with the server certificate (when TLS is enabled).
    pub tls: bool,
    /// Refuse clients that do not upgrade to TLS first.
    pub tls_required: bool,
}

/// The iSCSI exporter (tgt), used by backends whose `target_protocol` is "iscsi".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IscsiConfig {
    pub portal: SocketAddr,
    /// What connectors dial, when not `portal`; empty: `portal`.
    pub advertised_portal: String,
    pub iqn_prefix: String,
    /// tgtd's control port (`tgtd -C`); a tgtd is started on it when none answers.
    pub control_port: u16,
}

impl Default for IscsiConfig {
    fn default() -> Self {
        IscsiConfig {
            portal: "127.0.0.1:3260".parse().expect("valid address"),
            advertised_portal: String::new(),
            iqn_prefix: "iqn.2010-10.org.openstack:".into(),
            control_port: 0,
        }
    }
}

impl Default for NbdConfig {
    fn default() -> Self {
        NbdConfig {
            enabled: true,
            listen_addr: "127.0.0.1:10809".parse().expect("valid address"),
            public_host: String::new(),
            tls: true,
            tls_required: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumesConfig {
    pub host: String,
    pub default_availability_zone: String,
    pub max_page_size: u32,
    pub workers: usize,
    pub reconcile_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    pub driver: String,
    pub path: String,
    pub availability_zone: String,
    pub over_subscription_ratio: f64,
    pub reserved_percentage: u8,
    /// How compute hosts reach its volumes: "nbd" (built in) or "iscsi" (tgt).
    pub target_protocol: String,
}

impl Eq for BackendConfig {}

impl Default for VolumesConfig {
    fn default() -> Self {
        VolumesConfig {
            host: String::new(),
            default_availability_zone: "nova".into(),
            max_page_size: 1000,
            workers: 4,
            reconcile_seconds: 60,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            name: "file".into(),
            driver: "file".into(),
            path: "volumes".into(),
            availability_zone: "nova".into(),
            over_subscription_ratio: 20.0,
            reserved_percentage: 0,
            target_protocol: "nbd".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub identity_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub max_body_bytes: usize,
    pub shutdown_grace_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub enabled: bool,
    pub cert_file: String,
    pub key_file: String,
    pub extra_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    pub token_ttl_seconds: u64,
    pub token_cache_seconds: u64,
    pub password_hash_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    pub region: String,
    pub identity_public_url: String,
    pub identity_internal_url: String,
    pub identity_admin_url: String,
    pub volume_public_url: String,
    pub volume_internal_url: String,
    pub volume_admin_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            tls: TlsConfig::default(),
            database: DatabaseConfig::default(),
            identity: IdentityConfig::default(),
            catalog: CatalogConfig::default(),
            volumes: VolumesConfig::default(),
            nbd: NbdConfig::default(),
            iscsi: IscsiConfig::default(),
            backup: BackupConfig::default(),
            backends: vec![BackendConfig::default()],
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            identity_addr: "127.0.0.1:5000".parse().expect("valid address"),
            api_addr: "127.0.0.1:8776".parse().expect("valid address"),
            max_body_bytes: basalt_api::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace_seconds: 30,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            cert_file: String::new(),
            key_file: String::new(),
            extra_names: Vec::new(),
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            token_ttl_seconds: 86_400,
            token_cache_seconds: 30,
            password_hash_concurrency: 0,
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            region: "RegionOne".into(),
            identity_public_url: String::new(),
            identity_internal_url: String::new(),
            identity_admin_url: String::new(),
            volume_public_url: String::new(),
            volume_internal_url: String::new(),
            volume_admin_url: String::new(),
        }
    }
}

/// Written as `basalt.toml` on first start: every setting, its default, and what it does.
pub const TEMPLATE: &str = r#"# Basalt configuration. Every setting is shown with its default value.
# Relative paths are relative to the data directory.

[server]
# Where the Keystone-compatible identity endpoint listens.
identity_addr = "127.0.0.1:5000"
# Where the block-storage (Cinder) API listens.
api_addr = "127.0.0.1:8776"
# Largest request body accepted, in bytes (Cinder's default); larger bodies get 413.
max_body_bytes = 114688
# On SIGTERM/SIGINT, in-flight requests get this long to finish.
shutdown_grace_seconds = 30

[tls]
# HTTPS on both endpoints. Set to false only behind a TLS-terminating proxy.
enabled = true
# PEM certificate chain and private key. Empty: tls/server.pem and tls/server-key.pem,
# issued on first start by a CA generated in tls/ca.pem.
cert_file = ""
key_file = ""
# Names (DNS or IP) added to the generated certificate besides localhost, 127.0.0.1, ::1.
extra_names = []

[database]
# Database URL. Empty: SQLite in basalt.db in the data directory.
url = ""

[identity]
# Lifetime of an issued token.
token_ttl_seconds = 86400
# How long a validated token is trusted from memory (0 disables the cache). Revocations made
# through this process take effect at once; this bounds how long another node's take.
token_cache_seconds = 30
# Password and API-key hashes computed at once (0: one per CPU).
password_hash_concurrency = 0

[catalog]
region = "RegionOne"
# Base URLs (scheme://host:port) published in the service catalog and version documents.
# Empty: derived from the listen address and the TLS setting.
identity_public_url = ""
identity_internal_url = ""
identity_admin_url = ""
volume_public_url = ""
volume_internal_url = ""
volume_admin_url = ""

[volumes]
# This volume service's name, the "host" of host@backend#pool. Empty: the machine's hostname.
host = ""
# The zone of a volume created without one (Cinder's default_availability_zone).
default_availability_zone = "nova"
# Page size cap and default of listings (Cinder's osapi_max_limit).
max_page_size = 1000
# Tasks running storage jobs (create, delete, extend) at once.
workers = 4
# How often interrupted jobs and stranded volumes are looked for, besides at start-up.
reconcile_seconds = 60

[nbd]
# The built-in NBD server: attached volumes are exported to compute hosts through it
# (connection_info driver_volume_type "nbd"). 10809 is NBD's registered port.
enabled = true
listen_addr = "127.0.0.1:10809"
# The host compute nodes dial, as given in connection_info. Empty: the listen address's IP.
public_host = ""
# Offer STARTTLS with the server certificate (when [tls] is enabled); require it if asked.
tls = true
tls_required = false

[iscsi]
# The iSCSI exporter, through the userspace tgt target (Debian package tgt), for backends
# whose target_protocol is "iscsi": a target per attachment, an ACL for the connector's
# initiator and CHAP credentials of its own. tgtd is started on control_port if none answers.
portal = "127.0.0.1:3260"
advertised_portal = ""
iqn_prefix = "iqn.2010-10.org.openstack:"
control_port = 0

[backup]
# The backup repository: volumes cut into chunks, each stored once (SHA-256 name, zstd),
# holes not stored, one checksummed manifest per backup. Disabled: the backup API answers 503.
enabled = true
# Its directory (relative to the data directory); may be shared storage.
path = "backups"
# Chunk size in KiB of a repository created here; an existing repository keeps its own.
chunk_kib = 1024

# Storage backends; repeat the [[backends]] table for more than one.
[[backends]]
# The backend's name, the middle of host@backend#pool.
name = "file"
# "file": each volume is a sparse raw file in `path`.
driver = "file"
# Directory of the volume files (relative to the data directory).
path = "volumes"
availability_zone = "nova"
# Thin provisioning: volumes may add up to this many times the usable capacity.
over_subscription_ratio = 20.0
# Share of the filesystem kept free, in percent.
reserved_percentage = 0
# How compute hosts reach its volumes (Cinder's target_protocol): "nbd" or "iscsi".
target_protocol = "nbd"
"#;

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid {}: {e}", path.display()))
    }

    /// The database URL, with the embedded default resolved against the data directory.
    pub fn database_url(&self, data_dir: &Path) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", data_dir.join("basalt.db").display())
        } else {
            self.database.url.clone()
        }
    }
}

/// A path from the config: absolute as given, relative to the data directory otherwise.
pub fn resolve(data_dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        data_dir.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_states_exactly_the_defaults() {
        let parsed: Config = toml::from_str(TEMPLATE).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn every_default_field_appears_in_the_template() {
        for key in [
            "identity_addr",
            "api_addr",
            "max_body_bytes",
            "shutdown_grace_seconds",
            "enabled",
            "cert_file",
            "key_file",
            "extra_names",
            "url",
            "token_ttl_seconds",
            "token_cache_seconds",
            "password_hash_concurrency",
            "region",
            "identity_public_url",
            "volume_admin_url",
            "listen_addr",
            "public_host",
            "tls_required",
        ] {
            assert!(TEMPLATE.contains(&format!("\n{key} = ")), "{key} missing");
        }
    }

    #[test]
    fn unknown_settings_are_rejected() {
        assert!(toml::from_str::<Config>("[server]\nidentity_adr = \"x\"").is_err());
    }
}

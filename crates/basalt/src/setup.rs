//! The data directory: created with its config on first use; the database opened and migrated;
//! the identity service built and bootstrapped; `openrc` written when the admin is created.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use basalt_db::Database;
use basalt_identity::{CatalogSettings, EndpointUrls, Identity, IdentitySettings, PasswordHasher};

use crate::config::{Config, TEMPLATE};

pub struct Env {
    pub data_dir: PathBuf,
    pub config: Config,
}

impl Env {
    /// Creates the data directory and the default config file when missing, then loads it.
    pub fn open(data_dir: &Path, config: Option<&Path>) -> anyhow::Result<Env> {
        if !data_dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            // Owner only: the directory holds the database, keys and the admin's openrc.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        }
        let data_dir = data_dir.canonicalize()?;
        let config_path = match config {
            Some(p) => p.to_owned(),
            None => {
                let p = data_dir.join("basalt.toml");
                if !p.exists() {
                    std::fs::write(&p, TEMPLATE)?;
                    tracing::info!(path = %p.display(), "wrote default configuration");
                }
                p
            }
        };
        Ok(Env {
            config: Config::load(&config_path)?,
            data_dir,
        })
    }

    pub async fn database(&self) -> anyhow::Result<Database> {
        let db = Database::open(&self.config.database_url(&self.data_dir)).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// The identity service over `db`, with the catalog built from `urls`.
    pub fn identity(&self, db: &Database, cfg: &Config, urls: &PublicUrls) -> Arc<Identity> {
        let c = &cfg.catalog;
        let pick = |configured: &str, fallback: &str| {
            if configured.is_empty() {
                fallback.to_owned()
            } else {
                configured.trim_end_matches('/').to_owned()
            }
        };
        let identity_public = pick(&c.identity_public_url, &urls.identity);
        let volume_public = pick(&c.volume_public_url, &urls.volume);
        let settings = IdentitySettings {
            token_ttl: Duration::from_secs(cfg.identity.token_ttl_seconds),
            token_cache_ttl: Duration::from_secs(cfg.identity.token_cache_seconds),
            catalog: CatalogSettings {
                region: c.region.clone(),
                identity: EndpointUrls {
                    internal: pick(&c.identity_internal_url, &identity_public),
                    admin: pick(&c.identity_admin_url, &identity_public),
                    public: identity_public,
                },
                volume: EndpointUrls {
                    internal: pick(&c.volume_internal_url, &volume_public),
                    admin: pick(&c.volume_admin_url, &volume_public),
                    public: volume_public,
                },
            },
        };
        let hasher = PasswordHasher::new(cfg.identity.password_hash_concurrency);
        Arc::new(Identity::new(db.identity_store(), hasher, settings))
    }

    /// The identity service for a command that has no listener: public URLs from the config.
    pub async fn offline_identity(&self) -> anyhow::Result<Arc<Identity>> {
        let db = self.database().await?;
        let urls = PublicUrls::derive(&self.config, None, None);
        let identity = self.identity(&db, &self.config, &urls);
        let tls = self.tls_files(&self.config)?;
        self.bootstrap(&identity, &urls.identity, tls.as_ref())
            .await?;
        Ok(identity)
    }
}

pub fn admin_password_from_env() -> Option<String> {
    std::env::var("BASALT_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Public base URLs: configured ones win; otherwise the bound address with the right scheme.
pub struct PublicUrls {
    pub identity: String,
    pub volume: String,
}

impl PublicUrls {
    pub fn derive(
        cfg: &Config,
        identity_bound: Option<std::net::SocketAddr>,
        volume_bound: Option<std::net::SocketAddr>,
    ) -> PublicUrls {
        let scheme = if cfg.tls.enabled { "https" } else { "http" };
        let url = |configured: &str, addr: std::net::SocketAddr| {
            if !configured.is_empty() {
                return configured.trim_end_matches('/').to_owned();
            }
            // A wildcard address is no place to send a client: use loopback.
            let host = match addr.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                ip if ip.is_unspecified() => "[::1]".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            format!("{scheme}://{host}:{}", addr.port())
        };
        PublicUrls {
            identity: url(
                &cfg.catalog.identity_public_url,
                identity_bound.unwrap_or(cfg.server.identity_addr),
            ),
            volume: url(
                &cfg.catalog.volume_public_url,
                volume_bound.unwrap_or(cfg.server.api_addr),
            ),
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The admin's `openrc`, readable by its owner only (it holds the password).
pub fn write_openrc(
    data_dir: &Path,
    identity_url: &str,
    password: &str,
    cacert: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("openrc");
    let mut text = format!(
        "# Basalt admin credentials: source this file, then use openstack or cinder.\n\
         export OS_AUTH_URL={}\n\
         export OS_USERNAME=admin\n\
         export OS_PASSWORD={}\n\
         export OS_PROJECT_NAME=admin\n\
         export OS_USER_DOMAIN_NAME=Default\n\
         export OS_PROJECT_DOMAIN_NAME=Default\n\
         export OS_IDENTITY_API_VERSION=3\n",
        shell_quote(&format!("{identity_url}/v3")),
        shell_quote(password)
    );
    if let Some(ca) = cacert {
        text.push_str(&format!(
            "export OS_CACERT={}\n",
            shell_quote(&ca.display().to_string())
        ));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(path)
}

impl Env {
    /// The certificate files to serve (generated on first use unless the operator gave some),
    /// or `None` for plain HTTP.
    pub fn tls_files(&self, cfg: &Config) -> anyhow::Result<Option<crate::tls::TlsFiles>> {
        if !cfg.tls.enabled {
            return Ok(None);
        }
        let t = &cfg.tls;
        if t.cert_file.is_empty() != t.key_file.is_empty() {
            anyhow::bail!("tls.cert_file and tls.key_file must be given together");
        }
        if !t.cert_file.is_empty() {
            return Ok(Some(crate::tls::TlsFiles {
                cert: crate::config::resolve(&self.data_dir, &t.cert_file),
                key: crate::config::resolve(&self.data_dir, &t.key_file),
                ca: None,
            }));
        }
        crate::tls::ensure_generated(&self.data_dir.join("tls"), &t.extra_names).map(Some)
    }

    /// Provisions the admin on first start: prints a generated password once and writes
    /// `openrc`. Later starts change nothing.
    pub async fn bootstrap(
        &self,
        identity: &Identity,
        identity_url: &str,
        tls: Option<&crate::tls::TlsFiles>,
    ) -> anyhow::Result<()> {
        let outcome = identity.bootstrap(admin_password_from_env()).await?;
        let Some(password) = outcome.admin_password else {
            return Ok(());
        };
        let openrc = write_openrc(
            &self.data_dir,
            identity_url,
            &password,
            tls.and_then(|t| t.ca.as_deref()),
        )?;
        match outcome.generated_password {
            Some(p) => println!(
                "Created user admin (project admin, role admin) with password: {p}\n\
                 It is shown only this once and saved in {}.",
                openrc.display()
            ),
            None => println!(
                "Created user admin (project admin, role admin) with the password from \
                 BASALT_ADMIN_PASSWORD; credentials saved in {}.",
                openrc.display()
            ),
        }
        Ok(())
    }
}

//! TLS: a CA and a server certificate generated on first start (kept across restarts), or the
//! operator's own files; and the rustls server configuration built from them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA to trust (OS_CACERT); `None` for operator-supplied certificates.
    pub ca: Option<PathBuf>,
}

const BASE_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Makes sure `dir` holds a CA and a server certificate for `extra` names; reissues the server
/// certificate (never the CA) when the configured names change.
pub fn ensure_generated(dir: &Path, extra: &[String]) -> anyhow::Result<TlsFiles> {
    std::fs::create_dir_all(dir)?;
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca-key.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server-key.pem");
    let names_file = dir.join("server.names");

    if !ca_cert.exists() || !ca_key.exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Basalt local CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2124, 1, 1);
        let ca = params.self_signed(&key)?;
        let _ = std::fs::remove_file(&ca_cert);
        let _ = std::fs::remove_file(&ca_key);
        write_private(&ca_key, &key.serialize_pem())?;
        std::fs::write(&ca_cert, ca.pem())?;
        // A new CA invalidates any server certificate issued by an old one.
        let _ = std::fs::remove_file(&cert);
    }

    let mut names: Vec<String> = BASE_NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(extra.iter().cloned());
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(&names_file).unwrap_or_default();
    if !cert.exists() || !key.exists() || current != wanted {
        let ca_key_pair = KeyPair::from_pem(&std::fs::read_to_string(&ca_key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&std::fs::read_to_string(&ca_cert)?, ca_key_pair)?;
        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Basalt server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2124, 1, 1);
        let server = params.signed_by(&server_key, &issuer)?;
        let _ = std::fs::remove_file(&key);
        write_private(&key, &server_key.serialize_pem())?;
        std::fs::write(&cert, server.pem())?;
        std::fs::write(&names_file, wanted)?;
    }
    Ok(TlsFiles {
        cert,
        key,
        ca: Some(ca_cert),
    })
}

/// rustls with the ring provider, HTTP/1.1 only.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&files.cert)
            .with_context(|| format!("cannot open {}", files.cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("invalid certificate {}", files.cert.display()))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&files.key)
            .with_context(|| format!("cannot open {}", files.key.display()))?,
    ))?
    .with_context(|| format!("no private key in {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_kept_and_names_change_reissues_only_the_server_cert() {
        let dir = tempfile::tempdir().unwrap();
        let files = ensure_generated(dir.path(), &[]).unwrap();
        let ca1 = std::fs::read(files.ca.as_ref().unwrap()).unwrap();
        let cert1 = std::fs::read(&files.cert).unwrap();
        ensure_generated(dir.path(), &[]).unwrap();
        assert_eq!(std::fs::read(&files.cert).unwrap(), cert1, "reused as is");
        ensure_generated(dir.path(), &["basalt.example".into()]).unwrap();
        assert_ne!(std::fs::read(&files.cert).unwrap(), cert1, "reissued");
        assert_eq!(std::fs::read(files.ca.as_ref().unwrap()).unwrap(), ca1);
        server_config(&files).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

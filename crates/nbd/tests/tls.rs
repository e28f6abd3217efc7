//! STARTTLS: with QEMU's client (GnuTLS, checking our certificate against a test CA) and with
//! a raw client over tokio-rustls; and the refusals when TLS is required.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A test CA (written to `dir/ca-cert.pem`, where QEMU looks for it) and a server
/// configuration with a certificate it issued for 127.0.0.1.
fn test_pki(dir: &Path) -> (Arc<rustls::ServerConfig>, CertificateDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "NBD test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca-cert.pem"), ca.pem()).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let issuer = Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (Arc::new(config), ca.der().clone())
}

async fn tls_fixture(required: bool) -> (Fixture, tempfile::TempDir, CertificateDer<'static>) {
    let pki = tempfile::tempdir().unwrap();
    let (config, ca) = test_pki(pki.path());
    (Fixture::start_with(Some(config), required).await, pki, ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_writes_and_reads_over_starttls() {
    let (mut fx, pki, _) = tls_fixture(true).await;
    let (name, path) = fx.export("v", false).await;
    let object = format!(
        "tls-creds-x509,id=tls0,endpoint=client,dir={}",
        pki.path().display()
    );
    let image = format!(
        "driver=nbd,host=127.0.0.1,port={},export={name},tls-creds=tls0",
        fx.addr.port()
    );
    let out = qemu_io(&[
        "--object",
        &object,
        "--image-opts",
        &image,
        "-c",
        "write -P 0xcd 0 1M",
        "-c",
        "read -P 0xcd 0 1M",
    ])
    .await;
    assert!(out.succeeded(), "{}", out.output);
    assert!(
        out.output.contains("read 1048576/1048576"),
        "{}",
        out.output
    );
    assert!(file_range(&path, 0, 1 << 20).iter().all(|&b| b == 0xcd));

    // Without TLS, QEMU is turned away.
    let out = qemu_io_uri(&fx.uri(&name), &[], &["read 0 4k"]).await;
    assert!(!out.succeeded(), "{}", out.output);
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_tls_is_required_only_starttls_and_abort_are_answered_in_clear() {
    let (mut fx, _pki, _) = tls_fixture(true).await;
    let (name, _) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    assert_eq!(
        c.info_or_go(OPT_GO, &name).await.unwrap_err(),
        REP_ERR_TLS_REQD
    );
    assert_eq!(
        c.info_or_go(OPT_INFO, &name).await.unwrap_err(),
        REP_ERR_TLS_REQD
    );
    assert_eq!(c.option(OPT_LIST, &[]).await, REP_ERR_TLS_REQD);
    assert_eq!(c.option(OPT_STRUCTURED_REPLY, &[]).await, REP_ERR_TLS_REQD);
    assert_eq!(c.option(OPT_ABORT, &[]).await, REP_ACK);
    c.expect_closed().await;

    let mut c = Raw::connect(fx.addr).await;
    c.send_option(OPT_EXPORT_NAME, name.as_bytes()).await;
    c.expect_closed().await;
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rustls_client_negotiates_and_transmits_after_starttls() {
    let (mut fx, _pki, ca) = tls_fixture(false).await;
    let (name, path) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    assert_eq!(c.option(OPT_STARTTLS, b"junk").await, REP_ERR_INVALID);
    assert_eq!(c.option(OPT_STARTTLS, &[]).await, REP_ACK);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(server_name, c.s).await.unwrap();
    let mut c = Raw { s: tls };

    assert_eq!(
        c.option(OPT_STARTTLS, &[]).await,
        REP_ERR_INVALID,
        "TLS is already up"
    );
    c.go(&name).await;
    c.write(1, 0, b"over tls").await;
    assert_eq!(c.reply().await, (0, 1));
    assert_eq!(c.read(2, 0, 8).await, b"over tls");
    assert_eq!(file_range(&path, 0, 8), b"over tls");
    c.request(CMD_DISC, 0, 3, 0, 0).await;
    c.expect_closed().await;

    // TLS is optional here: a plain session works too.
    let mut plain = Raw::connect(fx.addr).await;
    plain.go(&name).await;
    assert_eq!(plain.read(1, 0, 8).await, b"over tls");
    fx.stop().await;
}

//! The load client: one keep-alive HTTP/1.1 connection over TLS per worker, driven by hyper's
//! connection-level API (no pool, no redirects, no retries), so that the client spends as
//! little of the shared CPU as it can. It trusts only the server's generated CA.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A TLS connector that trusts exactly the CA in `ca_pem` (the server's `tls/ca.pem`).
pub fn connector(ca_pem: &Path) -> anyhow::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .with_context(|| format!("cannot read {}", ca_pem.display()))?
    {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A response, body read in full.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One kept-alive connection; requests on it are sequential.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// TLS over an already connected TCP stream (the start-up probe connects by itself).
    pub async fn over(tcp: TcpStream, tls: &TlsConnector) -> anyhow::Result<Conn> {
        let addr = tcp.peer_addr()?;
        tcp.set_nodelay(true)?;
        let stream = tls
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .context("TLS handshake")?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
        })
    }

    pub async fn open(addr: SocketAddr, tls: &TlsConnector) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        Conn::over(tcp, tls).await
    }

    pub async fn get(&mut self, path: &str, token: Option<&str>) -> anyhow::Result<Reply> {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Reply> {
        self.request(Method::POST, path, None, Some(body)).await
    }

    /// Any method, with `X-Auth-Token` when `token` is given and a JSON body when `body` is.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        let body = match body {
            Some(json) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(serde_json::to_vec(json)?))
            }
            None => Full::default(),
        };
        self.send(req.body(body)?).await
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
    }
}

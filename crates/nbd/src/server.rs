//! The listener: accepts connections, runs each in its own task through negotiation (with
//! STARTTLS when offered) and transmission, and on shutdown stops accepting and waits for the
//! connections to end.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::exports::ExportTable;
use crate::negotiate::{handshake, negotiate, Negotiated, Policy};
use crate::{transmission, ConnError, NbdError};

/// Longest a client may take from connecting to the start of transmission.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(30);

/// An NBD server bound to a TCP address, serving the exports of an [`ExportTable`].
pub struct NbdServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    table: ExportTable,
    tls: Option<TlsAcceptor>,
    tls_required: bool,
}

impl NbdServer {
    /// Binds the listener. With `tls`, clients may (and with `tls_required`, must) upgrade
    /// with `NBD_OPT_STARTTLS` before choosing an export; `tls_required` without `tls` is a
    /// configuration error.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        table: ExportTable,
        tls: Option<Arc<rustls::ServerConfig>>,
        tls_required: bool,
    ) -> Result<Self, NbdError> {
        if tls_required && tls.is_none() {
            return Err(NbdError::InvalidConfig(
                "TLS is required but no TLS configuration was given".into(),
            ));
        }
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                table,
                tls: tls.map(TlsAcceptor::from),
                tls_required,
            }),
        })
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then closes every connection (after the replies of
    /// requests already accepted) and returns once they have all ended.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        tracing::debug!(addr = ?self.listener.local_addr().ok(), "NBD server listening");
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let shared = self.shared.clone();
                        let span = tracing::debug_span!("nbd", %peer);
                        let stopped = stopped.clone();
                        connections.spawn(connection(stream, shared, stopped).instrument(span));
                    }
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "NBD accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self.listener);
        stop.send_replace(true);
        while connections.join_next().await.is_some() {}
        tracing::debug!("NBD server stopped");
    }
}

/// One client, from accept to close.
async fn connection(stream: TcpStream, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    tracing::debug!("NBD client connected");
    let _ = stream.set_nodelay(true);
    let negotiation = tokio::time::timeout(NEGOTIATION_TIMEOUT, negotiate_all(stream, &shared));
    let outcome = tokio::select! {
        _ = stopped.wait_for(|s| *s) => return,
        outcome = negotiation => outcome,
    };
    match outcome {
        Ok(Ok(Some((reader, writer, attachment)))) => {
            transmission::serve(reader, writer, attachment, stopped).await
        }
        Ok(Ok(None)) => tracing::debug!("NBD client left during negotiation"),
        Ok(Err(ConnError::Protocol(why))) => tracing::warn!(%why, "NBD protocol violation"),
        Ok(Err(ConnError::Io(e))) => tracing::debug!(error = %e, "NBD negotiation failed"),
        Err(_) => tracing::warn!("NBD negotiation timed out"),
    }
}

type Transmit = Option<(
    transmission::Reader,
    transmission::Writer,
    crate::exports::Attachment,
)>;

/// Handshake and option haggling, with the switch to TLS in the middle when asked for.
async fn negotiate_all(mut stream: TcpStream, shared: &Shared) -> Result<Transmit, ConnError> {
    let no_zeroes = handshake(&mut stream).await?;
    let mut policy = Policy {
        table: &shared.table,
        tls_available: shared.tls.is_some(),
        tls_required: shared.tls_required,
        tls_active: false,
    };
    match negotiate(&mut stream, &policy, no_zeroes).await? {
        Negotiated::Transmit(attachment) => {
            // Plain TCP splits into halves that share no lock.
            let (r, w) = stream.into_split();
            return Ok(Some((Box::new(r), Box::new(w), attachment)));
        }
        Negotiated::Closed => return Ok(None),
        Negotiated::StartTls => {}
    }
    let acceptor = shared
        .tls
        .as_ref()
        .expect("STARTTLS is only accepted with TLS");
    let mut stream = acceptor.accept(stream).await?;
    tracing::debug!("NBD client upgraded to TLS");
    policy.tls_active = true;
    match negotiate(&mut stream, &policy, no_zeroes).await? {
        Negotiated::Transmit(attachment) => Ok(Some(split(stream, attachment))),
        Negotiated::Closed | Negotiated::StartTls => Ok(None),
    }
}

fn split<S>(
    stream: S,
    attachment: crate::exports::Attachment,
) -> (
    transmission::Reader,
    transmission::Writer,
    crate::exports::Attachment,
)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    (Box::new(r), Box::new(w), attachment)
}

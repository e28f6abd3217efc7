//! The first request on a new connection: TCP connect, TLS handshake, then `GET /` twice on the
//! same connection. A first request much slower than the second is the signature of Nagle's
//! algorithm holding the response behind the server's TLS session tickets (the ~43 ms stall
//! the foundation measured before the server set `TCP_NODELAY`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::ensure;
use hyper::StatusCode;
use tokio_rustls::TlsConnector;

use crate::http::Conn;

/// One new connection: how long the handshake and each of the two requests took.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    pub handshake: Duration,
    pub first: Duration,
    pub second: Duration,
}

/// `count` new connections to `addr`, one after the other.
pub async fn measure(
    addr: SocketAddr,
    tls: &TlsConnector,
    count: usize,
) -> anyhow::Result<Vec<Fresh>> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        let mut conn = Conn::open(addr, tls).await?;
        let handshake = t.elapsed();
        let first = timed_get(&mut conn).await?;
        let second = timed_get(&mut conn).await?;
        out.push(Fresh {
            handshake,
            first,
            second,
        });
    }
    Ok(out)
}

async fn timed_get(conn: &mut Conn) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let reply = conn.get("/", None).await?;
    ensure!(
        reply.status == StatusCode::MULTIPLE_CHOICES,
        "GET / answered {}",
        reply.status
    );
    Ok(t.elapsed())
}

//! Start-up time: from spawning `basalt serve` to the first answered `GET /` (the
//! block-storage version list, 300) — on a fresh data directory (certificates generated and
//! the admin bootstrapped) and again on the same directory (a restart).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use hyper::StatusCode;

use crate::http::{connector, Conn};
use crate::server::Server;

const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// One fresh start and one restart.
#[derive(Debug, Clone, Copy)]
pub struct StartupRun {
    pub first: Duration,
    pub restart: Duration,
    /// The server's own "ready in N ms" (it starts counting after the process is loaded).
    pub first_self_ms: u64,
    pub restart_self_ms: u64,
}

pub async fn run_once(bin: &Path, poll: Duration) -> anyhow::Result<StartupRun> {
    let root = tempfile::tempdir()?;
    let data = root.path().join("data");
    let (first, first_self_ms) = measure(bin, &data, &root.path().join("first.log"), poll).await?;
    let (restart, restart_self_ms) =
        measure(bin, &data, &root.path().join("restart.log"), poll).await?;
    Ok(StartupRun {
        first,
        restart,
        first_self_ms,
        restart_self_ms,
    })
}

async fn measure(
    bin: &Path,
    data: &Path,
    log: &Path,
    poll: Duration,
) -> anyhow::Result<(Duration, u64)> {
    let mut server = Server::spawn(bin, data, log)?;
    let elapsed = match first_answer(&server, poll).await {
        Ok(d) => d,
        Err(e) => bail!("{e:#}; server log:\n{}", server.log_tail()),
    };
    let self_ms = server.wait_ready().await?;
    server.stop().await?;
    Ok((elapsed, self_ms))
}

/// Knocks on the block-storage port every `poll` until it accepts, then sends `GET /` over
/// TLS on that connection. The CA exists by then: the server writes it before it listens.
async fn first_answer(server: &Server, poll: Duration) -> anyhow::Result<Duration> {
    let (api, spawned_at) = (server.api, server.spawned_at);
    let tcp = tokio::task::spawn_blocking(move || knock(api, spawned_at, poll)).await??;
    tcp.set_nonblocking(true)?;
    let tls = connector(&server.ca_pem())?;
    let mut conn = Conn::over(tokio::net::TcpStream::from_std(tcp)?, &tls).await?;
    let reply = conn.get("/", None).await?;
    let elapsed = spawned_at.elapsed();
    ensure!(
        reply.status == StatusCode::MULTIPLE_CHOICES,
        "GET / answered {}",
        reply.status
    );
    Ok(elapsed)
}

/// A blocking connect loop: a refused loopback connect costs microseconds, and sleeping
/// `poll` between tries leaves the CPU to the starting server.
fn knock(addr: SocketAddr, since: Instant, poll: Duration) -> anyhow::Result<std::net::TcpStream> {
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(tcp) => return Ok(tcp),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                if since.elapsed() > GIVE_UP_AFTER {
                    bail!("nothing listened on {addr} within {GIVE_UP_AFTER:?}");
                }
                std::thread::sleep(poll);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

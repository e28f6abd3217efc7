//! Seeding: `POST /volumes` from several workers until the project holds N volumes, then
//! waiting until none is still `creating`. The time it takes is a creation-throughput figure;
//! the POST rate over each tenth of the way shows whether creating gets slower as N grows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use tokio_rustls::TlsConnector;

use crate::http::Conn;
use crate::procfs;
use crate::volume_api::Volumes;

/// Failed creates (a 500, say) are counted and sent again after a pause; seeding gives up
/// after this many failures in a row for one volume.
const MAX_ATTEMPTS: u32 = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long the last volumes may stay `creating` after the last POST.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

pub struct SeedSpec {
    pub api: SocketAddr,
    /// Volumes the project holds already.
    pub have: usize,
    pub want: usize,
    pub workers: usize,
}

#[derive(Debug, Clone)]
pub struct Seeded {
    pub have: usize,
    pub want: usize,
    pub workers: usize,
    /// The new volumes' ids in the order their POSTs were started (≈ creation order).
    pub ids: Vec<String>,
    /// Until the last POST was answered.
    pub posted: Duration,
    /// Until no volume was `creating` any more.
    pub elapsed: Duration,
    /// Creates that failed and were sent again, with the first failure.
    pub retries: u64,
    pub first_error: Option<String>,
    pub server_cpu_ticks: u64,
    /// (volumes in the project, time since the start) after each tenth of the POSTs.
    pub marks: Vec<(usize, Duration)>,
}

pub async fn seed(
    spec: &SeedSpec,
    tls: &TlsConnector,
    vols: &Volumes,
    server_pid: u32,
) -> anyhow::Result<Seeded> {
    ensure!(spec.want >= spec.have, "seeding only adds volumes");
    let need = spec.want - spec.have;
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        retries: Mutex::new((0, None)),
        marks: Mutex::new(Vec::new()),
        step: (need / 10).max(1),
        have: spec.have,
        need,
        started: Instant::now(),
    });
    let cpu0 = procfs::cpu_ticks(server_pid)?;
    let mut tasks = Vec::with_capacity(spec.workers);
    for _ in 0..spec.workers.max(1) {
        let conn = Conn::open(spec.api, tls).await?;
        let (shared, vols, tls, api) = (shared.clone(), vols.clone(), tls.clone(), spec.api);
        tasks.push(tokio::spawn(async move {
            worker(conn, (api, &tls), &vols, &shared).await
        }));
    }
    let mut numbered = Vec::with_capacity(need);
    for t in tasks {
        numbered.extend(t.await??);
    }
    let posted = shared.started.elapsed();
    numbered.sort_unstable();
    settle(&mut Conn::open(spec.api, tls).await?, vols, posted).await?;
    let elapsed = shared.started.elapsed();
    let server_cpu_ticks = procfs::cpu_ticks(server_pid)? - cpu0;
    let (retries, first_error) = shared.retries.lock().expect("not poisoned").clone();
    let marks = shared.marks.lock().expect("not poisoned").clone();
    Ok(Seeded {
        have: spec.have,
        want: spec.want,
        workers: spec.workers,
        ids: numbered.into_iter().map(|(_, id)| id).collect(),
        posted,
        elapsed,
        retries,
        first_error,
        server_cpu_ticks,
        marks,
    })
}

struct Shared {
    next: AtomicUsize,
    done: AtomicUsize,
    retries: Mutex<(u64, Option<String>)>,
    marks: Mutex<Vec<(usize, Duration)>>,
    step: usize,
    have: usize,
    need: usize,
    started: Instant,
}

/// Creates volumes until `need` have been claimed; returns (sequence number, id) of its own.
async fn worker(
    mut conn: Conn,
    (api, tls): (SocketAddr, &TlsConnector),
    vols: &Volumes,
    s: &Shared,
) -> anyhow::Result<Vec<(usize, String)>> {
    let mut made = Vec::new();
    loop {
        let i = s.next.fetch_add(1, Ordering::Relaxed);
        if i >= s.need {
            return Ok(made);
        }
        let name = format!("bench-seed-{}", s.have + i);
        let mut attempts = 0;
        let id = loop {
            attempts += 1;
            match vols.create(&mut conn, &name, 1).await {
                Ok(id) => break id,
                Err(e) if attempts < MAX_ATTEMPTS => {
                    let mut r = s.retries.lock().expect("not poisoned");
                    r.0 += 1;
                    r.1.get_or_insert_with(|| format!("{e:#}"));
                }
                Err(e) => bail!("seeding: {MAX_ATTEMPTS} failed creates in a row: {e:#}"),
            }
            // A failure may have closed the connection.
            tokio::time::sleep(RETRY_PAUSE).await;
            if let Ok(fresh) = Conn::open(api, tls).await {
                conn = fresh;
            }
        };
        made.push((i, id));
        let done = s.done.fetch_add(1, Ordering::Relaxed) + 1;
        if done.is_multiple_of(s.step) || done == s.need {
            let at = s.started.elapsed();
            s.marks
                .lock()
                .expect("not poisoned")
                .push((s.have + done, at));
            eprintln!(
                "seeding: {} volumes posted after {:.1} s",
                s.have + done,
                at.as_secs_f64()
            );
        }
    }
}

/// Waits until no volume of the project is `creating`, then checks that none is in `error`.
async fn settle(conn: &mut Conn, vols: &Volumes, posted: Duration) -> anyhow::Result<()> {
    let since = Instant::now();
    while vols.any_in(conn, "creating").await? {
        if since.elapsed() > SETTLE_TIMEOUT {
            bail!("volumes still creating {SETTLE_TIMEOUT:?} after the last POST ({posted:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(
        !vols.any_in(conn, "error").await?,
        "seeding left volumes in error"
    );
    Ok(())
}

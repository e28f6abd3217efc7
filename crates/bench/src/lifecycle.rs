//! Create-to-`available` and delete-to-404 of fresh volumes, one at a time or from several
//! workers at once. Each worker sends its request, then asks `GET /volumes/{id}` on the same
//! connection at once and every `poll` after that, until the volume shows the state wanted; the
//! time runs from just before the request is sent to the answer that shows it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio_rustls::TlsConnector;

use crate::http::Conn;
use crate::procfs;
use crate::volume_api::{Shown, Volumes};

/// Longest wait for one volume before the run is abandoned.
const VOLUME_TIMEOUT: Duration = Duration::from_secs(120);

pub struct LifecycleSpec {
    pub api: SocketAddr,
    pub count: usize,
    pub workers: usize,
    pub size_gib: u32,
    pub poll: Duration,
}

/// One run: `count` volumes created, then the same volumes deleted. Durations are sorted.
#[derive(Debug, Clone)]
pub struct LifecycleRun {
    /// `POST /volumes` round trips.
    pub post: Vec<Duration>,
    /// POST sent → the first answer showing `available`.
    pub to_available: Vec<Duration>,
    /// The server's own `updated_at - created_at` of each available volume.
    pub server_span: Vec<Duration>,
    pub create_wall: Duration,
    /// Server CPU over the create phase, polls included.
    pub create_cpu_ticks: u64,
    /// `DELETE /volumes/{id}` round trips.
    pub delete_call: Vec<Duration>,
    /// DELETE sent → the first 404.
    pub to_gone: Vec<Duration>,
    pub delete_wall: Duration,
    pub delete_cpu_ticks: u64,
    /// GETs sent while waiting, both phases.
    pub polls: u64,
    /// Volumes that failed (an error answer, an `error` status, a timeout), both phases,
    /// with the first failure; they are left out of the figures.
    pub failures: usize,
    pub first_failure: Option<String>,
}

/// One volume's way through a phase.
struct Step {
    id: String,
    call: Duration,
    done: Duration,
    span: Option<Duration>,
    polls: u64,
}

pub async fn run(
    spec: &LifecycleSpec,
    tls: &TlsConnector,
    vols: &Volumes,
    server_pid: u32,
) -> anyhow::Result<LifecycleRun> {
    let mut conns = Vec::with_capacity(spec.workers);
    for _ in 0..spec.workers.max(1) {
        conns.push(Conn::open(spec.api, tls).await?);
    }
    let tag = format!("{:x}", chrono::Utc::now().timestamp_micros());
    let names: Vec<String> = (0..spec.count)
        .map(|i| format!("bench-life-{tag}-{i}"))
        .collect();

    let cpu0 = procfs::cpu_ticks(server_pid)?;
    let t0 = Instant::now();
    let (conns, created, mut failed) = phase(conns, names, vols, spec, tls, Phase::Create).await?;
    let create_wall = t0.elapsed();
    let cpu1 = procfs::cpu_ticks(server_pid)?;

    let ids = created.iter().map(|s| s.id.clone()).collect();
    let t1 = Instant::now();
    let (_, deleted, failed_deletes) = phase(conns, ids, vols, spec, tls, Phase::Delete).await?;
    let delete_wall = t1.elapsed();
    let cpu2 = procfs::cpu_ticks(server_pid)?;
    failed.extend(failed_deletes);

    let sorted = |steps: &[Step], f: fn(&Step) -> Option<Duration>| {
        let mut v: Vec<Duration> = steps.iter().filter_map(f).collect();
        v.sort_unstable();
        v
    };
    Ok(LifecycleRun {
        post: sorted(&created, |s| Some(s.call)),
        to_available: sorted(&created, |s| Some(s.done)),
        server_span: sorted(&created, |s| s.span),
        create_wall,
        create_cpu_ticks: cpu1 - cpu0,
        delete_call: sorted(&deleted, |s| Some(s.call)),
        to_gone: sorted(&deleted, |s| Some(s.done)),
        delete_wall,
        delete_cpu_ticks: cpu2 - cpu1,
        polls: created.iter().chain(&deleted).map(|s| s.polls).sum(),
        failures: failed.len(),
        first_failure: failed.into_iter().next(),
    })
}

#[derive(Clone, Copy)]
enum Phase {
    /// Items are names: create each, wait for `available`.
    Create,
    /// Items are ids: delete each, wait for 404.
    Delete,
}

/// Splits `items` round-robin over the connections, one task each; gives the connections
/// back, with the steps that succeeded and the failures.
async fn phase(
    conns: Vec<Conn>,
    items: Vec<String>,
    vols: &Volumes,
    spec: &LifecycleSpec,
    tls: &TlsConnector,
    which: Phase,
) -> anyhow::Result<(Vec<Conn>, Vec<Step>, Vec<String>)> {
    let n = conns.len();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(w, mut conn)| {
            let mine: Vec<String> = items.iter().skip(w).step_by(n).cloned().collect();
            let (vols, tls) = (vols.clone(), tls.clone());
            let (api, size, poll) = (spec.api, spec.size_gib, spec.poll);
            tokio::spawn(async move {
                let (mut steps, mut failed) = (Vec::with_capacity(mine.len()), Vec::new());
                for item in mine {
                    let step = match which {
                        Phase::Create => create(&vols, &mut conn, &item, size, poll).await,
                        Phase::Delete => delete(&vols, &mut conn, item, poll).await,
                    };
                    match step {
                        Ok(step) => steps.push(step),
                        Err(e) => {
                            failed.push(format!("{e:#}"));
                            // The connection may be the casualty: start afresh.
                            conn = Conn::open(api, &tls).await?;
                        }
                    }
                }
                anyhow::Ok((conn, steps, failed))
            })
        })
        .collect();
    let (mut conns, mut steps, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for t in tasks {
        let (conn, s, f) = t.await??;
        conns.push(conn);
        steps.extend(s);
        failed.extend(f);
    }
    Ok((conns, steps, failed))
}

async fn create(
    vols: &Volumes,
    conn: &mut Conn,
    name: &str,
    size_gib: u32,
    poll: Duration,
) -> anyhow::Result<Step> {
    let t = Instant::now();
    let id = vols.create(conn, name, size_gib).await?;
    let call = t.elapsed();
    let mut polls = 0;
    loop {
        polls += 1;
        match vols.show(conn, &id).await? {
            Shown::Status(s, span) if s == "available" => {
                let done = t.elapsed();
                return Ok(Step {
                    id,
                    call,
                    done,
                    span,
                    polls,
                });
            }
            Shown::Status(s, _) if s.starts_with("error") => bail!("volume {id} went to {s}"),
            Shown::Gone => bail!("volume {id} vanished while being created"),
            Shown::Status(..) => {}
        }
        give_up_after(t, &id)?;
        tokio::time::sleep(poll).await;
    }
}

async fn delete(
    vols: &Volumes,
    conn: &mut Conn,
    id: String,
    poll: Duration,
) -> anyhow::Result<Step> {
    let t = Instant::now();
    vols.delete(conn, &id).await?;
    let call = t.elapsed();
    let mut polls = 0;
    loop {
        polls += 1;
        match vols.show(conn, &id).await? {
            Shown::Gone => {
                let done = t.elapsed();
                return Ok(Step {
                    id,
                    call,
                    done,
                    span: None,
                    polls,
                });
            }
            Shown::Status(s, _) if s.starts_with("error") => bail!("volume {id} went to {s}"),
            Shown::Status(..) => {}
        }
        give_up_after(t, &id)?;
        tokio::time::sleep(poll).await;
    }
}

fn give_up_after(since: Instant, id: &str) -> anyhow::Result<()> {
    (since.elapsed() < VOLUME_TIMEOUT)
        .then_some(())
        .with_context(|| format!("volume {id} did not settle within {VOLUME_TIMEOUT:?}"))
}

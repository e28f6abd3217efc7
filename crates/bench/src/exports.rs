//! The exports scenario: a 4 GiB volume (its first 2 GiB filled with data) attached through
//! the API and read and written through Basalt's built-in NBD server, beside the same file
//! reached directly and served by `qemu-nbd`, with the same tools (`qemu-img bench` for
//! sequential 1 MiB I/O, `fio` for random 4 KiB I/O), and, where tgt is installed, a twin
//! volume on a second backend attached over iSCSI (`qemu-img bench` and libiscsi's
//! `iscsi-perf`, which only reads: no random writes); then the attach call sequence
//! (reserve → initialize_connection → attach) timed on fresh volumes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::attach_api::{instance_uuid, IscsiExport, NbdExport};
use crate::blockio::{self, Endpoint, Pattern, QemuNbd, Target, Workload, RANGE, SEQ_COUNT};
use crate::disk::{self, MIB};
use crate::http::{connector, Conn};
use crate::procfs;
use crate::server::Server;
use crate::stats::millis;
use crate::tokens;
use crate::volume_api::{Shown, Volumes, CONFIG};

/// The benchmarked volume's size.
pub const VOLUME_GIB: u32 = 4;
/// Longest wait for a volume to become available.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ExportsParams {
    pub repeats: usize,
    /// fio's measured time per run (after a one-second ramp).
    pub runtime: Duration,
    /// Fresh volumes the attach sequence is timed on.
    pub attaches: usize,
    pub poll: Duration,
}

/// One timed attach, then its detach.
#[derive(Debug, Clone, Copy)]
pub struct AttachRun {
    pub reserve: Duration,
    pub initialize: Duration,
    pub attach: Duration,
    /// begin_detaching → terminate_connection → detach.
    pub detach: Duration,
}

impl AttachRun {
    pub fn sequence(&self) -> Duration {
        self.reserve + self.initialize + self.attach
    }
}

/// One measurement: the tool's figure and, for the NBD servers, their CPU per request.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub figure: f64,
    pub server_cpu_us_per_op: Option<f64>,
}

pub struct Exports {
    pub dir: PathBuf,
    pub fs_type: String,
    /// Writing the 2 GiB of data into the volume's file, fsync included.
    pub fill: Duration,
    pub export: NbdExport,
    pub tools: Vec<String>,
    /// The iSCSI LUN measured, or why there is none.
    pub iscsi: Result<String, String>,
    /// Per target and workload, one run per repetition.
    pub runs: Vec<(Target, Workload, Vec<Run>)>,
    pub attaches: Vec<AttachRun>,
}

impl Exports {
    pub fn runs(&self, t: Target, w: Workload) -> &[Run] {
        self.runs
            .iter()
            .find(|(rt, rw, _)| *rt == t && *rw == w)
            .map_or(&[], |(_, _, r)| r)
    }
}

pub async fn run(bin: &Path, p: &ExportsParams) -> anyhow::Result<Exports> {
    let tools = ["qemu-img", "qemu-nbd", "fio"]
        .iter()
        .map(|t| blockio::version(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let work = tempfile::Builder::new()
        .prefix("basalt-exports-")
        .tempdir_in(std::env::temp_dir())?;
    let root = work.path();
    let config = root.join("basalt.toml");
    let iscsi = iscsi_prerequisites();
    std::fs::write(&config, config_text(iscsi.is_ok())?)?;
    let log = root.join("basalt.log");
    let mut server = Server::spawn_with(bin, &root.join("data"), &log, Some(&config))?;
    let outcome = match server.wait_ready().await {
        Ok(_) => measure(&server, p, root, iscsi.is_ok()).await,
        Err(e) => Err(e),
    };
    let tail = server.log_tail();
    server.stop().await?;
    let m =
        outcome.with_context(|| format!("server log ({}), last lines:\n{tail}", log.display()))?;
    Ok(Exports {
        dir: root.to_owned(),
        fs_type: disk::fs_type(root),
        fill: m.fill,
        export: m.export,
        iscsi: iscsi.and(m.iscsi),
        tools,
        runs: m.runs,
        attaches: m.attaches,
    })
}

/// tgt and qemu's iSCSI driver, or what is missing.
fn iscsi_prerequisites() -> Result<(), String> {
    if !Path::new("/usr/sbin/tgtd").exists() {
        return Err("tgt is not installed (Debian: apt-get install tgt)".into());
    }
    let help = std::process::Command::new("qemu-img")
        .arg("--help")
        .output()
        .map_err(|e| format!("cannot run qemu-img: {e}"))?;
    if !String::from_utf8_lossy(&help.stdout).contains("iscsi") {
        return Err("qemu has no iSCSI driver (Debian: apt-get install qemu-block-extra)".into());
    }
    Ok(())
}

/// The server's configuration: the NBD backend, and an iSCSI one in zone `iscsi` with a
/// tgtd of its own on a free portal (tgt control ports stop at 32767: one from the pid, in
/// another range than the Python tests).
fn config_text(iscsi: bool) -> anyhow::Result<String> {
    if !iscsi {
        return Ok(CONFIG.to_owned());
    }
    let free = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    Ok(format!(
        "[iscsi]\nportal = \"127.0.0.1:{}\"\ncontrol_port = {}\n\n{CONFIG}\n\
         [[backends]]\nname = \"file-iscsi\"\ndriver = \"file\"\npath = \"volumes-iscsi\"\n\
         availability_zone = \"iscsi\"\ntarget_protocol = \"iscsi\"\n\
         over_subscription_ratio = 1000000.0\n",
        free()?,
        20000 + std::process::id() % 10000
    ))
}

/// The initiator name the benchmark's iSCSI client presents.
const INITIATOR: &str = "iqn.1993-08.org.debian:01:basalt-bench";

struct Measured {
    fill: Duration,
    export: NbdExport,
    iscsi: Result<String, String>,
    runs: Vec<(Target, Workload, Vec<Run>)>,
    attaches: Vec<AttachRun>,
}

/// The twin volume on the iSCSI backend, filled like the first and attached over iSCSI.
async fn attach_iscsi(
    server: &Server,
    vols: &Volumes,
    conn: &mut Conn,
    poll: Duration,
) -> anyhow::Result<(String, IscsiExport, PathBuf)> {
    let id = vols
        .create_in(conn, "bench-exports-iscsi", VOLUME_GIB, Some("iscsi"))
        .await?;
    settle(vols, conn, &id, poll).await?;
    let file = server
        .data_dir
        .join("volumes-iscsi")
        .join(format!("volume-{id}"));
    let f = file.clone();
    tokio::task::spawn_blocking(move || fill_range(&f)).await??;
    vols.reserve(conn, &id).await?;
    let lun = vols.initialize_iscsi(conn, &id, INITIATOR).await?;
    vols.attach(conn, &id, &instance_uuid(1)).await?;
    Ok((id, lun, file))
}

async fn measure(
    server: &Server,
    p: &ExportsParams,
    root: &Path,
    with_iscsi: bool,
) -> anyhow::Result<Measured> {
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let vols = Volumes { project, token };
    let mut conn = Conn::open(server.api, &tls).await?;
    vols.unlimited_quota(&mut conn).await?;

    let attaches = attach_sequence(&vols, &mut conn, p).await?;

    let id = vols
        .create_in(&mut conn, "bench-exports", VOLUME_GIB, Some("nova"))
        .await?;
    settle(&vols, &mut conn, &id, p.poll).await?;
    let file = server.data_dir.join("volumes").join(format!("volume-{id}"));
    let fill = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || fill_range(&file)).await??
    };
    eprintln!(
        "exports: {VOLUME_GIB} GiB volume {id}: first {} MiB filled and fsynced in {:.0} ms",
        RANGE / MIB,
        millis(fill)
    );
    vols.reserve(&mut conn, &id).await?;
    let export = vols.initialize_connection(&mut conn, &id).await?;
    vols.attach(&mut conn, &id, &instance_uuid(0)).await?;
    eprintln!("exports: attached, export {}", export.uri());
    let iscsi = match with_iscsi {
        true => attach_iscsi(server, &vols, &mut conn, p.poll)
            .await
            .map_err(|e| format!("{e:#}")),
        false => Err(String::new()),
    };
    match &iscsi {
        Ok((_, lun, _)) => eprintln!("exports: attached over iSCSI, {} LUN {}", lun.iqn, lun.lun),
        Err(e) if !e.is_empty() => eprintln!("exports: no iSCSI: {e}"),
        Err(_) => {}
    }

    let mut runs: Vec<(Target, Workload, Vec<Run>)> = Vec::new();
    for t in Target::ALL {
        for w in Workload::ALL.into_iter().filter(|&w| t.measures(w)) {
            runs.push((t, w, Vec::new()));
        }
    }
    let path = file.to_string_lossy().into_owned();
    for rep in 1..=p.repeats {
        for t in Target::ALL {
            let qemu = match t {
                Target::QemuNbd => Some(QemuNbd::start(&file, &root.join("qemu-nbd.log")).await?),
                _ => None,
            };
            let (at, pid, warmed) = match (t, &qemu, &iscsi) {
                (Target::Basalt, ..) => (Endpoint::Nbd(export.uri()), Some(server.pid), &file),
                (Target::QemuNbd, Some(q), _) => (Endpoint::Nbd(q.uri()), q.pid(), &file),
                (Target::BasaltIscsi, _, Ok((_, lun, lun_file))) => {
                    let at = Endpoint::Iscsi {
                        opts: lun.image_opts(),
                        url: lun.url(),
                        initiator: lun.initiator.clone(),
                    };
                    (at, None, lun_file)
                }
                (Target::BasaltIscsi, ..) => continue,
                _ => (Endpoint::File(path.clone()), None, &file),
            };
            // O_DIRECT writes drop the range from the page cache: every buffered target starts
            // with the data cached, as Basalt's backend and qemu-nbd would serve it.
            if t != Target::FileDirect {
                let file = warmed.clone();
                tokio::task::spawn_blocking(move || warm(&file)).await??;
            }
            let outcome = measure_target(t, &at, pid, p, rep, &mut runs).await;
            if let Some(q) = qemu {
                q.stop().await?;
            }
            outcome?;
        }
    }

    vols.detach_all(&mut conn, &id).await?;
    vols.delete(&mut conn, &id).await?;
    let iscsi = match iscsi {
        Ok((iscsi_id, lun, _)) => {
            vols.detach_iscsi(&mut conn, &iscsi_id, INITIATOR).await?;
            vols.delete(&mut conn, &iscsi_id).await?;
            Ok(format!("{} LUN {} at {}", lun.iqn, lun.lun, lun.portal))
        }
        Err(e) => Err(e),
    };
    Ok(Measured {
        fill,
        export,
        iscsi,
        runs,
        attaches,
    })
}

/// Every workload once against one target.
async fn measure_target(
    t: Target,
    at: &Endpoint,
    pid: Option<u32>,
    p: &ExportsParams,
    rep: usize,
    runs: &mut [(Target, Workload, Vec<Run>)],
) -> anyhow::Result<()> {
    let ticks_per_second = procfs::clock_ticks_per_second() as f64;
    for w in Workload::ALL.into_iter().filter(|&w| t.measures(w)) {
        // Each run starts with nothing left to write back from the one before.
        tokio::process::Command::new("sync").status().await?;
        let before = pid.map(procfs::cpu_ticks).transpose()?;
        let figure = blockio::measure(t, w, at, p.runtime).await?;
        let after = pid.map(procfs::cpu_ticks).transpose()?;
        let ops = match w.pattern {
            Pattern::Sequential => SEQ_COUNT as f64,
            // fio's IOPS leave out the one-second ramp; the CPU counts it.
            Pattern::Random => figure * (p.runtime.as_secs().max(1) + 1) as f64,
        };
        let cpu = match (before, after) {
            (Some(b), Some(a)) => Some((a - b) as f64 / ticks_per_second * 1e6 / ops),
            _ => None,
        };
        eprintln!(
            "exports, run {rep}: {} — {}: {:.0} {}{}",
            t.label(),
            w.name(),
            figure,
            w.unit(),
            cpu.map(|c| format!(" (server CPU {c:.1} µs/request)"))
                .unwrap_or_default()
        );
        let slot = runs
            .iter_mut()
            .find(|(rt, rw, _)| *rt == t && *rw == w)
            .context("every pair has a slot")?;
        slot.2.push(Run {
            figure,
            server_cpu_us_per_op: cpu,
        });
    }
    Ok(())
}

/// Times reserve → initialize_connection → attach on `p.attaches` fresh 1 GiB volumes, then
/// their detach sequences, then deletes them.
async fn attach_sequence(
    vols: &Volumes,
    conn: &mut Conn,
    p: &ExportsParams,
) -> anyhow::Result<Vec<AttachRun>> {
    let mut ids = Vec::with_capacity(p.attaches);
    for _ in 0..p.attaches {
        ids.push(
            vols.create_in(conn, "bench-attach", 1, Some("nova"))
                .await?,
        );
    }
    for id in &ids {
        settle(vols, conn, id, p.poll).await?;
    }
    let mut out = Vec::with_capacity(ids.len());
    for (n, id) in ids.iter().enumerate() {
        let t = Instant::now();
        vols.reserve(conn, id).await?;
        let reserve = t.elapsed();
        let t = Instant::now();
        vols.initialize_connection(conn, id).await?;
        let initialize = t.elapsed();
        let t = Instant::now();
        vols.attach(conn, id, &instance_uuid(n as u64 + 1)).await?;
        let attach = t.elapsed();
        out.push(AttachRun {
            reserve,
            initialize,
            attach,
            detach: Duration::ZERO,
        });
    }
    for (id, run) in ids.iter().zip(out.iter_mut()) {
        let t = Instant::now();
        vols.detach_all(conn, id).await?;
        run.detach = t.elapsed();
    }
    for id in &ids {
        vols.delete(conn, id).await?;
    }
    let mut seq: Vec<f64> = out.iter().map(|r| millis(r.sequence())).collect();
    seq.sort_by(f64::total_cmp);
    eprintln!(
        "exports: {} attach sequences, median {:.2} ms",
        out.len(),
        crate::stats::median(seq)
    );
    Ok(out)
}

/// Polls `GET /volumes/{id}` until it shows `available`.
pub(crate) async fn settle(
    vols: &Volumes,
    conn: &mut Conn,
    id: &str,
    poll: Duration,
) -> anyhow::Result<()> {
    let t = Instant::now();
    loop {
        match vols.show(conn, id).await? {
            Shown::Status(s, _) if s == "available" => return Ok(()),
            Shown::Status(s, _) if s.starts_with("error") => bail!("volume {id} went to {s}"),
            Shown::Gone => bail!("volume {id} vanished"),
            Shown::Status(..) => {}
        }
        if t.elapsed() > SETTLE_TIMEOUT {
            bail!("volume {id} was not available within {SETTLE_TIMEOUT:?}");
        }
        tokio::time::sleep(poll).await;
    }
}

/// Writes [`RANGE`] bytes of pseudo-random data (xorshift64*, incompressible and never zero
/// pages) from the start of `file`, then fsyncs it.
fn fill_range(file: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; MIB as usize];
    for _ in 0..RANGE / MIB {
        for chunk in buf.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            chunk.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        f.write_all(&buf)?;
    }
    f.sync_all()?;
    Ok(t.elapsed())
}

/// Reads [`RANGE`] of `file` through the page cache, so that it is cached.
fn warm(file: &Path) -> anyhow::Result<()> {
    let mut f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; MIB as usize];
    for _ in 0..RANGE / MIB {
        f.read_exact(&mut buf)?;
    }
    Ok(())
}

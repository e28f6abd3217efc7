//! The backups scenario through the API, as a user meets it: a 10 GiB volume holding 2 GiB of
//! data, a full backup (`POST /backups` until `available`), 1 % of the volume rewritten, an
//! incremental backup, and a restore to a new volume (until `available`, then compared with
//! the volume byte for byte), beside `dd` and `zstd` on the same data in the same directory.
//! The 1 % is written as a compute host would, over an NBD attachment. Run on the system's
//! temporary directory and on an XFS image with reflink, since the service reads differently
//! there: on a filesystem without shared blocks an available volume is read in place and an
//! incremental reads what the volume's devices wrote since its parent; with reflink the
//! backup reads a snapshot, which stays as the base whose block map tells the next
//! incremental what changed.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::http::{connector, Conn};
use crate::server::Server;
use crate::tokens;
use crate::volume_api::{expect, Volumes, CONFIG};
use crate::xfs_image::XfsImage;

const MIB: u64 = 1 << 20;
const VOLUME_GIB: u64 = 10;
const DATA: u64 = 2 << 30;
/// The data lies in this many extents spread over the volume, holes between them.
const EXTENTS: u64 = 64;
/// 1 % of the volume: 1 MiB writes at 1 MiB-aligned offsets, in data and holes alike.
const CHANGES: u64 = VOLUME_GIB * 1024 / 100;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

pub struct BackupsParams {
    pub poll: Duration,
    /// Directories to measure in (default: the temporary directory and an XFS image).
    pub dirs: Option<Vec<PathBuf>>,
}

/// One step's wall time.
pub struct Step {
    pub name: &'static str,
    pub wall: Duration,
}

pub struct Target {
    pub label: String,
    pub fs_type: String,
    pub outcome: Result<Vec<Step>, String>,
}

pub async fn run(bin: &Path, p: &BackupsParams) -> anyhow::Result<Vec<Target>> {
    crate::blockio::version("zstd")?;
    let mut out = Vec::new();
    match &p.dirs {
        Some(dirs) => {
            for dir in dirs {
                out.push(in_dir(bin, p, dir.display().to_string(), dir).await);
            }
        }
        None => {
            let root = std::env::temp_dir();
            out.push(
                in_dir(
                    bin,
                    p,
                    format!("{} (root filesystem)", root.display()),
                    &root,
                )
                .await,
            );
            eprintln!("backups: making an XFS image with reflink...");
            let label = "XFS image with reflink".to_owned();
            match XfsImage::create(24 << 30) {
                Ok(image) => {
                    let t = in_dir(bin, p, label, image.path()).await;
                    drop(image);
                    out.push(t);
                }
                Err(reason) => out.push(Target {
                    label,
                    fs_type: "xfs".into(),
                    outcome: Err(reason),
                }),
            }
        }
    }
    Ok(out)
}

async fn in_dir(bin: &Path, p: &BackupsParams, label: String, dir: &Path) -> Target {
    let fs_type = crate::disk::fs_type(dir);
    let outcome = measure_in(bin, p, dir).await.map_err(|e| format!("{e:#}"));
    if let Err(e) = &outcome {
        eprintln!("backups: {label}: {e}");
    }
    Target {
        label,
        fs_type,
        outcome,
    }
}

async fn measure_in(bin: &Path, p: &BackupsParams, dir: &Path) -> anyhow::Result<Vec<Step>> {
    let work = tempfile::Builder::new()
        .prefix("basalt-backups-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot make a directory in {}", dir.display()))?;
    let root = work.path();
    let config = root.join("basalt.toml");
    std::fs::write(&config, CONFIG)?;
    let log = root.join("basalt.log");
    let data = root.join("data");
    let mut server = Server::spawn_with(bin, &data, &log, Some(&config))?;
    let outcome = match server.wait_ready().await {
        Ok(_) => measure(&server, p, root).await,
        Err(e) => Err(e),
    };
    let tail = server.log_tail();
    server.stop().await?;
    outcome.with_context(|| format!("server log ({}), last lines:\n{tail}", log.display()))
}

async fn measure(server: &Server, p: &BackupsParams, root: &Path) -> anyhow::Result<Vec<Step>> {
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let vols = Volumes { project, token };
    let mut conn = Conn::open(server.api, &tls).await?;
    vols.unlimited_quota(&mut conn).await?;
    let mut steps = Vec::new();

    let id = vols
        .create(&mut conn, "bench-backup", VOLUME_GIB as u32)
        .await?;
    crate::exports::settle(&vols, &mut conn, &id, p.poll).await?;
    let volume = root.join("data/volumes").join(format!("volume-{id}"));
    eprintln!("backups: writing {} GiB of data...", DATA >> 30);
    let flat = root.join("data.raw");
    write_data(&volume, &flat)?;

    // The yardsticks, on the same data in the same directory, from a cold cache.
    drop_cache(&flat)?;
    let t = Instant::now();
    sh(
        "dd",
        &[
            &format!("if={}", flat.display()),
            &format!("of={}", root.join("dd.out").display()),
            "bs=4M",
            "conv=fsync",
            "status=none",
        ],
    )?;
    steps.push(Step {
        name: "dd",
        wall: t.elapsed(),
    });
    std::fs::remove_file(root.join("dd.out"))?;
    drop_cache(&flat)?;
    let zst = root.join("data.zst");
    let t = Instant::now();
    sh(
        "zstd",
        &[
            "-3",
            "-T1",
            "-q",
            "-f",
            &flat.display().to_string(),
            "-o",
            &zst.display().to_string(),
        ],
    )?;
    std::fs::File::open(&zst)?.sync_all()?;
    steps.push(Step {
        name: "zstd",
        wall: t.elapsed(),
    });
    std::fs::remove_file(&zst)?;
    std::fs::remove_file(&flat)?;

    eprintln!("backups: full backup...");
    drop_cache(&volume)?;
    let t = Instant::now();
    backup(&vols, &mut conn, &id, false, p.poll).await?;
    steps.push(Step {
        name: "full",
        wall: t.elapsed(),
    });

    change_one_percent(&vols, &mut conn, &id, root, p.poll).await?;
    drop_cache(&volume)?;
    eprintln!("backups: incremental backup...");
    let t = Instant::now();
    let inc = backup(&vols, &mut conn, &id, true, p.poll).await?;
    steps.push(Step {
        name: "incremental",
        wall: t.elapsed(),
    });

    eprintln!("backups: restore...");
    let t = Instant::now();
    let restored = restore(&vols, &mut conn, &inc, p.poll).await?;
    steps.push(Step {
        name: "restore",
        wall: t.elapsed(),
    });
    let copy = root.join("data/volumes").join(format!("volume-{restored}"));
    let same = Command::new("cmp")
        .arg("-s")
        .arg(&volume)
        .arg(&copy)
        .status()?;
    if !same.success() {
        bail!("the restored volume differs from the volume");
    }
    Ok(steps)
}

/// `POST /backups`, then polls it until `available`; its id.
async fn backup(
    vols: &Volumes,
    conn: &mut Conn,
    volume: &str,
    incremental: bool,
    poll: Duration,
) -> anyhow::Result<String> {
    let body = json!({"backup": {"volume_id": volume, "incremental": incremental}});
    let reply = vols
        .call(conn, Method::POST, "/backups", Some(&body))
        .await?;
    expect(&reply, StatusCode::ACCEPTED, "POST backups")?;
    let doc: Value = serde_json::from_slice(&reply.body)?;
    let id = doc["backup"]["id"]
        .as_str()
        .context("no backup.id")?
        .to_owned();
    let t = Instant::now();
    loop {
        let reply = vols
            .call(conn, Method::GET, &format!("/backups/{id}"), None)
            .await?;
        expect(&reply, StatusCode::OK, "GET backup")?;
        let doc: Value = serde_json::from_slice(&reply.body)?;
        match doc["backup"]["status"].as_str() {
            Some("available") => return Ok(id),
            Some("creating") => {}
            other => bail!(
                "backup {id} went to {other:?}: {}",
                doc["backup"]["fail_reason"]
            ),
        }
        if t.elapsed() > SETTLE_TIMEOUT {
            bail!("backup {id} was not available within {SETTLE_TIMEOUT:?}");
        }
        tokio::time::sleep(poll).await;
    }
}

/// `POST /backups/{id}/restore` to a new volume, then polls it until `available`.
async fn restore(
    vols: &Volumes,
    conn: &mut Conn,
    backup: &str,
    poll: Duration,
) -> anyhow::Result<String> {
    let body = json!({"restore": {"name": "bench-restored"}});
    let rest = format!("/backups/{backup}/restore");
    let reply = vols.call(conn, Method::POST, &rest, Some(&body)).await?;
    expect(&reply, StatusCode::ACCEPTED, "POST backup restore")?;
    let doc: Value = serde_json::from_slice(&reply.body)?;
    let id = doc["restore"]["volume_id"]
        .as_str()
        .context("no restore.volume_id")?
        .to_owned();
    crate::exports::settle(vols, conn, &id, poll).await?;
    Ok(id)
}

/// 64 KiB blocks that `zstd -3` halves: English-like text, structured records, random bytes.
fn block(rng: &mut u64, out: &mut [u8]) {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    match next() % 20 {
        0..=7 => {
            const WORDS: &[&str] = &[
                "block", "storage", "volume", "the", "of", "snapshot", "and", "backup", "a",
                "restore", "chunk", "data", "to", "is", "in",
            ];
            let mut i = 0;
            while i < out.len() {
                let w = WORDS[(next() % WORDS.len() as u64) as usize].as_bytes();
                let n = w.len().min(out.len() - i);
                out[i..i + n].copy_from_slice(&w[..n]);
                i += n;
                if i < out.len() {
                    out[i] = b' ';
                    i += 1;
                }
            }
        }
        8..=12 => {
            for (k, rec) in out.chunks_mut(32).enumerate() {
                let v = next();
                rec.fill(0);
                rec[..8].copy_from_slice(&(k as u64).to_le_bytes());
                rec[8..12].copy_from_slice(&(v as u32 % 1000).to_le_bytes());
                rec[16..24].copy_from_slice(&(v >> 40).to_le_bytes());
            }
        }
        _ => {
            for w in out.chunks_mut(8) {
                w.copy_from_slice(&next().to_le_bytes()[..w.len()]);
            }
        }
    }
}

/// Writes the data into the volume's file (extents spread over it) and, without holes, into
/// `flat` for the yardsticks; both synced.
fn write_data(volume: &Path, flat: &Path) -> anyhow::Result<()> {
    let v = std::fs::OpenOptions::new().write(true).open(volume)?;
    let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(flat)?);
    let extent = DATA / EXTENTS;
    let stride = VOLUME_GIB * 1024 * MIB / EXTENTS;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 8 << 20];
    for e in 0..EXTENTS {
        let mut done = 0;
        while done < extent {
            for b in buf.chunks_mut(64 << 10) {
                block(&mut rng, b);
            }
            v.write_all_at(&buf, e * stride + done)?;
            f.write_all(&buf)?;
            done += buf.len() as u64;
        }
    }
    v.sync_all()?;
    f.into_inner()?.sync_all()?;
    Ok(())
}

/// 1 % of the volume rewritten by a compute host: attached over NBD (reserve,
/// initialize_connection, attach), random 1 MiB writes at random 1 MiB-aligned offsets with
/// `qemu-io`, a flush, and the detach sequence.
async fn change_one_percent(
    vols: &Volumes,
    conn: &mut Conn,
    id: &str,
    root: &Path,
    poll: Duration,
) -> anyhow::Result<()> {
    let sources = root.join("changes");
    std::fs::create_dir_all(&sources)?;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut buf = vec![0u8; MIB as usize];
    let mut args = vec!["-f".to_owned(), "raw".to_owned()];
    let mut commands = Vec::new();
    for i in 0..CHANGES {
        for b in buf.chunks_mut(64 << 10) {
            block(&mut rng, b);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let at = (rng % (VOLUME_GIB * 1024)) * MIB;
        let source = sources.join(format!("{i}"));
        std::fs::write(&source, &buf)?;
        commands.push(format!("write -q -s {} {at} {MIB}", source.display()));
    }
    commands.push("flush".to_owned());
    vols.reserve(conn, id).await?;
    let export = vols.initialize_connection(conn, id).await?;
    vols.attach(conn, id, &crate::attach_api::instance_uuid(0))
        .await?;
    for c in commands {
        args.extend(["-c".to_owned(), c]);
    }
    args.push(export.uri());
    let written = Command::new("qemu-io").args(&args).output();
    vols.detach_all(conn, id).await?;
    crate::exports::settle(vols, conn, id, poll).await?;
    let out = written.context("cannot run qemu-io")?;
    if !out.status.success() || !out.stderr.is_empty() {
        bail!(
            "qemu-io failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&sources)?;
    Ok(())
}

/// Drops `file` from the page cache (GNU dd's `iflag=nocache count=0`).
fn drop_cache(file: &Path) -> anyhow::Result<()> {
    sh(
        "dd",
        &[
            &format!("if={}", file.display()),
            "iflag=nocache",
            "count=0",
            "status=none",
        ],
    )
}

fn sh(cmd: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {cmd}"))?;
    if !out.status.success() {
        bail!("{cmd} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn wall(steps: &[Step], name: &str) -> Option<f64> {
    steps
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.wall.as_secs_f64())
}

/// The section of the report.
pub fn report(targets: &[Target]) -> String {
    let mib = (DATA / MIB) as f64;
    let mut s = format!(
        "\n## Backups through the API\n\n\
         A {VOLUME_GIB} GiB volume holding {} GiB of data in {EXTENTS} extents: `POST /backups` \
         until `available` (full), {CHANGES} random writes of 1 MiB (1 %) with `qemu-io` over an NBD \
         attachment, an incremental, and a restore \
         of it to a new volume until `available` (then compared with `cmp`); `dd bs=4M \
         conv=fsync` and `zstd -3 -T1` of the same data without holes, from a cold cache, in \
         the same directory. Rates are the data size over the wall time.\n\n\
         | filesystem | `dd` | `zstd -T1` | full backup | incremental (1 %) | restore | full ÷ slower yardstick | incremental ÷ full | restore ÷ `dd` |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        DATA >> 30
    );
    for t in targets {
        let steps = match &t.outcome {
            Ok(steps) => steps,
            Err(e) => {
                s += &format!("| {} ({}) | failed: {e} |\n", t.label, t.fs_type);
                continue;
            }
        };
        let cell = |name| {
            wall(steps, name).map_or("–".to_owned(), |w| {
                format!("{w:.2} s ({:.0} MiB/s)", mib / w)
            })
        };
        let (dd, zstd, full, inc, restore) = (
            wall(steps, "dd").unwrap_or(f64::NAN),
            wall(steps, "zstd").unwrap_or(f64::NAN),
            wall(steps, "full").unwrap_or(f64::NAN),
            wall(steps, "incremental").unwrap_or(f64::NAN),
            wall(steps, "restore").unwrap_or(f64::NAN),
        );
        s += &format!(
            "| {} ({}) | {} | {} | {} | {:.2} s | {} | {:.0} % | {:.1} % | {:.0} % |\n",
            t.label,
            t.fs_type,
            cell("dd"),
            cell("zstd"),
            cell("full"),
            inc,
            cell("restore"),
            100.0 * dd.max(zstd) / full,
            100.0 * inc / full,
            100.0 * dd / restore,
        );
    }
    s
}

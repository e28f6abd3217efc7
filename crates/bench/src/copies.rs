//! The copies scenario: how long a snapshot, a volume from that snapshot and a clone of a
//! 10 GiB volume holding 1 GiB take through the API, in each target directory (by default a
//! temporary directory on the root filesystem, where the file backend copies extents, and a
//! loop-mounted XFS image with reflink), beside `dd`'s sequential bandwidth there.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::copy_api::{Kind, Source};
use crate::disk::{self, Dd, GIB};
use crate::http::{connector, Conn};
use crate::server::Server;
use crate::stats::millis;
use crate::tokens;
use crate::volume_api::{Shown, Volumes, CONFIG};
use crate::xfs_image::XfsImage;

/// The source volume's size.
pub const VOLUME_GIB: u32 = 10;
/// The XFS image: room for the source and three reflinked copies, with margin.
const IMAGE_BYTES: u64 = 16 * GIB;
/// The XFS image target's label.
pub const XFS_LABEL: &str = "XFS image (16 GiB sparse file, `mkfs.xfs -m reflink=1`, loop-mounted)";
/// Longest wait for one copy (or deletion) before the run is abandoned.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

pub struct CopiesParams {
    /// Directories to measure in; `None`: the root filesystem's temporary directory and an
    /// XFS image.
    pub dirs: Option<Vec<PathBuf>>,
    pub repeats: usize,
    pub poll: Duration,
}

/// The three copies timed, in the order each repetition makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Snapshot,
    FromSnapshot,
    Clone,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Snapshot, Op::FromSnapshot, Op::Clone];

    pub fn name(self) -> &'static str {
        match self {
            Op::Snapshot => "snapshot",
            Op::FromSnapshot => "volume from snapshot",
            Op::Clone => "clone (`source_volid`)",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Op::Snapshot => Kind::Snapshot,
            Op::FromSnapshot | Op::Clone => Kind::Volume,
        }
    }
}

/// One copy.
#[derive(Debug, Clone, Copy)]
pub struct OpRun {
    /// POST sent → the first answer showing `available`.
    pub wall: Duration,
    /// The server's `updated_at − created_at`.
    pub span: Option<Duration>,
    /// `st_blocks × 512` of the new file.
    pub allocated: u64,
    /// The filesystem's used bytes after minus before.
    pub fs_delta: i64,
}

/// One target directory: measured, or skipped with the reason.
pub struct Target {
    pub label: String,
    pub outcome: Result<Measured, String>,
}

pub struct Measured {
    pub dir: PathBuf,
    pub fs_type: String,
    /// dd's figures, or why dd failed.
    pub dd: Result<Dd, String>,
    /// Writing the 1 GiB into the source volume's file, fsync included.
    pub write: Duration,
    /// Per operation, one run per repetition.
    pub ops: Vec<(Op, Vec<OpRun>)>,
}

impl Measured {
    pub fn runs(&self, op: Op) -> &[OpRun] {
        self.ops
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(&[], |(_, r)| r)
    }
}

pub async fn run(bin: &Path, p: &CopiesParams) -> anyhow::Result<Vec<Target>> {
    let mut out = Vec::new();
    match &p.dirs {
        Some(dirs) => {
            for dir in dirs {
                let label = dir.display().to_string();
                out.push(in_dir(bin, p, label, dir).await?);
            }
        }
        None => {
            let root = std::env::temp_dir();
            let label = format!("{} (root filesystem)", root.display());
            out.push(in_dir(bin, p, label, &root).await?);
            let label = XFS_LABEL;
            eprintln!("copies: making an XFS image with reflink...");
            match XfsImage::create(IMAGE_BYTES) {
                Ok(image) => {
                    let target = in_dir(bin, p, label.to_owned(), image.path()).await;
                    drop(image);
                    out.push(target?);
                }
                Err(reason) => {
                    eprintln!("copies: XFS image skipped: {reason}");
                    out.push(Target {
                        label: label.to_owned(),
                        outcome: Err(reason),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Measures in a fresh subdirectory of `dir`, removed afterwards.
async fn in_dir(bin: &Path, p: &CopiesParams, label: String, dir: &Path) -> anyhow::Result<Target> {
    let work = tempfile::Builder::new()
        .prefix("basalt-copies-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot make a directory in {}", dir.display()))?;
    let root = work.path();
    let fs_type = disk::fs_type(root);
    eprintln!("copies: {label} ({fs_type}): dd, 1 GiB written and read with O_DIRECT...");
    let dd = disk::dd(root).await.map_err(|e| format!("{e:#}"));
    match &dd {
        Ok(d) => eprintln!(
            "copies: dd write {:.0} MB/s, read {:.0} MB/s",
            d.write_mb_s, d.read_mb_s
        ),
        Err(e) => eprintln!("copies: dd failed: {e}"),
    }
    let config = root.join("basalt.toml");
    std::fs::write(&config, CONFIG)?;
    let log = root.join("basalt.log");
    let data = root.join("data");
    let mut server = Server::spawn_with(bin, &data, &log, Some(&config))?;
    let outcome = match server.wait_ready().await {
        Ok(_) => measure(&server, p).await,
        Err(e) => Err(e),
    };
    let tail = server.log_tail();
    server.stop().await?;
    let (write, ops) =
        outcome.with_context(|| format!("server log ({}), last lines:\n{tail}", log.display()))?;
    Ok(Target {
        label,
        outcome: Ok(Measured {
            dir: root.to_owned(),
            fs_type,
            dd,
            write,
            ops,
        }),
    })
}

/// What one server's run hands back: the write time, then the copies.
type Copies = (Duration, Vec<(Op, Vec<OpRun>)>);

async fn measure(server: &Server, p: &CopiesParams) -> anyhow::Result<Copies> {
    let tls = connector(&server.ca_pem())?;
    let (token, project) = tokens::issue_one(&mut Conn::open(server.identity, &tls).await?).await?;
    let vols = Volumes { project, token };
    let mut conn = Conn::open(server.api, &tls).await?;
    vols.unlimited_quota(&mut conn).await?;
    let run = Run {
        vols: &vols,
        data: &server.data_dir,
        poll: p.poll,
    };

    let t = Instant::now();
    let source = vols
        .create(&mut conn, "bench-copies-source", VOLUME_GIB)
        .await?;
    run.settle(&mut conn, Kind::Volume, &source, Want::Available, t)
        .await?;
    let write = disk::write_layout(&Kind::Volume.file(run.data, &source)).await?;
    eprintln!(
        "copies: {VOLUME_GIB} GiB volume {source}: 1 GiB written and fsynced in {:.0} ms",
        millis(write)
    );

    let mut ops: Vec<(Op, Vec<OpRun>)> = Op::ALL.iter().map(|&o| (o, Vec::new())).collect();
    for rep in 1..=p.repeats {
        // The clone takes each place in turn (last, first, between), so that no operation
        // always pays for the writeback of the copies before it.
        let clone_at = rep % 3;
        let mut clone = None;
        if clone_at == 2 {
            clone = Some(
                run.copy(&mut conn, Op::Clone, Source::Volume(&source))
                    .await?,
            );
        }
        let (snap, s) = run
            .copy(&mut conn, Op::Snapshot, Source::Volume(&source))
            .await?;
        if clone_at == 0 {
            clone = Some(
                run.copy(&mut conn, Op::Clone, Source::Volume(&source))
                    .await?,
            );
        }
        let (from, f) = run
            .copy(&mut conn, Op::FromSnapshot, Source::Snapshot(&snap))
            .await?;
        let (clone, c) = match clone {
            Some(done) => done,
            None => {
                run.copy(&mut conn, Op::Clone, Source::Volume(&source))
                    .await?
            }
        };
        eprintln!(
            "copies, run {rep}/{}: snapshot {:.1} ms (server {:.1} ms), from snapshot {:.1} ms \
             (server {:.1} ms), clone {:.1} ms (server {:.1} ms); fs used {:+.0} / {:+.0} / \
             {:+.0} MiB",
            p.repeats,
            millis(s.wall),
            millis(s.span.unwrap_or_default()),
            millis(f.wall),
            millis(f.span.unwrap_or_default()),
            millis(c.wall),
            millis(c.span.unwrap_or_default()),
            s.fs_delta as f64 / disk::MIB as f64,
            f.fs_delta as f64 / disk::MIB as f64,
            c.fs_delta as f64 / disk::MIB as f64,
        );
        for (i, r) in [s, f, c].into_iter().enumerate() {
            ops[i].1.push(r);
        }
        // Volumes first: the snapshot is theirs to copy from until they are gone.
        for (kind, id) in [
            (Kind::Volume, from),
            (Kind::Volume, clone),
            (Kind::Snapshot, snap),
        ] {
            run.remove(&mut conn, kind, &id).await?;
        }
    }
    run.remove(&mut conn, Kind::Volume, &source).await?;
    Ok((write, ops))
}

/// What every copy of one server's run needs.
struct Run<'a> {
    vols: &'a Volumes,
    data: &'a Path,
    poll: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Available,
    Gone,
}

impl Run<'_> {
    /// Makes one copy and waits for it; its id and figures.
    async fn copy(
        &self,
        conn: &mut Conn,
        op: Op,
        source: Source<'_>,
    ) -> anyhow::Result<(String, OpRun)> {
        let dir = self.data.join("volumes");
        // Each copy starts with nothing left to write back from the one before.
        tokio::process::Command::new("sync").status().await?;
        let used = disk::fs_used(&dir)?;
        let t = Instant::now();
        let id = match (op, source) {
            (Op::Snapshot, Source::Volume(v)) => self.vols.snapshot(conn, v).await?,
            (_, source) => self.vols.copy(conn, source).await?,
        };
        let (wall, span) = self
            .settle(conn, op.kind(), &id, Want::Available, t)
            .await?;
        let fs_delta = disk::fs_used(&dir)? as i64 - used as i64;
        let allocated = disk::allocated(&op.kind().file(self.data, &id))?;
        Ok((
            id,
            OpRun {
                wall,
                span,
                allocated,
                fs_delta,
            },
        ))
    }

    /// Deletes `id` and waits for its 404, so that its blocks are free before the next copy.
    async fn remove(&self, conn: &mut Conn, kind: Kind, id: &str) -> anyhow::Result<()> {
        let t = Instant::now();
        self.vols.delete_kind(conn, kind, id).await?;
        self.settle(conn, kind, id, Want::Gone, t).await?;
        Ok(())
    }

    /// Asks for `id` at once and every `poll` after that until it shows what is wanted;
    /// returns the time since `since` and, for `available`, the server's span.
    async fn settle(
        &self,
        conn: &mut Conn,
        kind: Kind,
        id: &str,
        want: Want,
        since: Instant,
    ) -> anyhow::Result<(Duration, Option<Duration>)> {
        let what = kind.key();
        loop {
            match (self.vols.show_kind(conn, kind, id).await?, want) {
                (Shown::Status(s, span), Want::Available) if s == "available" => {
                    return Ok((since.elapsed(), span));
                }
                (Shown::Gone, Want::Gone) => return Ok((since.elapsed(), None)),
                (Shown::Status(s, _), _) if s.starts_with("error") => {
                    bail!("{what} {id} went to {s}")
                }
                (Shown::Gone, Want::Available) => bail!("{what} {id} vanished"),
                (Shown::Status(..), _) => {}
            }
            if since.elapsed() > SETTLE_TIMEOUT {
                bail!("{what} {id} did not settle within {SETTLE_TIMEOUT:?}");
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

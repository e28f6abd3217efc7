//! `cargo run --release -p basalt-backup --example backup_figures -- DIR [--size-gib 10]
//! [--data-gib 2] [--write-kib 1024] [--chunk-kib 4096]`
//!
//! Builds a sparse volume (10 GiB holding 2 GiB of partly compressible data) in DIR, then
//! times, each from a cold page cache: a full backup; an incremental after rewriting 1 % of
//! the volume (random `--write-kib` writes anywhere on it), given the changed ranges and
//! without them, and (when DIR shares blocks: XFS with reflink, btrfs) given the ranges the
//! file backend reads off the block maps of two snapshots, as the service's incremental
//! backups do; a restore onto a new sparse volume (checked byte for byte). Beside them:
//! `dd` writing and reading the same amount on the same disk, and the `zstd` CLI on the
//! same data. Prints markdown tables.

mod data;
mod tools;

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use basalt_backup::{Base, Repository, DEFAULT_CHUNK_SIZE};
use basalt_storage::{BlockBackend, BlockDevice, FileBackend, FileDevice};

const GIB: u64 = 1 << 30;
const MIB: f64 = (1 << 20) as f64;

struct Args {
    dir: std::path::PathBuf,
    size: u64,
    data: u64,
    write: u64,
    chunk: u64,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        dir: it
            .next()
            .expect("usage: backup_figures DIR [--size-gib N] [--data-gib N] [--write-kib N] [--chunk-kib N]")
            .into(),
        size: 10 * GIB,
        data: 2 * GIB,
        write: 1 << 20,
        chunk: DEFAULT_CHUNK_SIZE,
    };
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number after the flag");
        match flag.as_str() {
            "--size-gib" => a.size = value * GIB,
            "--data-gib" => a.data = value * GIB,
            "--write-kib" => a.write = value << 10,
            "--chunk-kib" => a.chunk = value << 10,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn open_rw(path: &Path) -> File {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap()
}

/// Rewrites 1 % of the volume as `write`-byte writes at distinct random aligned offsets.
fn change_one_percent(volume: &File, size: u64, write: u64, seed: u64) -> Vec<Range<u64>> {
    let mut rng = data::Rng::new(seed);
    let slots = size / write;
    let mut picked = std::collections::BTreeSet::new();
    while (picked.len() as u64) < (size / 100).div_ceil(write) {
        picked.insert(rng.below(slots));
    }
    let mut buf = vec![0u8; write as usize];
    let ranges: Vec<Range<u64>> = picked.iter().map(|s| s * write..(s + 1) * write).collect();
    for r in &ranges {
        data::fill(&mut rng, &mut buf);
        volume.write_all_at(&buf, r.start).unwrap();
    }
    volume.sync_all().unwrap();
    ranges
}

fn same_content(a: &dyn BlockDevice, b: &dyn BlockDevice) -> bool {
    let (mut x, mut y) = (vec![0u8; 16 << 20], vec![0u8; 16 << 20]);
    let mut pos = 0;
    while pos < a.size() {
        let n = (a.size() - pos).min(x.len() as u64) as usize;
        a.read_at(&mut x[..n], pos).unwrap();
        b.read_at(&mut y[..n], pos).unwrap();
        if x[..n] != y[..n] {
            return false;
        }
        pos += n as u64;
    }
    a.size() == b.size()
}

fn rate(bytes: u64, t: Duration) -> String {
    format!("{:.0} MiB/s", bytes as f64 / MIB / t.as_secs_f64())
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.dir).unwrap();
    let dir = a.dir.canonicalize().unwrap();
    let (flat_path, repo_dir) = (dir.join("data.raw"), dir.join("repo"));
    // The volume lives in a file backend, whose snapshots (on reflink) give changed ranges.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir.join("backend"));
    let backend = FileBackend::new(dir.join("backend"), 20.0, 0).unwrap();
    let reflink = backend.capabilities().reflink;
    rt.block_on(backend.create("vol", a.size / GIB)).unwrap();
    let vol_path = backend.volume_path("vol").unwrap();
    for stale in ["data.raw", "data.raw.zst", "dd.img", "restore.img"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let _ = std::fs::remove_dir_all(&repo_dir);

    eprintln!(
        "writing {} GiB of data into a {} GiB sparse volume",
        a.data / GIB,
        a.size / GIB
    );
    let volume = open_rw(&vol_path);
    let mut rng = data::Rng::new(42);
    let extents = data::layout(&mut rng, a.size, a.data);
    data::write(&volume, &mut open_rw(&flat_path), &extents, 7).unwrap();
    tools::drop_cache(&vol_path).unwrap();

    eprintln!("dd and zstd");
    let mut rows: Vec<Row> = Vec::new();
    let measure = |f: &mut dyn FnMut()| {
        let (own, children) = tools::cpu_seconds();
        let start = Instant::now();
        f();
        let wall = start.elapsed();
        let (own2, children2) = tools::cpu_seconds();
        (wall, own2 - own + children2 - children)
    };
    let (wall, cpu) = measure(&mut || {
        tools::dd_write(&dir.join("dd.img"), a.data).unwrap();
    });
    let dd_w = wall;
    rows.push(Row::new(
        "`dd` write, 4M blocks, `conv=fsync`",
        wall,
        cpu,
        a.data,
    ));
    let _ = std::fs::remove_file(dir.join("dd.img"));
    tools::drop_cache(&flat_path).unwrap();
    let (wall, cpu) = measure(&mut || {
        tools::dd_read(&flat_path).unwrap();
    });
    let dd_r = wall;
    rows.push(Row::new("`dd` read, cold cache", wall, cpu, a.data));
    let mut zstd_size = 0;
    let mut zstd_times = Vec::new();
    for threads in [1, 2] {
        tools::drop_cache(&flat_path).unwrap();
        let (wall, cpu) = measure(&mut || {
            zstd_size = tools::zstd_cli(&flat_path, &dir.join("data.raw.zst"), threads).unwrap();
        });
        zstd_times.push(wall);
        let mut row = Row::new(
            &format!("`zstd -3 -T{threads}` + fsync, cold"),
            wall,
            cpu,
            a.data,
        );
        row.stored = format!("{:.0} MiB", zstd_size as f64 / MIB);
        rows.push(row);
    }
    let _ = std::fs::remove_file(dir.join("data.raw.zst"));

    let repo = Repository::open_or_create(&repo_dir, a.chunk).unwrap();
    let snapshot = || FileDevice::read_only(File::open(&vol_path).unwrap()).unwrap();
    let backup = |rows: &mut Vec<Row>, name: &str, id: &str, base: Base<'_>| {
        tools::drop_cache(&vol_path).unwrap();
        let mut out = None;
        let (wall, cpu) = measure(&mut || out = Some(repo.backup(id, &snapshot(), base).unwrap()));
        let b = out.unwrap();
        let s = b.stats;
        let mut row = Row::new(name, wall, cpu, a.data);
        row.read = format!("{:.0} MiB", s.bytes_read as f64 / MIB);
        row.stored = format!(
            "{} chunks, {:.0} MiB",
            s.chunks_new,
            s.bytes_stored as f64 / MIB
        );
        row.reused = format!("{} ({} unread)", s.chunks_reused, s.chunks_unread);
        row.objects = s.object_count.to_string();
        rows.push(row);
        (wall, b)
    };

    eprintln!("full backup");
    let (t_full, _) = backup(&mut rows, "**full backup**", "full", Base::Full);
    if reflink {
        rt.block_on(backend.create_snapshot("vol", "base")).unwrap();
    }
    eprintln!("changing 1 % of the volume");
    let changed = change_one_percent(&volume, a.size, a.write, 99);
    eprintln!("incremental backups");
    let base = Base::Incremental {
        parent: "full",
        changed: Some(&changed),
    };
    let (t_incr, incr) = backup(
        &mut rows,
        "**incremental, changed ranges given**",
        "incr",
        base,
    );
    let base = Base::Incremental {
        parent: "full",
        changed: None,
    };
    let (t_scan, scan) = backup(
        &mut rows,
        "incremental, no ranges (reads all data)",
        "incr-scan",
        base,
    );
    assert_eq!(
        scan.manifest.chunks, incr.manifest.chunks,
        "both incrementals see the same data"
    );
    let mut t_map = None;
    if reflink {
        // What the service does: a snapshot now, the ranges where its block map differs from
        // the previous backup's snapshot, and a backup of the snapshot given them.
        tools::drop_cache(&vol_path).unwrap();
        let (own, children) = tools::cpu_seconds();
        let start = Instant::now();
        rt.block_on(backend.create_snapshot("vol", "now")).unwrap();
        let ranges = rt
            .block_on(backend.changed_ranges("base", "now"))
            .unwrap()
            .expect("a reflink backend reads changed ranges off its block maps");
        let mapped = start.elapsed();
        let device = rt.block_on(backend.open_snapshot("now")).unwrap();
        let base = Base::Incremental {
            parent: "full",
            changed: Some(&ranges),
        };
        let b = repo.backup("incr-map", device.as_ref(), base).unwrap();
        let wall = start.elapsed();
        let (own2, children2) = tools::cpu_seconds();
        assert_eq!(
            b.manifest.chunks, incr.manifest.chunks,
            "the block maps miss no change"
        );
        let s = b.stats;
        let mut row = Row::new(
            &format!(
                "**incremental, ranges from the block maps** (snapshot + diff {:.0} ms)",
                mapped.as_secs_f64() * 1e3
            ),
            wall,
            own2 - own + children2 - children,
            a.data,
        );
        row.read = format!("{:.0} MiB", s.bytes_read as f64 / MIB);
        row.stored = format!(
            "{} chunks, {:.0} MiB",
            s.chunks_new,
            s.bytes_stored as f64 / MIB
        );
        row.reused = format!("{} ({} unread)", s.chunks_reused, s.chunks_unread);
        row.objects = s.object_count.to_string();
        rows.push(row);
        t_map = Some(wall);
    }

    eprintln!("restore");
    tools::drop_cache_tree(&repo_dir).unwrap();
    let target_path = dir.join("restore.img");
    let target_file = open_rw(&target_path);
    target_file.set_len(a.size).unwrap();
    let target = FileDevice::new(target_file).unwrap();
    let mut restored = None;
    let (t_restore, cpu) = measure(&mut || restored = Some(repo.restore("incr", &target).unwrap()));
    let r = restored.unwrap();
    let mut row = Row::new(
        "**restore** (the incremental) onto a new sparse volume",
        t_restore,
        cpu,
        a.data,
    );
    row.read = format!("{} chunks", r.chunks_read);
    row.stored = format!("{:.0} MiB written", r.bytes_written as f64 / MIB);
    rows.push(row);
    assert!(
        same_content(&target, &snapshot()),
        "the restore differs from the volume"
    );
    let _ = std::fs::remove_file(&target_path);
    let _ = std::fs::remove_dir_all(dir.join("backend"));

    let stored: u64 = std::fs::read_dir(repo_dir.join("chunks"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
    println!(
        "Volume {} GiB, {} GiB of data in {} extents; chunks of {} KiB; {threads} threads; \
         change: {} writes of {} KiB; load average after: {}",
        a.size / GIB,
        a.data / GIB,
        extents.len(),
        a.chunk >> 10,
        changed.len(),
        a.write >> 10,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| step | wall | rate (of the data size) | CPU | read | stored new | reused | objects |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        row.print();
    }
    println!();
    let slower = dd_w.max(dd_r).max(zstd_times[0]);
    let pct = |a: Duration, b: Duration| 100.0 * a.as_secs_f64() / b.as_secs_f64();
    println!(
        "- the repository holds {:.0} MiB for {:.0} MiB of data (`zstd -3`: {:.0} MiB)",
        stored as f64 / MIB,
        a.data as f64 / MIB,
        zstd_size as f64 / MIB
    );
    println!(
        "- full backup: {:.0} % of the rate of the slowest of dd write, dd read and `zstd -T1` (goal >= 80 %)",
        pct(slower, t_full)
    );
    println!(
        "- incremental given the changed ranges: {:.1} % of the full backup's time (goal < 10 %); reading everything: {:.1} %",
        pct(t_incr, t_full),
        pct(t_scan, t_full)
    );
    match t_map {
        Some(t) => println!(
            "- incremental with ranges from the block maps (the service on reflink): {:.1} % of the full backup's time",
            pct(t, t_full)
        ),
        None => println!("- DIR does not share blocks (no reflink): no block-map incremental"),
    }
    println!(
        "- restore: {:.0} % of dd's write rate for the same data",
        pct(dd_w, t_restore)
    );
}

struct Row {
    name: String,
    wall: Duration,
    cpu: f64,
    bytes: u64,
    read: String,
    stored: String,
    reused: String,
    objects: String,
}

impl Row {
    fn new(name: &str, wall: Duration, cpu: f64, bytes: u64) -> Self {
        Self {
            name: name.to_owned(),
            wall,
            cpu,
            bytes,
            read: String::new(),
            stored: String::new(),
            reused: String::new(),
            objects: String::new(),
        }
    }

    fn print(&self) {
        println!(
            "| {} | {:.2} s | {} | {:.2} s | {} | {} | {} | {} |",
            self.name,
            self.wall.as_secs_f64(),
            rate(self.bytes, self.wall),
            self.cpu,
            self.read,
            self.stored,
            self.reused,
            self.objects
        );
    }
}

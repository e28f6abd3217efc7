//! What the copies scenario asks of the disk itself: `dd`'s sequential bandwidth in a
//! directory, the filesystem's type and used bytes (`stat -f`), a file's allocation, and the
//! data layout written into the source volume.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// Bytes written into the source volume: 16 runs of 64 MiB, one every 640 MiB (as
/// `crates/storage/examples/copy_figures.rs` writes them).
pub const WRITTEN: u64 = RUNS * RUN;
const RUNS: u64 = 16;
const RUN: u64 = 64 * MIB;
const STRIDE: u64 = 640 * MIB;
// 1 GiB, and the last run ends within a 10 GiB volume.
const _: () = assert!(WRITTEN == GIB && (RUNS - 1) * STRIDE + RUN <= 10 * GIB);

/// `dd`'s sequential bandwidth, in MB/s (10⁶ bytes, as dd prints it), with O_DIRECT.
#[derive(Debug, Clone, Copy)]
pub struct Dd {
    pub write_mb_s: f64,
    pub read_mb_s: f64,
}

/// Writes 1 GiB of zeros to `dir/dd.tmp` in 64 MiB blocks, reads it back, removes it.
pub async fn dd(dir: &Path) -> anyhow::Result<Dd> {
    let file = dir.join("dd.tmp");
    let arg = |key: &str| {
        let mut a = std::ffi::OsString::from(key);
        a.push(&file);
        a
    };
    let measured = async {
        let write_mb_s = dd_run(&[
            "if=/dev/zero".into(),
            arg("of="),
            "bs=64M".into(),
            "count=16".into(),
            "oflag=direct".into(),
        ])
        .await?;
        let read_mb_s = dd_run(&[
            arg("if="),
            "of=/dev/null".into(),
            "bs=64M".into(),
            "iflag=direct".into(),
        ])
        .await?;
        anyhow::Ok(Dd {
            write_mb_s,
            read_mb_s,
        })
    }
    .await;
    let _ = std::fs::remove_file(&file);
    measured
}

/// One dd run: its own bytes / seconds figure, or the wall time when its summary cannot be
/// read.
async fn dd_run(args: &[std::ffi::OsString]) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = tokio::process::Command::new("dd")
        .args(args)
        .output()
        .await
        .context("cannot run dd")?;
    let wall = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("dd {args:?} failed: {}", stderr.trim());
    }
    Ok(match parse_dd(&stderr) {
        Some((bytes, secs)) => bytes as f64 / secs / 1e6,
        None => GIB as f64 / wall.as_secs_f64() / 1e6,
    })
}

/// `1073741824 bytes (1.1 GB, 1.0 GiB) copied, 1.2345 s, 870 MB/s` → (bytes, seconds).
fn parse_dd(stderr: &str) -> Option<(u64, f64)> {
    let line = stderr.lines().rev().find(|l| l.contains(" copied, "))?;
    let bytes = line.split_whitespace().next()?.parse().ok()?;
    let secs: f64 = line
        .split_once(" copied, ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    (secs > 0.0).then_some((bytes, secs))
}

/// The filesystem's used bytes (`stat -f`: (blocks − free) × fundamental block size).
pub fn fs_used(dir: &Path) -> anyhow::Result<u64> {
    let out = stat_f(dir, "%S %b %f")?;
    let n: Vec<u64> = out
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("stat -f printed {out:?}"))?;
    match n[..] {
        [size, blocks, free] => Ok((blocks - free) * size),
        _ => bail!("stat -f printed {out:?}"),
    }
}

/// The filesystem's type as `stat -f` names it (`xfs`, `ext2/ext3` for ext4 too, `tmpfs`).
pub fn fs_type(dir: &Path) -> String {
    stat_f(dir, "%T").unwrap_or_else(|e| format!("unknown ({e})"))
}

fn stat_f(dir: &Path, format: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("stat")
        .arg("-f")
        .arg("-c")
        .arg(format)
        .arg(dir)
        .output()
        .context("cannot run stat")?;
    if !out.status.success() {
        bail!(
            "stat -f failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Bytes allocated to a file (`st_blocks × 512`; blocks shared by a reflink count in full).
pub fn allocated(file: &Path) -> anyhow::Result<u64> {
    let meta = std::fs::metadata(file).with_context(|| format!("no file {}", file.display()))?;
    Ok(meta.blocks() * 512)
}

/// Writes the data layout into the volume file `file`, then fsyncs it; returns the time.
pub async fn write_layout(file: &Path) -> anyhow::Result<Duration> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        let chunk = vec![0x5au8; RUN as usize];
        let t = Instant::now();
        for i in 0..RUNS {
            f.write_all_at(&chunk, i * STRIDE)?;
        }
        f.sync_all()?;
        Ok(t.elapsed())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dd_summary() {
        let err = "16+0 records in\n16+0 records out\n\
                   1073741824 bytes (1.1 GB, 1.0 GiB) copied, 1.25 s, 859 MB/s\n";
        assert_eq!(parse_dd(err), Some((1 << 30, 1.25)));
        assert_eq!(parse_dd("dd: error"), None);
    }
}

//! The yardsticks and the hygiene around them: `dd` and the `zstd` CLI on the same data and
//! disk, and dropping a file's pages from the cache (`posix_fadvise(DONTNEED)` after an
//! fsync) so that every timed step reads from the disk, not from memory.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// CPU seconds used so far by this process and by its waited-for children (user + system,
/// from `/proc/self/stat`, in the kernel's 100 Hz ticks).
pub fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let tick = |i: usize| f.get(i - 3).copied().unwrap_or(0.0) / 100.0;
    (tick(14) + tick(15), tick(16) + tick(17))
}

/// Drops the file's (clean) pages from the page cache.
pub fn drop_cache(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    file.sync_all()?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// Drops every file under `dir` from the cache.
pub fn drop_cache_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            drop_cache_tree(&path)?;
        } else {
            drop_cache(&path)?;
        }
    }
    Ok(())
}

/// Runs a command to completion and times it; fails on a non-zero exit.
pub fn timed(cmd: &mut Command) -> io::Result<Duration> {
    let start = Instant::now();
    let out = cmd.output()?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(elapsed)
}

/// `dd` writing `bytes` to `dest` in 4 MiB blocks, with the final fsync (`conv=fsync`), as
/// a backup's chunks are made durable.
pub fn dd_write(dest: &Path, bytes: u64) -> io::Result<Duration> {
    timed(Command::new("dd").args([
        "if=/dev/zero".to_owned(),
        format!("of={}", dest.display()),
        "bs=4M".to_owned(),
        format!("count={}", bytes >> 22),
        "conv=fsync".to_owned(),
        "status=none".to_owned(),
    ]))
}

/// `dd` reading `src` in 4 MiB blocks (the caller drops it from the cache first).
pub fn dd_read(src: &Path) -> io::Result<Duration> {
    timed(Command::new("dd").args([
        format!("if={}", src.display()),
        "of=/dev/null".to_owned(),
        "bs=4M".to_owned(),
        "status=none".to_owned(),
    ]))
}

/// `zstd -3` with `threads` workers compressing `src` into `dest`, plus the fsync of `dest`
/// that zstd itself does not do (a backup must). Returns the output size.
pub fn zstd_cli(src: &Path, dest: &Path, threads: u32) -> io::Result<u64> {
    timed(Command::new("zstd").args([
        "-3".to_owned(),
        format!("-T{threads}"),
        "-q".to_owned(),
        "-f".to_owned(),
        src.display().to_string(),
        "-o".to_owned(),
        dest.display().to_string(),
    ]))?;
    File::open(dest)?.sync_all()?;
    Ok(std::fs::metadata(dest)?.len())
}

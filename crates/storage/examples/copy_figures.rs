//! Times a snapshot, a clone, a volume from the snapshot and a revert of a 10 GiB volume
//! holding 1 GiB of data, and shows what each allocates, in the copy mode the directory's
//! filesystem allows: `cargo run --release -p basalt-storage --example copy_figures -- [DIR]`
//! (default: a fresh directory under the system's temporary directory; DIR is emptied again).

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use basalt_storage::{BlockBackend, FileBackend, StorageError, GIB};

const MIB: u64 = 1 << 20;

#[tokio::main]
async fn main() -> Result<(), StorageError> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("basalt-copy-{}", std::process::id()))
        });
    let backend = FileBackend::new(dir.clone(), 20.0, 0)?;
    let reflink = backend.capabilities().reflink;
    let mode = if reflink { "reflink" } else { "extent copy" };
    println!("{}: {mode}", dir.display());
    println!(
        "{:30} {:>10} {:>8} {:>14} {:>12}",
        "", "time", "size", "st_blocks", "fs used"
    );

    backend.create("source", 10).await?;
    let device = backend.open("source").await?;
    // 1 GiB in 16 runs of 64 MiB, one every 640 MiB: the rest of the 10 GiB is holes.
    let write = async move {
        tokio::task::spawn_blocking(move || {
            let chunk = vec![0x5au8; 64 * MIB as usize];
            for i in 0..16 {
                device.write_at(&chunk, i * 640 * MIB)?;
            }
            device.flush()
        })
        .await
        .expect("writer")
        .map_err(StorageError::Io)
    };
    let source = backend.volume_path("source")?;
    step("write 1 GiB + fdatasync", &source, write).await?;
    let snap = backend.snapshot_path("snap")?;
    step("snapshot", &snap, backend.create_snapshot("source", "snap")).await?;
    let clone = backend.volume_path("clone")?;
    step("clone", &clone, backend.clone_volume("source", "clone", 10)).await?;
    let from = backend.volume_path("from-snap")?;
    let op = backend.create_from_snapshot("snap", "from-snap", 12);
    step("volume from snapshot (12 GiB)", &from, op).await?;
    let op = backend.revert_to_snapshot("source", "snap");
    step("revert", &source, op).await?;

    for volume in ["source", "clone", "from-snap"] {
        backend.delete(volume).await?;
    }
    backend.delete_snapshot("snap").await?;
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}

/// Runs `op` and prints its time, the size and allocation of the file it made, and how much
/// the filesystem's free space dropped (shared blocks count once there).
async fn step(
    what: &str,
    made: &Path,
    op: impl Future<Output = Result<(), StorageError>>,
) -> Result<(), StorageError> {
    let dir = made.parent().expect("a file in a directory");
    let free_before = free_bytes(dir);
    let started = Instant::now();
    op.await?;
    let took = started.elapsed();
    let used = free_before.saturating_sub(free_bytes(dir));
    let meta = std::fs::metadata(made)?;
    println!(
        "{what:30} {:>7.1} ms {:>4} GiB {:>10.1} MiB {:>8.1} MiB",
        took.as_secs_f64() * 1e3,
        meta.len() / GIB,
        (meta.blocks() * 512) as f64 / MIB as f64,
        used as f64 / MIB as f64
    );
    Ok(())
}

fn free_bytes(dir: &Path) -> u64 {
    let fs = rustix::fs::statvfs(dir).expect("statvfs");
    fs.f_bavail * fs.f_frsize
}

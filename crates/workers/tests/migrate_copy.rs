//! A migration's data copy between two file backends: byte for byte, holes kept, a retry
//! starting afresh; and (ignored, run with `--release -- --ignored --nocapture`) its
//! throughput against `dd` on the same disk.

use std::sync::Arc;
use std::time::Instant;

use basalt_storage::{BlockBackend, FileBackend, GIB};
use basalt_workers::copy_volume;
use rand::RngCore;

const MIB: u64 = 1 << 20;

fn backend(dir: &std::path::Path, name: &str) -> Arc<dyn BlockBackend> {
    Arc::new(
        FileBackend::new(dir.join(name), 20.0, 0)
            .unwrap()
            .with_name(name),
    )
}

/// Whether volume `name` holds the same bytes on both backends, read side by side.
fn same(a: &FileBackend, b: &FileBackend, name: &str) -> bool {
    use std::io::Read;
    let open = |x: &FileBackend| std::fs::File::open(x.volume_path(name).unwrap()).unwrap();
    let (mut fa, mut fb) = (open(a), open(b));
    let (mut ba, mut bb) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

#[tokio::test]
async fn the_copy_is_byte_for_byte_and_keeps_holes() {
    let dir = tempfile::tempdir().unwrap();
    let a_file = FileBackend::new(dir.path().join("a"), 20.0, 0).unwrap();
    let b_file = FileBackend::new(dir.path().join("b"), 20.0, 0).unwrap();
    let (a, b): (Arc<dyn BlockBackend>, Arc<dyn BlockBackend>) =
        (Arc::new(a_file.clone()), Arc::new(b_file.clone()));
    a.create("v", 1).await.unwrap();
    let dev = a.open("v").await.unwrap();
    let mut data = vec![0u8; 3 * MIB as usize];
    rand::thread_rng().fill_bytes(&mut data);
    for offset in [0, 8 * MIB - 1000, 512 * MIB + 3, GIB - 3 * MIB] {
        dev.write_at(&data, offset).unwrap();
    }
    dev.flush().unwrap();

    let written = copy_volume(&a, &b, "v", 1).await.unwrap();
    assert!(written <= 16 * MIB, "only data is written: {written}");
    assert!(same(&a_file, &b_file, "v"));
    let allocated = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(b_file.volume_path("v").unwrap())
            .unwrap()
            .blocks()
            * 512
    };
    assert!(allocated < 32 * MIB, "{allocated}");

    // A retry (after a crash mid-copy) starts afresh and ends the same.
    b.open("v")
        .await
        .unwrap()
        .write_at(b"junk", 100 * MIB)
        .unwrap();
    copy_volume(&a, &b, "v", 1).await.unwrap();
    assert!(same(&a_file, &b_file, "v"));
    // A missing source is the backend's NotFound, nothing made on the destination.
    assert!(copy_volume(&a, &b, "nope", 1).await.is_err());
    assert!(!b.exists("nope").await.unwrap());
}

/// `BASALT_COPY_DIR` chooses the disk (default: the system's temporary directory).
#[tokio::test]
#[ignore = "a measurement: cargo test --release -p basalt-workers --test migrate_copy -- --ignored --nocapture"]
async fn copy_throughput_against_dd() {
    let base = std::env::var("BASALT_COPY_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = tempfile::tempdir_in(base).unwrap();
    let (a, b) = (backend(dir.path(), "a"), backend(dir.path(), "b"));
    let gib = 2;
    a.create("v", gib).await.unwrap();
    let dev = a.open("v").await.unwrap();
    let mut chunk = vec![0u8; 8 * MIB as usize];
    for i in 0..(gib * GIB / chunk.len() as u64) {
        rand::thread_rng().fill_bytes(&mut chunk);
        dev.write_at(&chunk, i * chunk.len() as u64).unwrap();
    }
    dev.flush().unwrap();
    drop(dev);

    let src = dir.path().join("a/volume-v");
    let mib = (gib * 1024) as f64;
    // Alternated, five times each, so that neither gains from running second; the disk's
    // write-back makes single rounds swing by 3x, hence the median of the ratios.
    let mut ratios = Vec::new();
    for round in 1..=5 {
        let started = Instant::now();
        copy_volume(&a, &b, "v", gib).await.unwrap();
        let ours = started.elapsed().as_secs_f64();
        let target = dir.path().join("dd-copy");
        let _ = std::fs::remove_file(&target);
        let started = Instant::now();
        let status = std::process::Command::new("dd")
            .arg(format!("if={}", src.display()))
            .arg(format!("of={}", target.display()))
            .args(["bs=8M", "conv=fdatasync", "status=none"])
            .status()
            .unwrap();
        assert!(status.success());
        let dd = started.elapsed().as_secs_f64();
        println!(
            "round {round}, {gib} GiB fully written: migration copy {:.0} MiB/s ({ours:.2} s), \
             dd bs=8M conv=fdatasync {:.0} MiB/s ({dd:.2} s)",
            mib / ours,
            mib / dd
        );
        ratios.push(dd / ours);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median of copy rate / dd rate: {:.2} (min {:.2}, max {:.2})",
        ratios[2], ratios[0], ratios[4]
    );
}

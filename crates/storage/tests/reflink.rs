//! The file backend's conformance suite again, on a filesystem that shares blocks: an XFS
//! image made with `-m reflink=1` (or btrfs), loop-mounted for the run, unmounted and removed
//! afterwards. It needs root and `mkfs.xfs` (xfsprogs) or `mkfs.btrfs`; where they are missing
//! or the mount is refused, the test prints why and skips, unless `BASALT_REQUIRE_REFLINK=1`
//! makes that a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use basalt_storage::{conformance, BlockBackend, FileBackend, GIB};
use tempfile::TempDir;

const MIB: u64 = 1 << 20;

/// A loop-mounted filesystem image, unmounted and deleted on drop (also when a check panics).
struct LoopMount {
    mountpoint: PathBuf,
    /// Holds the image and the mount point; removed after the unmount.
    _dir: TempDir,
}

impl LoopMount {
    /// Tries XFS with reflink, then btrfs; the error says why neither could be mounted.
    fn reflink_filesystem() -> Result<Self, String> {
        let dir = TempDir::new().map_err(|e| e.to_string())?;
        let image = dir.path().join("fs.img");
        // Sparse: the 4 GiB image takes only what the filesystem writes into it.
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(4 * GIB))
            .map_err(|e| format!("cannot make the image: {e}"))?;
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).map_err(|e| e.to_string())?;
        let image = image.to_str().expect("a UTF-8 temporary path");
        run("mkfs.xfs", &["-q", "-f", "-m", "reflink=1", image]).or_else(|xfs| {
            run("mkfs.btrfs", &["-q", "-f", image]).map_err(|btrfs| format!("{xfs}; {btrfs}"))
        })?;
        let target = mountpoint.to_str().expect("a UTF-8 temporary path");
        run("mount", &["-o", "loop", image, target])?;
        Ok(Self {
            mountpoint,
            _dir: dir,
        })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let target = self.mountpoint.to_str().expect("a UTF-8 temporary path");
        for _ in 0..5 {
            if run("umount", &[target]).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Still busy: detach it lazily, so the image and its loop device go once released.
        if let Err(e) = run("umount", &["-l", target]) {
            say(&format!("could not unmount {target}: {e}"));
        }
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "{program} failed ({}): {}",
            output.status,
            stderr.trim()
        ))
    }
}

/// Writes past the test harness's output capture, so a skip is seen in every run.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "reflink suite: {message}");
}

/// The mount, or None after saying why it is skipped.
fn mount_or_skip() -> Option<LoopMount> {
    match LoopMount::reflink_filesystem() {
        Ok(mount) => Some(mount),
        Err(why) if std::env::var_os("BASALT_REQUIRE_REFLINK").is_some_and(|v| v == "1") => {
            panic!("BASALT_REQUIRE_REFLINK=1 but no reflink filesystem could be mounted: {why}")
        }
        Err(why) => {
            say(&format!(
                "SKIPPED, no reflink filesystem could be mounted (needs root, loop devices and \
                 mkfs.xfs from xfsprogs): {why}"
            ));
            None
        }
    }
}

fn backend(dir: &Path) -> FileBackend {
    FileBackend::new(dir.to_path_buf(), 20.0, 0).expect("file backend")
}

fn free_bytes(dir: &Path) -> u64 {
    let fs = rustix::fs::statvfs(dir).unwrap();
    fs.f_bavail * fs.f_frsize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_on_a_reflink_filesystem() {
    let Some(mount) = mount_or_skip() else {
        return;
    };
    let dir = mount.mountpoint.join("volumes");
    let make = || backend(&dir);
    assert!(
        make().capabilities().reflink,
        "the backend must detect the reflink filesystem"
    );

    conformance::run_all(make).await;
    copies_share_blocks_instead_of_using_space(&make()).await;

    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "the suite left files behind: {left:?}");
    say(&format!("passed on {}", mount.mountpoint.display()));
}

/// Snapshot, clone and volume from snapshot of a volume holding 64 MiB take next to no free
/// space: their blocks are the source's.
async fn copies_share_blocks_instead_of_using_space(backend: &FileBackend) {
    backend.create("v", 10).await.unwrap();
    let device = backend.open("v").await.unwrap();
    let data = vec![0x3c; 64 * MIB as usize];
    tokio::task::spawn_blocking(move || {
        device.write_at(&data, GIB)?;
        device.flush()
    })
    .await
    .unwrap()
    .unwrap();

    let before = free_bytes(backend.dir());
    backend.create_snapshot("v", "s").await.unwrap();
    backend.clone_volume("v", "c", 10).await.unwrap();
    backend.create_from_snapshot("s", "f", 12).await.unwrap();
    let used = before.saturating_sub(free_bytes(backend.dir()));
    assert!(
        used < 8 * MIB,
        "three reflink copies of 64 MiB used {used} bytes"
    );

    for volume in ["v", "c", "f"] {
        backend.delete(volume).await.unwrap();
    }
    backend.delete_snapshot("s").await.unwrap();
}

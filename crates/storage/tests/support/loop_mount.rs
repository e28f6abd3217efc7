//! A loop-mounted reflink filesystem for tests (XFS with `-m reflink=1`, else btrfs), shared
//! by the storage crate's reflink suite and the backup tests through `#[path]`. It needs root
//! and `mkfs.xfs` (xfsprogs) or `mkfs.btrfs`; where they are missing or the mount is refused,
//! [`mount_or_skip`] says why and the caller skips, unless `BASALT_REQUIRE_REFLINK=1` makes
//! that a failure.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use basalt_storage::GIB;
use tempfile::TempDir;

/// A loop-mounted filesystem image, unmounted and deleted on drop (also when a check panics).
pub struct LoopMount {
    pub mountpoint: PathBuf,
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
pub fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "reflink: {message}");
}

/// The mount, or None after saying why it is skipped.
pub fn mount_or_skip() -> Option<LoopMount> {
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

//! A scratch XFS filesystem with reflink: a sparse image file under the system's temporary
//! directory, formatted with `mkfs.xfs -m reflink=1` and loop-mounted (root only). The guard
//! unmounts it and removes the image when dropped, on every path out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

pub struct XfsImage {
    /// Holds `xfs.img` and the mount point `mnt`; removed after the unmount (kept, and
    /// taken out, when the unmount fails).
    dir: Option<TempDir>,
    mount: PathBuf,
}

impl XfsImage {
    /// Makes and mounts an image of `size` bytes (sparse: it takes only what is written). The
    /// error is the reason, for the report, when a tool is missing or refuses.
    pub fn create(size: u64) -> Result<XfsImage, String> {
        let dir = tempfile::Builder::new()
            .prefix("basalt-xfs-")
            .tempdir()
            .map_err(|e| format!("no temporary directory: {e}"))?;
        let image = dir.path().join("xfs.img");
        let mount = dir.path().join("mnt");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(size))
            .and_then(|()| std::fs::create_dir(&mount))
            .map_err(|e| format!("cannot make {}: {e}", image.display()))?;
        run(
            "mkfs.xfs",
            &[
                "-q".as_ref(),
                "-m".as_ref(),
                "reflink=1".as_ref(),
                image.as_os_str(),
            ],
        )?;
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                mount.as_os_str(),
            ],
        )?;
        Ok(XfsImage {
            dir: Some(dir),
            mount,
        })
    }

    /// The mounted filesystem's root.
    pub fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for XfsImage {
    fn drop(&mut self) {
        // A server killed a moment ago may still hold files open: try a few times, then
        // detach lazily (the loop device goes when the last file closes).
        for _ in 0..10 {
            if run("umount", &[self.mount.as_os_str()]).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        if let Err(e) = run("umount", &["-l".as_ref(), self.mount.as_os_str()]) {
            // Removing the tree would reach into the still-mounted filesystem.
            let left = self.dir.take().map(TempDir::keep);
            eprintln!(
                "warning: could not unmount {} ({e}); {left:?} is left behind",
                self.mount.display()
            );
        }
    }
}

/// Runs `tool` with `args`; the error says why it could not run or what it printed.
fn run(tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let out = Command::new(tool).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let hint = if tool == "mkfs.xfs" {
                " (it comes with xfsprogs)"
            } else {
                ""
            };
            format!("`{tool}` not found{hint}")
        } else {
            format!("cannot run `{tool}`: {e}")
        }
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{tool}` failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

//! The `basalt` binary to measure: the one named on the command line, or else a release build
//! of this workspace made on the spot.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};

pub fn basalt_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return path
            .canonicalize()
            .with_context(|| format!("no basalt binary at {}", path.display()));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building basalt: cargo build --release -p basalt");
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "-p", "basalt", "--bin", "basalt"])
        .current_dir(&workspace)
        .status()
        .context("cannot run cargo")?;
    ensure!(status.success(), "cargo build --release -p basalt failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("release").join("basalt");
    bin.canonicalize()
        .with_context(|| format!("no basalt binary at {}", bin.display()))
}

/// `basalt --version`, e.g. "basalt 0.1.0".
pub fn version(bin: &Path) -> String {
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown version".into())
}

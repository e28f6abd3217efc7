//! Test helpers: volumes in sparse temporary files behind `FileDevice`, seeded random data,
//! and a small chunk size so that tests exercise many chunks quickly.
#![allow(dead_code)] // each test file uses a different subset

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use basalt_backup::Repository;
use basalt_storage::{BlockDevice, FileDevice};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 64 KiB chunks: a 4 MiB test volume has 64 of them.
pub const CHUNK: u64 = 64 << 10;

pub struct Volume {
    pub path: PathBuf,
    pub dev: FileDevice,
}

/// A sparse volume file of `size` bytes in `dir`.
pub fn volume(dir: &Path, name: &str, size: u64) -> Volume {
    let path = dir.join(name);
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(size).unwrap();
    Volume {
        dev: FileDevice::new(file).unwrap(),
        path,
    }
}

impl Volume {
    /// The whole content.
    pub fn bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.dev.size() as usize];
        self.dev.read_at(&mut buf, 0).unwrap();
        buf
    }

    /// A read-only device on the same file, as a snapshot hands it to the backup (the tests
    /// do not write while a backup runs, so the file is its own point-in-time copy).
    pub fn snapshot(&self) -> FileDevice {
        FileDevice::read_only(File::open(&self.path).unwrap()).unwrap()
    }

    /// Fills `len` bytes at `offset` with seeded random data; returns the range.
    pub fn fill(&self, offset: u64, len: u64, seed: u64) -> std::ops::Range<u64> {
        self.dev
            .write_at(&random(len as usize, seed), offset)
            .unwrap();
        offset..offset + len
    }
}

pub fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; len];
    rng.fill(&mut buf[..]);
    buf
}

pub fn repo(dir: &Path) -> Repository {
    Repository::open_or_create(dir.join("repo"), CHUNK).unwrap()
}

/// Every chunk file in the repository.
pub fn chunk_files(repo: &Repository) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in fs::read_dir(repo.root().join("chunks")).unwrap() {
        for f in fs::read_dir(shard.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

/// The path of the chunk file named `hex`.
pub fn chunk_path(repo: &Repository, hex: &str) -> PathBuf {
    repo.root().join("chunks").join(&hex[..2]).join(hex)
}

/// A target volume of `size` bytes already full of other data (0xEE), so a restore must
/// overwrite and discard, not merely fill a blank file.
pub fn dirty_target(dir: &Path, name: &str, size: u64) -> Volume {
    let v = volume(dir, name, size);
    v.dev.write_at(&vec![0xEE; size as usize], 0).unwrap();
    v
}

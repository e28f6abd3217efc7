//! The chunk store: each distinct chunk once, as a zstd frame in `chunks/<2 hex>/<64 hex>`,
//! named by the SHA-256 of its *uncompressed* bytes. A file under a chunk name is always
//! complete (written by [`fsio::write_atomic_direct`]), so its existence is proof that the
//! chunk is stored; its content is checked against the name on every read. Chunk files are
//! written and read with direct I/O: no page cache filled for data used once.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::fsio::{self, AlignedBuf};

/// The zstd level: the CLI's default, which keeps a full backup near `zstd`'s own speed and
/// within the disk's write rate on two cores (docs/decisions.md).
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// A chunk's name: the SHA-256 of its uncompressed bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    /// Hashes a chunk's bytes.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse(hex_digits: &str) -> Option<Self> {
        if hex_digits.len() != 64 || hex_digits.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut id).ok()?;
        Some(Self(id))
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({self})")
    }
}

/// Whether every byte is zero: such a chunk is a hole and is never stored. OR-folding 4 KiB
/// at a time vectorises and still stops early in data.
pub(crate) fn is_zero(buf: &[u8]) -> bool {
    buf.chunks(4096)
        .all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// Paths of the chunk store inside a repository.
#[derive(Debug, Clone)]
pub(crate) struct ChunkStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// What a chunk read found, for the caller to turn into an error naming the chunk.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    Missing,
    Corrupt(String),
    Io(io::Error),
}

impl ChunkStore {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf) -> Self {
        Self { dir, tmp }
    }

    /// The directory of chunks whose names start with this byte.
    pub(crate) fn shard_dir(&self, first_byte: u8) -> PathBuf {
        self.dir.join(format!("{first_byte:02x}"))
    }

    pub(crate) fn path(&self, id: &ChunkId) -> PathBuf {
        self.shard_dir(id.0[0]).join(id.to_hex())
    }

    pub(crate) fn contains(&self, id: &ChunkId) -> io::Result<bool> {
        match std::fs::symlink_metadata(self.path(id)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores already-compressed bytes under `id`, with direct I/O (the store never reads a
    /// chunk soon after writing it). The shard directory still needs an fsync (see
    /// [`sync_shards`](Self::sync_shards)) before a manifest may name the chunk.
    pub(crate) fn put(&self, id: &ChunkId, compressed: &AlignedBuf) -> io::Result<()> {
        fsio::write_atomic_direct(&self.tmp, "chunk", &self.path(id), compressed.as_slice())
    }

    /// Makes the renames into these shards durable.
    pub(crate) fn sync_shards(&self, shards: impl IntoIterator<Item = u8>) -> io::Result<()> {
        for shard in shards {
            fsio::sync_dir(&self.shard_dir(shard))?;
        }
        Ok(())
    }

    /// Reads chunk `id` into `out` (cleared first): decompresses into exactly `len` bytes
    /// and checks them against the name. `compressed` is a scratch buffer reused across calls;
    /// the file is read with direct I/O (a restore reads each chunk once).
    pub(crate) fn read(
        &self,
        id: &ChunkId,
        len: usize,
        decompressor: &mut zstd::bulk::Decompressor<'_>,
        compressed: &mut AlignedBuf,
        out: &mut Vec<u8>,
    ) -> Result<(), ReadFailure> {
        match fsio::read_direct(&self.path(id), compressed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadFailure::Missing),
            Err(e) => return Err(ReadFailure::Io(e)),
        };
        out.clear();
        out.reserve(len);
        let n = decompressor
            .decompress_to_buffer(compressed.as_slice(), out)
            .map_err(|e| ReadFailure::Corrupt(format!("zstd: {e}")))?;
        if n != len {
            return Err(ReadFailure::Corrupt(format!(
                "decompressed to {n} bytes, expected {len}"
            )));
        }
        if ChunkId::of(out) != *id {
            return Err(ReadFailure::Corrupt(
                "content does not match its hash".into(),
            ));
        }
        Ok(())
    }

    /// Every chunk file in the store, with its path, for the sweep. Files whose names are not
    /// chunk ids are skipped (and left alone).
    pub(crate) fn list(&self) -> io::Result<Vec<(ChunkId, PathBuf)>> {
        let mut chunks = Vec::new();
        for shard in 0..=255u8 {
            let dir = self.shard_dir(shard);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                if let Some(id) = entry.file_name().to_str().and_then(ChunkId::parse) {
                    chunks.push((id, entry.path()));
                }
            }
        }
        Ok(chunks)
    }

    /// Creates the 256 shard directories (idempotent).
    pub(crate) fn create_shards(&self) -> io::Result<()> {
        for shard in 0..=255u8 {
            std::fs::create_dir_all(self.shard_dir(shard))?;
        }
        fsio::sync_dir(&self.dir)
    }
}

/// Compresses a chunk with a reusable context into `out` (overwritten).
pub(crate) fn compress(
    compressor: &mut zstd::bulk::Compressor<'_>,
    data: &[u8],
    out: &mut AlignedBuf,
) -> io::Result<()> {
    out.reserve(zstd::zstd_safe::compress_bound(data.len()));
    let n = compressor.compress_to_buffer(data, out.room())?;
    out.set_len(n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        let id = ChunkId::of(b"abc");
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ChunkId::parse(&id.to_hex()), Some(id));
        assert_eq!(ChunkId::parse(&id.to_hex().to_uppercase()), None);
        assert_eq!(ChunkId::parse("ba78"), None);
    }

    #[test]
    fn zero_detection_sees_a_single_byte() {
        let mut buf = vec![0u8; 1 << 20];
        assert!(is_zero(&buf));
        buf[(1 << 20) - 1] = 1;
        assert!(!is_zero(&buf));
        assert!(is_zero(&[]));
    }

    #[test]
    fn a_stored_chunk_reads_back_and_a_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::new(dir.path().join("chunks"), dir.path().to_path_buf());
        store.create_shards().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let id = ChunkId::of(&data);
        let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL).unwrap();
        let mut compressed = AlignedBuf::default();
        compress(&mut compressor, &data, &mut compressed).unwrap();
        assert!(compressed.as_slice().len() < data.len());
        store.put(&id, &compressed).unwrap();
        assert!(store.contains(&id).unwrap());

        let mut decompressor = zstd::bulk::Decompressor::new().unwrap();
        let (mut scratch, mut out) = (AlignedBuf::default(), Vec::new());
        store
            .read(&id, data.len(), &mut decompressor, &mut scratch, &mut out)
            .unwrap();
        assert_eq!(out, data);

        let wrong_len = store.read(
            &id,
            data.len() - 1,
            &mut decompressor,
            &mut scratch,
            &mut out,
        );
        assert!(matches!(wrong_len, Err(ReadFailure::Corrupt(_))));

        let other = ChunkId::of(b"other");
        let missing = store.read(&other, 5, &mut decompressor, &mut scratch, &mut out);
        assert!(matches!(missing, Err(ReadFailure::Missing)));
        assert_eq!(store.list().unwrap(), vec![(id, store.path(&id))]);
    }
}

//! The benchmark volume: a sparse file with data in extents of 256 KiB to 32 MiB scattered
//! over it (like a used filesystem), filled with a mix that compresses the way real volumes
//! do: English-like text, structured binary (counters with small deltas, as in database
//! pages and executables) and incompressible bytes (media, already-compressed files).

use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// A small, fast, seeded generator (xorshift64*): the data must be reproducible and made
/// at GB/s, not cryptographic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "the", "volume", "of", "and", "backup", "to", "a", "in", "snapshot", "is", "that", "for",
    "block", "it", "with", "as", "was", "on", "storage", "be", "at", "by", "this", "had", "not",
    "are", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "her", "all",
    "she", "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more",
    "no", "if", "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can",
    "only", "other", "new", "some", "could", "time", "these", "two", "may", "then", "do", "first",
    "any", "my", "now", "such", "like", "our", "over", "man", "me", "even", "most", "made",
    "after", "also", "did", "many", "before", "must", "through", "back", "years", "where", "much",
    "your", "way", "well", "down", "should", "because", "each", "just", "those", "people", "how",
    "too", "little", "state", "good", "very", "make", "world", "still", "own", "see", "men",
    "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day",
    "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off",
    "come", "since", "against",
];

/// Fills `buf` with the benchmark mix, 64 KiB at a time: 40 % text, 25 % structured
/// binary, 35 % random bytes.
pub fn fill(rng: &mut Rng, buf: &mut [u8]) {
    for block in buf.chunks_mut(64 << 10) {
        match rng.below(100) {
            0..40 => text(rng, block),
            40..65 => structured(rng, block),
            _ => random(rng, block),
        }
    }
}

fn text(rng: &mut Rng, out: &mut [u8]) {
    let mut i = 0;
    while i < out.len() {
        let r = rng.next();
        let word = WORDS[(r % WORDS.len() as u64) as usize].as_bytes();
        let sep: &[u8] = if r >> 60 == 0 { b".\n" } else { b" " };
        for &b in word.iter().chain(sep) {
            if i == out.len() {
                return;
            }
            out[i] = b;
            i += 1;
        }
    }
}

fn structured(rng: &mut Rng, out: &mut [u8]) {
    let mut value = rng.next() as u32;
    for record in out.chunks_mut(16) {
        value = value.wrapping_add((rng.below(16)) as u32);
        let mut fields = [0u8; 16];
        fields[..4].copy_from_slice(&value.to_le_bytes());
        fields[4..8].copy_from_slice(&((rng.below(4)) as u32).to_le_bytes());
        fields[8..12].copy_from_slice(b"ROW\0");
        let n = record.len();
        record.copy_from_slice(&fields[..n]);
    }
}

fn random(rng: &mut Rng, out: &mut [u8]) {
    for word in out.chunks_mut(8) {
        let n = word.len();
        word.copy_from_slice(&rng.next().to_le_bytes()[..n]);
    }
}

/// Lays out `data` bytes of extents over a volume of `size` bytes, 4 KiB aligned.
pub fn layout(rng: &mut Rng, size: u64, data: u64) -> Vec<Range<u64>> {
    const ALIGN: u64 = 4096;
    let mut extents = Vec::new();
    let mut left = data;
    while left > 0 {
        let len = ((256 << 10) + rng.below(32 << 20)).min(left) / ALIGN * ALIGN;
        let len = len.max(ALIGN).min(left);
        extents.push(len);
        left -= len;
    }
    // Spread the free space over the gaps before each extent and at the end, at random.
    let weights: Vec<u64> = (0..=extents.len()).map(|_| 1 + rng.below(1000)).collect();
    let total: u64 = weights.iter().sum();
    let free = size - data;
    let mut pos = 0;
    extents
        .iter()
        .zip(&weights)
        .map(|(&len, &w)| {
            pos += (free as u128 * w as u128 / total as u128) as u64 / ALIGN * ALIGN;
            let extent = pos..pos + len;
            pos += len;
            extent
        })
        .collect()
}

/// Writes the extents' data into the sparse `volume` and, back to back, into `flat` (the
/// same bytes without holes, for `dd` and the `zstd` CLI). Both are fsynced.
pub fn write(volume: &File, flat: &mut File, extents: &[Range<u64>], seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; 4 << 20];
    for extent in extents {
        let mut pos = extent.start;
        while pos < extent.end {
            let n = ((extent.end - pos) as usize).min(buf.len());
            fill(&mut rng, &mut buf[..n]);
            volume.write_all_at(&buf[..n], pos)?;
            flat.write_all(&buf[..n])?;
            pos += n as u64;
        }
    }
    volume.sync_all()?;
    flat.sync_all()
}

//! The manifest: everything needed to restore one backup, self-contained and self-checking.
//!
//! A manifest lists every chunk of the volume (its hash, or `null` for a hole), so a restore
//! reads only this one file, whatever the length of the incremental chain; `parent` is
//! lineage, not a dependency for restore. The stored form is `{"manifest": {...}, "sha256":
//! "<hex>"}` where the digest covers the exact serialisation of the inner object: the
//! fields are plain strings, integers and arrays, so parsing and serialising again gives
//! the same bytes, and any change to a field (or a truncation) fails the check.
//!
//! Format 2 adds `blake3`, each chunk's [`Fingerprint`] (`null` for a hole, or for a chunk
//! taken unread from a parent that had none). A manifest without any fingerprint is written
//! in format 1, exactly as before, so a record exported by an older Basalt imports and
//! re-exports as the same bytes, and older manifests still serve as parents and restore.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chunk::ChunkId;
use crate::error::{BackupError, Result};
use crate::fingerprint::Fingerprint;

/// The newest format, written when the manifest holds fingerprints; readers accept it and
/// [`MANIFEST_FORMAT_PLAIN`], and refuse others.
pub const MANIFEST_FORMAT: u32 = 2;

/// The format without fingerprints (Basalt's first), still written for a manifest that has
/// none.
pub const MANIFEST_FORMAT_PLAIN: u32 = 1;

/// One backup: what a restore needs, and its lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The backup's id (Cinder's backup UUID).
    pub id: String,
    /// The volume's size in bytes when it was backed up.
    pub volume_size: u64,
    /// Bytes per chunk; the last chunk may be shorter.
    pub chunk_size: u64,
    /// The parent's id when this backup is incremental.
    pub parent: Option<String>,
    /// When the backup was taken (Cinder's `data_timestamp` is the snapshot's time; this is
    /// the manifest's).
    pub created_at: DateTime<Utc>,
    /// Per chunk, in volume order: its content's hash, or `None` for a chunk of zeros.
    pub chunks: Vec<Option<ChunkId>>,
    /// Per chunk, as many as `chunks`: its content's BLAKE3 fingerprint when known (never
    /// for a hole). All `None` in a manifest of format 1.
    pub fingerprints: Vec<Option<Fingerprint>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: u32,
    id: String,
    volume_size: u64,
    chunk_size: u64,
    parent: Option<String>,
    created_at: String,
    chunks: Vec<Option<String>>,
    /// Absent in format 1, so that its bodies serialise to the same bytes as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blake3: Option<Vec<Option<String>>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    manifest: Body,
    sha256: String,
}

impl Manifest {
    /// The number of chunks a volume of `volume_size` bytes has.
    pub fn chunk_count(volume_size: u64, chunk_size: u64) -> u64 {
        volume_size.div_ceil(chunk_size)
    }

    /// The byte range of chunk `index`.
    pub fn chunk_range(&self, index: u64) -> std::ops::Range<u64> {
        let start = index * self.chunk_size;
        start..(start + self.chunk_size).min(self.volume_size)
    }

    /// Cinder's `object_count`: the distinct stored chunks this backup consists of, i.e. the
    /// objects a restore reads (shared ones included, holes excluded).
    pub fn object_count(&self) -> u64 {
        let mut ids: Vec<&ChunkId> = self.chunks.iter().flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u64
    }

    /// Serialises with the checksum: the bytes of the manifest file and of an export.
    pub fn to_bytes(&self) -> Vec<u8> {
        let fingerprinted = self.fingerprints.iter().any(Option::is_some);
        let body = Body {
            format: if fingerprinted {
                MANIFEST_FORMAT
            } else {
                MANIFEST_FORMAT_PLAIN
            },
            id: self.id.clone(),
            volume_size: self.volume_size,
            chunk_size: self.chunk_size,
            parent: self.parent.clone(),
            created_at: self
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            chunks: self
                .chunks
                .iter()
                .map(|c| c.as_ref().map(ChunkId::to_hex))
                .collect(),
            blake3: fingerprinted.then(|| {
                self.fingerprints
                    .iter()
                    .map(|f| f.as_ref().map(Fingerprint::to_hex))
                    .collect()
            }),
        };
        let sha256 = hex::encode(Sha256::digest(body_bytes(&body)));
        let envelope = Envelope {
            manifest: body,
            sha256,
        };
        serde_json::to_vec(&envelope).expect("a manifest always serialises")
    }

    /// Parses and verifies bytes from [`to_bytes`](Self::to_bytes). `what` names the source
    /// in errors (a file, "imported record").
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let invalid = |reason: String| BackupError::InvalidManifest {
            what: what.to_owned(),
            reason,
        };
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("does not parse: {e}")))?;
        let body = envelope.manifest;
        if hex::encode(Sha256::digest(body_bytes(&body))) != envelope.sha256 {
            return Err(invalid("checksum mismatch".into()));
        }
        match (body.format, &body.blake3) {
            (MANIFEST_FORMAT_PLAIN, None) | (MANIFEST_FORMAT, Some(_)) => {}
            (MANIFEST_FORMAT_PLAIN | MANIFEST_FORMAT, _) => {
                return Err(invalid(format!(
                    "format {} with fingerprints {}",
                    body.format,
                    if body.blake3.is_some() {
                        "present"
                    } else {
                        "absent"
                    }
                )))
            }
            (format, _) => return Err(invalid(format!("unknown format {format}"))),
        }
        crate::repo::validate_id(&body.id)?;
        if let Some(parent) = &body.parent {
            crate::repo::validate_id(parent)?;
        }
        if body.chunk_size == 0
            || Manifest::chunk_count(body.volume_size, body.chunk_size) != body.chunks.len() as u64
        {
            return Err(invalid(format!(
                "{} chunks of {} bytes cannot make {} bytes",
                body.chunks.len(),
                body.chunk_size,
                body.volume_size
            )));
        }
        let created_at = DateTime::parse_from_rfc3339(&body.created_at)
            .map_err(|e| invalid(format!("created_at: {e}")))?
            .with_timezone(&Utc);
        let chunks = body
            .chunks
            .iter()
            .map(|c| match c {
                None => Ok(None),
                Some(h) => ChunkId::parse(h)
                    .map(Some)
                    .ok_or_else(|| invalid(format!("bad chunk hash {h:?}"))),
            })
            .collect::<Result<Vec<_>>>()?;
        let fingerprints = match &body.blake3 {
            None => vec![None; chunks.len()],
            Some(list) => parse_fingerprints(list, &chunks).map_err(invalid)?,
        };
        Ok(Self {
            id: body.id,
            volume_size: body.volume_size,
            chunk_size: body.chunk_size,
            parent: body.parent,
            created_at,
            chunks,
            fingerprints,
        })
    }
}

/// Parses format 2's fingerprints: one per chunk, and none for a hole.
fn parse_fingerprints(
    list: &[Option<String>],
    chunks: &[Option<ChunkId>],
) -> std::result::Result<Vec<Option<Fingerprint>>, String> {
    if list.len() != chunks.len() {
        return Err(format!(
            "{} fingerprints for {} chunks",
            list.len(),
            chunks.len()
        ));
    }
    list.iter()
        .zip(chunks)
        .enumerate()
        .map(|(i, (f, c))| match (f, c) {
            (None, _) => Ok(None),
            (Some(_), None) => Err(format!("a fingerprint for hole {i}")),
            (Some(h), Some(_)) => Fingerprint::parse(h)
                .map(Some)
                .ok_or_else(|| format!("bad fingerprint {h:?}")),
        })
        .collect()
}

fn body_bytes(body: &Body) -> Vec<u8> {
    serde_json::to_vec(body).expect("a manifest always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            id: "b1".into(),
            volume_size: 10 << 20,
            chunk_size: 4 << 20,
            parent: Some("b0".into()),
            created_at: "2026-12-04T10:00:00.123456Z".parse().unwrap(),
            chunks: vec![Some(ChunkId::of(b"a")), None, Some(ChunkId::of(b"a"))],
            fingerprints: vec![Some(Fingerprint::of(b"a")), None, None],
        }
    }

    /// A manifest as Basalt's first format wrote it (no fingerprints), checksum included.
    fn format_1_bytes() -> Vec<u8> {
        let a = ChunkId::of(b"a").to_hex();
        let body = format!(
            r#"{{"format":1,"id":"b1","volume_size":10485760,"chunk_size":4194304,"parent":"b0","created_at":"2026-12-04T10:00:00.123456Z","chunks":["{a}",null,"{a}"]}}"#
        );
        let sha256 = hex::encode(Sha256::digest(body.as_bytes()));
        format!(r#"{{"manifest":{body},"sha256":"{sha256}"}}"#).into_bytes()
    }

    #[test]
    fn a_format_1_manifest_reads_without_fingerprints_and_writes_back_the_same_bytes() {
        let m = Manifest::from_bytes(&format_1_bytes(), "old").unwrap();
        assert_eq!(m.chunks, sample().chunks);
        assert_eq!(m.fingerprints, [None; 3]);
        assert_eq!(m.to_bytes(), format_1_bytes());
    }

    #[test]
    fn fingerprints_are_format_2_and_must_fit_the_chunks() {
        let m = sample();
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(text.contains(r#""format":2"#), "{text}");
        assert!(text.contains(&Fingerprint::of(b"a").to_hex()), "{text}");
        let mut hole = sample();
        hole.fingerprints[1] = Some(Fingerprint::of(b"b"));
        let mut short = sample();
        short.fingerprints.pop();
        for bad in [hole, short] {
            let err = Manifest::from_bytes(&bad.to_bytes(), "t").unwrap_err();
            assert!(matches!(err, BackupError::InvalidManifest { .. }), "{err}");
        }
        // Format 1 with fingerprints, or format 2 without, is not what any version writes,
        // even under a good checksum.
        let relabel = |bytes: &[u8], format: u32| {
            let mut envelope: Envelope = serde_json::from_slice(bytes).unwrap();
            envelope.manifest.format = format;
            envelope.sha256 = hex::encode(Sha256::digest(body_bytes(&envelope.manifest)));
            serde_json::to_vec(&envelope).unwrap()
        };
        for bad in [relabel(text.as_bytes(), 1), relabel(&format_1_bytes(), 2)] {
            let err = Manifest::from_bytes(&bad, "t").unwrap_err();
            assert!(err.to_string().contains("fingerprints"), "{err}");
        }
    }

    #[test]
    fn round_trips_and_counts_distinct_objects() {
        let m = sample();
        assert_eq!(Manifest::from_bytes(&m.to_bytes(), "test").unwrap(), m);
        assert_eq!(m.object_count(), 1);
        assert_eq!(m.chunk_range(2), (8 << 20)..(10 << 20));
    }

    #[test]
    fn any_changed_byte_or_truncation_is_refused() {
        let bytes = sample().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let tampered = text.replace("\"volume_size\":10485760", "\"volume_size\":10485761");
        assert_ne!(tampered, text);
        assert!(Manifest::from_bytes(tampered.as_bytes(), "t").is_err());
        for len in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(Manifest::from_bytes(&bytes[..len], "t").is_err(), "{len}");
        }
    }

    #[test]
    fn a_chunk_list_of_the_wrong_length_is_refused_even_with_a_good_checksum() {
        let mut m = sample();
        m.chunks.pop();
        let err = Manifest::from_bytes(&m.to_bytes(), "t").unwrap_err();
        assert!(matches!(err, BackupError::InvalidManifest { .. }), "{err}");
    }
}

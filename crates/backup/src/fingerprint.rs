//! A chunk's fingerprint: the BLAKE3 hash of its uncompressed bytes, kept in the manifest
//! beside its SHA-256 id. BLAKE3 is a cryptographic hash (256 bits, like the id) that runs
//! about five times faster than SHA-256 here, so an incremental backup without changed
//! ranges tells an unchanged chunk by its fingerprint alone and computes the SHA-256 id
//! only of the chunks that changed. Chunks are still named, stored and verified by SHA-256.

use std::fmt;

/// The BLAKE3 hash of a chunk's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Hashes a chunk's bytes.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse(hex_digits: &str) -> Option<Self> {
        if hex_digits.len() != 64 || hex_digits.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut fp = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut fp).ok()?;
        Some(Self(fp))
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_blake3_and_round_trip_through_hex() {
        let fp = Fingerprint::of(b"abc");
        assert_eq!(
            fp.to_hex(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(Fingerprint::parse(&fp.to_hex()), Some(fp));
        assert_eq!(Fingerprint::parse(&fp.to_hex().to_uppercase()), None);
        assert_eq!(Fingerprint::parse("6437"), None);
    }
}

//! Transfer auth keys: made from the operating system's CSPRNG, shown once, stored only as a
//! salted SHA-256 digest and compared in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Cinder's `volume_transfer_key_length`: 16 hex characters (64 bits), short enough to read
/// out to the person accepting.
pub const KEY_LENGTH: usize = 16;

/// A fresh key: `KEY_LENGTH` lowercase hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; KEY_LENGTH / 2];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A fresh salt: 16 random bytes, hex. A salt per transfer means equal keys give unequal
/// digests, so a copy of the table tells nothing about which transfers share a key.
pub fn salt() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of `key`: hex SHA-256 over the salt and the key.
pub fn digest(salt: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `key` is the one whose digest is stored. Every byte is compared, whatever the
/// first difference, so the time taken says nothing about how close a guess was.
pub fn matches(salt: &str, stored: &str, key: &str) -> bool {
    let ours = digest(salt, key);
    let (a, b) = (ours.as_bytes(), stored.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_hex_characters_and_differ() {
        let k = generate();
        assert_eq!(k.len(), KEY_LENGTH);
        assert!(k
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase()));
        assert_ne!(k, generate());
    }

    #[test]
    fn only_the_key_itself_matches_its_digest() {
        let (s, k) = (salt(), generate());
        let stored = digest(&s, &k);
        assert_ne!(stored, k);
        assert!(!stored.contains(&k));
        assert!(matches(&s, &stored, &k));
        assert!(!matches(&s, &stored, &generate()));
        assert!(!matches(&salt(), &stored, &k));
        assert!(!matches(&s, &stored[1..], &k));
    }

    #[test]
    fn equal_keys_under_different_salts_store_differently() {
        assert_ne!(digest(&salt(), "k"), digest(&salt(), "k"));
    }
}

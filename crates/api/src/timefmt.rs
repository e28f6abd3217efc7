//! The two timestamp dialects clients insist on: Keystone's with a `Z`, Cinder's without.

use chrono::{DateTime, Utc};

/// `2026-12-03T17:14:05.123456Z`: tokens (`expires`, `expires_at`, `issued_at`).
pub fn keystone(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `2026-12-03T17:14:05.123456`: block-storage resources (gophercloud rejects a `Z`).
pub fn cinder(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_six_digit_microseconds() {
        let t = DateTime::from_timestamp_micros(1_448_766_104_000_007).unwrap();
        assert_eq!(keystone(t), "2015-11-29T03:01:44.000007Z");
        assert_eq!(cinder(t), "2015-11-29T03:01:44.000007");
    }
}

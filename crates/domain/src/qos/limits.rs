//! The limits Basalt's own exporter enforces for a volume: the `back-end` (or `both`) QoS
//! specs of its type, `_per_gb` variants resolved for its size.

use std::collections::BTreeMap;

/// Operations and bytes per second; `None` is unlimited. A spec of 0 or one that is not a
/// number is ignored, as Cinder's drivers ignore what they cannot apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoLimits {
    pub total_iops: Option<u64>,
    pub read_iops: Option<u64>,
    pub write_iops: Option<u64>,
    pub total_bytes: Option<u64>,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
}

impl IoLimits {
    /// Reads the limits out of effective specs (see [`super::effective_specs`]).
    pub fn from_specs(specs: &BTreeMap<String, String>) -> IoLimits {
        let get = |k: &str| {
            specs
                .get(k)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&n| n > 0)
        };
        IoLimits {
            total_iops: get("total_iops_sec"),
            read_iops: get("read_iops_sec"),
            write_iops: get("write_iops_sec"),
            total_bytes: get("total_bytes_sec"),
            read_bytes: get("read_bytes_sec"),
            write_bytes: get("write_bytes_sec"),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        *self == IoLimits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_from_the_specs_and_nonsense_is_ignored() {
        let specs: BTreeMap<String, String> = [
            ("total_iops_sec", "100"),
            ("read_bytes_sec", " 1048576 "),
            ("write_iops_sec", "0"),
            ("write_bytes_sec", "fast"),
            ("unrelated", "7"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let l = IoLimits::from_specs(&specs);
        assert_eq!(l.total_iops, Some(100));
        assert_eq!(l.read_bytes, Some(1 << 20));
        assert_eq!((l.write_iops, l.write_bytes), (None, None));
        assert!(!l.is_unlimited());
        assert!(IoLimits::from_specs(&BTreeMap::new()).is_unlimited());
    }
}

//! QoS specs: named sets of limits (IOPS, bytes per second) that a volume type points to.
//! `front-end` specs are handed to the compute host in `connection_info`; `back-end` specs
//! are enforced by Basalt's own exporter; `both` means both.

mod limits;
mod service;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use limits::IoLimits;
pub use service::QosService;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosConsumer {
    BackEnd,
    FrontEnd,
    Both,
}

impl QosConsumer {
    pub const ALL: [QosConsumer; 3] = [
        QosConsumer::BackEnd,
        QosConsumer::FrontEnd,
        QosConsumer::Both,
    ];

    pub fn parse(s: &str) -> Option<QosConsumer> {
        QosConsumer::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QosConsumer::BackEnd => "back-end",
            QosConsumer::FrontEnd => "front-end",
            QosConsumer::Both => "both",
        }
    }

    pub fn front_end(self) -> bool {
        matches!(self, QosConsumer::FrontEnd | QosConsumer::Both)
    }

    pub fn back_end(self) -> bool {
        matches!(self, QosConsumer::BackEnd | QosConsumer::Both)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QosSpecs {
    pub id: String,
    pub name: String,
    pub consumer: QosConsumer,
    pub specs: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The limits Cinder scales by the volume's size (`<limit>_per_gb`, with `_per_gb_min` and
/// `_max` bounds).
const TUNABLE: [&str; 6] = [
    "read_iops_sec",
    "read_bytes_sec",
    "write_iops_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "total_bytes_sec",
];

/// The specs as a host applies them to a volume of `size_gib`: each `<limit>_per_gb` becomes
/// `<limit>` = max(per_gb × size, per_gb_min), capped by `<limit>_max`, as Cinder's volume
/// manager computes them for `connection_info`. A value that is not a number is left alone.
pub fn effective_specs(
    specs: &BTreeMap<String, String>,
    size_gib: i64,
) -> BTreeMap<String, String> {
    let mut out = specs.clone();
    let num =
        |m: &BTreeMap<String, String>, k: &str| m.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    for option in TUNABLE {
        let per_gb = format!("{option}_per_gb");
        let Some(rate) = num(&out, &per_gb) else {
            continue;
        };
        let min_key = format!("{option}_per_gb_min");
        let max_key = format!("{option}_max");
        let scaled = rate
            .saturating_mul(size_gib)
            .max(num(&out, &min_key).unwrap_or(0));
        let capped = scaled.min(num(&out, &max_key).unwrap_or(scaled));
        out.remove(&per_gb);
        out.remove(&min_key);
        out.remove(&max_key);
        out.insert(option.to_owned(), capped.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn per_gb_limits_scale_with_size_within_their_bounds() {
        let s = specs(&[
            ("total_iops_sec_per_gb", "10"),
            ("total_iops_sec_per_gb_min", "50"),
            ("total_iops_sec_max", "300"),
            ("read_bytes_sec", "1000"),
        ]);
        assert_eq!(effective_specs(&s, 2)["total_iops_sec"], "50");
        assert_eq!(effective_specs(&s, 20)["total_iops_sec"], "200");
        assert_eq!(effective_specs(&s, 100)["total_iops_sec"], "300");
        let e = effective_specs(&s, 20);
        assert_eq!(e["read_bytes_sec"], "1000");
        assert!(!e.contains_key("total_iops_sec_per_gb"));
        assert!(!e.contains_key("total_iops_sec_max"));
    }

    #[test]
    fn consumers_parse_by_cinders_names_only() {
        assert_eq!(QosConsumer::parse("both"), Some(QosConsumer::Both));
        assert_eq!(QosConsumer::parse("sideways"), None);
        assert!(QosConsumer::FrontEnd.front_end() && !QosConsumer::FrontEnd.back_end());
    }
}

//! The os-brick connector a compute host sends, and the `connection_info` it gets back.

use serde::Serialize;

use crate::error::DomainError;

/// `{"driver_volume_type": ..., "data": {...}}`, as os-brick and Nova read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionInfo {
    pub driver_volume_type: String,
    pub data: serde_json::Value,
}

/// Which connector an export belongs to: its `host`, else its `initiator`, else its `ip`
/// (os-brick always sends at least one of them). Anything else is Cinder's 400.
pub fn connector_key(connector: &serde_json::Value) -> Result<String, DomainError> {
    let obj = connector.as_object().ok_or_else(|| {
        DomainError::InvalidInput(
            "Connector doesn't have required information: a connector \
             must be an object."
                .into(),
        )
    })?;
    ["host", "initiator", "ip"]
        .iter()
        .find_map(|k| {
            obj.get(*k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        })
        .map(str::to_owned)
        .ok_or_else(|| {
            DomainError::InvalidInput(
                "Connector doesn't have required information: host, initiator or ip.".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_key_is_the_host_then_the_initiator_then_the_ip() {
        let c = json!({"host": "cmp1", "initiator": "iqn.x", "ip": "10.0.0.1"});
        assert_eq!(connector_key(&c).unwrap(), "cmp1");
        assert_eq!(
            connector_key(&json!({"initiator": "iqn.x"})).unwrap(),
            "iqn.x"
        );
        assert_eq!(
            connector_key(&json!({"ip": "10.0.0.1"})).unwrap(),
            "10.0.0.1"
        );
        assert!(connector_key(&json!({})).is_err());
        assert!(connector_key(&json!("cmp1")).is_err());
        assert!(connector_key(&json!({"host": ""})).is_err());
    }
}

//! How a type's extra specs are matched against a pool's capabilities (Cinder's capabilities
//! filter and its `extra_specs_ops`): keys scoped other than `capabilities:` are ignored, a
//! capability the pool does not report fails the match, and a value may carry an operator
//! (`<is> True`, `<in> x`, `<or> a <or> b`, `>= 10`, `s== x`, ...).

use serde_json::Value;

use crate::volume_type::ExtraSpecs;

/// The capability as Python would print it (`True`, `10.5`, `iSCSI`).
fn shown(cap: &Value) -> String {
    match cap {
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Whether one capability value satisfies one requirement.
pub fn matches(cap: &Value, req: &str) -> bool {
    let value = shown(cap);
    let words: Vec<&str> = req.split_whitespace().collect();
    let num = |s: &str| s.parse::<f64>().ok();
    const OPS: [&str; 14] = [
        "<is>", "<in>", "<or>", "=", "==", "!=", ">=", "<=", "s==", "s!=", "s<", "s<=", "s>", "s>=",
    ];
    let (op, arg) = match words.as_slice() {
        [op, rest @ ..] if OPS.contains(op) => (*op, rest.join(" ")),
        _ => return value == req,
    };
    match op {
        "<is>" => truthy(&value).is_some() && truthy(&value) == truthy(&arg),
        "<in>" => value.contains(arg.as_str()),
        "<or>" => req
            .split("<or>")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .any(|alt| alt == value),
        "=" | ">=" => matches!((num(&value), num(&arg)), (Some(a), Some(b)) if a >= b),
        "==" => matches!((num(&value), num(&arg)), (Some(a), Some(b)) if a == b),
        "!=" => matches!((num(&value), num(&arg)), (Some(a), Some(b)) if a != b),
        "<=" => matches!((num(&value), num(&arg)), (Some(a), Some(b)) if a <= b),
        "s==" => value == arg,
        "s!=" => value != arg,
        "s<" => value < arg,
        "s<=" => value <= arg,
        "s>" => value > arg,
        "s>=" => value >= arg,
        _ => value == req,
    }
}

/// The first extra spec the capabilities do not satisfy, if any.
pub fn unmet<'a>(specs: &'a ExtraSpecs, capabilities: &Value) -> Option<&'a str> {
    for (key, req) in specs {
        let Some(req) = req.as_deref() else {
            continue;
        };
        let mut scope: Vec<&str> = key.split(':').collect();
        if scope.len() > 1 {
            if scope[0] != "capabilities" {
                continue;
            }
            scope.remove(0);
        }
        let mut cap = capabilities;
        for part in scope {
            match cap.get(part) {
                Some(v) => cap = v,
                None => return Some(key),
            }
        }
        let ok = match cap {
            Value::Array(items) => items.iter().any(|c| matches(c, req)),
            c => matches(c, req),
        };
        if !ok {
            return Some(key);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operators_follow_cinders_extra_specs_ops() {
        assert!(matches(&json!(true), "<is> True"));
        assert!(!matches(&json!(false), "<is> True"));
        assert!(matches(&json!("iSCSI"), "<or> NBD <or> iSCSI"));
        assert!(matches(&json!(100.5), ">= 100"));
        assert!(!matches(&json!(99), ">= 100"));
        assert!(matches(&json!("thin,thick"), "<in> thin"));
        assert!(matches(&json!("file"), "file"));
        assert!(matches(&json!("file"), "s== file"));
        assert!(!matches(&json!("file"), "other"));
    }

    #[test]
    fn scoped_keys_are_ignored_unless_capabilities() {
        let caps = json!({"volume_backend_name": "fast", "multiattach": true});
        let specs = |pairs: &[(&str, &str)]| -> ExtraSpecs {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect()
        };
        assert_eq!(
            unmet(&specs(&[("volume_backend_name", "fast")]), &caps),
            None
        );
        assert_eq!(
            unmet(&specs(&[("capabilities:multiattach", "<is> True")]), &caps),
            None
        );
        assert_eq!(unmet(&specs(&[("vendor:thing", "x")]), &caps), None);
        assert_eq!(
            unmet(&specs(&[("volume_backend_name", "slow")]), &caps),
            Some("volume_backend_name")
        );
        assert_eq!(unmet(&specs(&[("colour", "red")]), &caps), Some("colour"));
    }
}

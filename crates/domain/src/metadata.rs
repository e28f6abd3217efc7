//! Metadata validation (Cinder's JSON schema for metadata: keys `^[a-zA-Z0-9-_:. /]{1,255}$`,
//! string values of at most 255 characters), plus a cap on the number of items.

use std::collections::BTreeMap;

use crate::error::DomainError;

pub type Metadata = BTreeMap<String, String>;

/// More items than any real use needs; keeps one volume's metadata from growing without bound.
pub const MAX_ITEMS: usize = 1024;

fn key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.chars().count() <= 255
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:. /".contains(c))
}

/// Checks keys and values; `field` names the request field in the message.
pub fn validate(md: &Metadata, field: &str) -> Result<(), DomainError> {
    if md.len() > MAX_ITEMS {
        return Err(DomainError::BadRequest(format!(
            "Invalid input for field/attribute {field}. Value: {} items. More than {MAX_ITEMS} \
             metadata items are not allowed.",
            md.len()
        )));
    }
    for (k, v) in md {
        if !key_ok(k) {
            return Err(DomainError::BadRequest(format!(
                "Invalid input for field/attribute {field}. Value: {k}. The key must be 1 to \
                 255 characters from letters, digits and '-_:. /'."
            )));
        }
        if v.chars().count() > 255 {
            return Err(DomainError::BadRequest(format!(
                "Invalid input for field/attribute {field}. Value of key {k} is longer than 255 \
                 characters."
            )));
        }
    }
    Ok(())
}

/// Validates `md` and checks that merging it into `current` (or, with `replace`, putting it
/// in its place) stays within [`MAX_ITEMS`]; `holder` names what holds it ("volume").
pub fn check_update(
    current: &Metadata,
    md: &Metadata,
    replace: bool,
    holder: &str,
) -> Result<(), DomainError> {
    validate(md, "metadata")?;
    let merged = if replace {
        md.len()
    } else {
        md.keys().filter(|k| !current.contains_key(*k)).count() + current.len()
    };
    if merged > MAX_ITEMS {
        return Err(DomainError::BadRequest(format!(
            "Invalid input for field/attribute metadata. A {holder} holds at most {MAX_ITEMS} \
             metadata items."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> Metadata {
        [(k.to_owned(), v.to_owned())].into()
    }

    #[test]
    fn keys_and_values_follow_cinders_schema() {
        assert!(validate(&one("a-b_c:d. e/f", "x"), "metadata").is_ok());
        assert!(validate(&one("", "x"), "metadata").is_err());
        assert!(validate(&one("bad*key", "x"), "metadata").is_err());
        assert!(validate(&one(&"k".repeat(256), "x"), "metadata").is_err());
        assert!(validate(&one("k", &"v".repeat(256)), "metadata").is_err());
        assert!(validate(&one("k", &"v".repeat(255)), "metadata").is_ok());
    }

    #[test]
    fn too_many_items_are_refused() {
        let md: Metadata = (0..=MAX_ITEMS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert!(validate(&md, "metadata").is_err());
    }
}

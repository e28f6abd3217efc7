//! Transfer views (contract §2.6) in Cinder's three shapes: create adds the auth key (the only
//! answer that ever shows it), detail and show add `created_at`, summary and accept have
//! neither. Links name the collection `os-volume-transfer`.

use basalt_domain::transfer::Transfer;
use serde::Serialize;

use super::links::{Link, Links};
use crate::timefmt;

const COLLECTION: &str = "os-volume-transfer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Summary,
    Detail,
}

#[derive(Debug, Serialize)]
pub struct TransferView {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    name: Option<String>,
    volume_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_key: Option<String>,
    links: Vec<Link>,
}

#[derive(Debug, Serialize)]
pub struct TransferDoc {
    transfer: TransferView,
}

#[derive(Debug, Serialize)]
pub struct TransferList {
    transfers: Vec<TransferView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    transfers_links: Vec<Link>,
}

impl TransferList {
    pub fn new(transfers: Vec<TransferView>, next: Option<Link>) -> Self {
        TransferList {
            transfers,
            transfers_links: next.into_iter().collect(),
        }
    }
}

pub fn view(t: &Transfer, shape: Shape, links: &Links) -> TransferView {
    TransferView {
        id: t.id.clone(),
        created_at: (shape == Shape::Detail).then(|| timefmt::cinder(t.created_at)),
        name: t.name.clone(),
        volume_id: t.volume_id.clone(),
        auth_key: None,
        links: links.resource(COLLECTION, &t.id),
    }
}

pub fn doc(t: &Transfer, shape: Shape, links: &Links) -> TransferDoc {
    TransferDoc {
        transfer: view(t, shape, links),
    }
}

/// The answer to a create: the detail fields and the key.
pub fn created(t: &Transfer, auth_key: String, links: &Links) -> TransferDoc {
    let mut transfer = view(t, Shape::Detail, links);
    transfer.auth_key = Some(auth_key);
    TransferDoc { transfer }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    fn transfer() -> Transfer {
        Transfer {
            id: "tid".into(),
            volume_id: "vid".into(),
            project_id: "p".into(),
            name: None,
            salt: "s".into(),
            crypt_hash: "h".into(),
            created_at: DateTime::from_timestamp_micros(1_448_766_104_000_007).unwrap(),
        }
    }

    #[test]
    fn each_answer_has_cinders_fields_and_never_the_digest() {
        let links = Links::for_tests("https://h:8776", "v2", "p");
        let self_link = "https://h:8776/v2/p/os-volume-transfer/tid";
        let summary = serde_json::to_value(view(&transfer(), Shape::Summary, &links)).unwrap();
        assert_eq!(
            summary,
            json!({"id": "tid", "name": null, "volume_id": "vid", "links": [
                {"rel": "self", "href": self_link},
                {"rel": "bookmark", "href": "https://h:8776/p/os-volume-transfer/tid"}]})
        );
        let detail = serde_json::to_value(doc(&transfer(), Shape::Detail, &links)).unwrap();
        assert_eq!(
            detail["transfer"]["created_at"],
            "2015-11-29T03:01:44.000007"
        );
        assert_eq!(detail["transfer"].as_object().unwrap().len(), 5);
        let made = serde_json::to_value(created(&transfer(), "k".into(), &links)).unwrap();
        assert_eq!(made["transfer"]["auth_key"], "k");
        assert_eq!(made["transfer"].as_object().unwrap().len(), 6);
    }
}

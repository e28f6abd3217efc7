//! Links clients follow: a resource's `self` and `bookmark`, and the `next` page of a listing.
//! Every link starts at the configured public URL and names the caller's project; `self` and
//! `next` keep the request's API version (`/v2` or `/v3`), `bookmark` drops it.

use serde::Serialize;

use super::auth::Context;
use crate::state::ApiState;

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub rel: &'static str,
    pub href: String,
}

/// Where the links of one request point.
#[derive(Debug, Clone)]
pub struct Links {
    base: String,
    version: &'static str,
    project: String,
}

impl Links {
    pub fn new(state: &ApiState, ctx: &Context) -> Links {
        Links {
            base: state.urls.volume.trim_end_matches('/').to_owned(),
            version: if ctx.version.major == 2 { "v2" } else { "v3" },
            project: ctx.project_id().to_owned(),
        }
    }

    #[cfg(test)]
    pub fn for_tests(base: &str, version: &'static str, project: &str) -> Links {
        Links {
            base: base.into(),
            version,
            project: project.into(),
        }
    }

    /// `self` and `bookmark` of `<collection>/<id>`.
    pub fn resource(&self, collection: &str, id: &str) -> Vec<Link> {
        let Links {
            base,
            version,
            project,
        } = self;
        vec![
            Link {
                rel: "self",
                href: format!("{base}/{version}/{project}/{collection}/{id}"),
            },
            Link {
                rel: "bookmark",
                href: format!("{base}/{project}/{collection}/{id}"),
            },
        ]
    }

    /// The next page of `path` (`volumes` or `volumes/detail`): the request's query with its
    /// `marker` replaced by `marker` at the end, as Cinder builds it.
    pub fn next(&self, path: &str, query: &[(String, String)], marker: &str) -> Link {
        let mut pairs: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "marker")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        pairs.push(format!("marker={}", encode(marker)));
        Link {
            rel: "next",
            href: format!(
                "{}/{}/{}/{path}?{}",
                self.base,
                self.version,
                self.project,
                pairs.join("&")
            ),
        }
    }
}

/// The decoded `(name, value)` pairs of a query string, in order (form encoding: `+` is a
/// space; a malformed escape is kept as written).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Python's `quote_plus`: unreserved characters stay, a space is `+`, the rest is escaped.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_in_order_and_encode_back() {
        let q = query_pairs(Some(
            "limit=2&metadata=%7B%27k%27%3A+%27v%27%7D&a&bad=%zz&end=%4",
        ));
        assert_eq!(
            q,
            vec![
                ("limit".into(), "2".into()),
                ("metadata".into(), "{'k': 'v'}".into()),
                ("a".into(), "".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
        assert_eq!(encode("{'k': 'v'}"), "%7B%27k%27%3A+%27v%27%7D");
    }

    #[test]
    fn next_replaces_the_marker_at_the_end() {
        let links = Links::for_tests("https://h:8776", "v2", "p");
        let q = query_pairs(Some("marker=old&limit=1&sort=size:asc"));
        assert_eq!(
            links.next("volumes/detail", &q, "new").href,
            "https://h:8776/v2/p/volumes/detail?limit=1&sort=size%3Aasc&marker=new"
        );
        let r = links.resource("volumes", "id");
        assert_eq!(r[0].href, "https://h:8776/v2/p/volumes/id");
        assert_eq!(r[1].href, "https://h:8776/p/volumes/id");
    }
}

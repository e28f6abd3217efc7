//! Crash safety: `kill -9` in the middle of creates, extends and deletes, several times over;
//! after the restart no volume stays in a transitional status, the quota counts exactly what
//! exists, and every volume's file has its recorded size.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

struct Api {
    c: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let mut r = self
            .c
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        // While the server is being killed, requests fail: that is the point.
        let resp = r.send().await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Some((status, body))
    }
}

async fn connect(s: &Server, ca: &Path) -> (Api, String) {
    let c = client(ca);
    let (token, project) = login(&c, s, "pw").await.unwrap();
    let base = format!("{}/v2/{project}", s.volume);
    (Api { c, base, token }, project)
}

/// Creates, extends and deletes volumes as fast as it can until the task is dropped.
async fn churn(api: Api) {
    let mut ids: Vec<String> = Vec::new();
    for i in 0u64.. {
        match i % 4 {
            0 | 1 => {
                if let Some((202, b)) = api
                    .call(
                        reqwest::Method::POST,
                        "/volumes",
                        Some(json!({"volume": {"size": 1}})),
                    )
                    .await
                {
                    ids.push(b["volume"]["id"].as_str().unwrap().to_owned());
                }
            }
            2 => {
                if let Some(id) = ids.get(i as usize % ids.len().max(1)) {
                    let body = json!({"os-extend": {"new_size": 2}});
                    api.call(
                        reqwest::Method::POST,
                        &format!("/volumes/{id}/action"),
                        Some(body),
                    )
                    .await;
                }
            }
            _ => {
                if let Some(id) = ids.first().cloned() {
                    api.call(reqwest::Method::DELETE, &format!("/volumes/{id}"), None)
                        .await;
                    ids.remove(0);
                }
            }
        }
    }
}

#[tokio::test]
async fn kill_minus_nine_at_any_moment_leaves_nothing_stuck_and_no_quota_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ca = data.join("tls/ca.pem");
    let s = start(data, &[], Some("pw"));
    {
        let (api, project) = connect(&s, &ca).await;
        let unlimited = json!({"quota_set": {"volumes": -1, "gigabytes": -1}});
        let (status, _) = api
            .call(
                reqwest::Method::PUT,
                &format!("/os-quota-sets/{project}"),
                Some(unlimited),
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let mut s = s;
    for round in 0..4u64 {
        let (api, _) = connect(&s, &ca).await;
        let task = tokio::spawn(churn(api));
        tokio::time::sleep(Duration::from_millis(150 + round * 120)).await;
        s.kill_hard();
        task.abort();
        s = start(data, &[], None);
    }

    let (api, project) = connect(&s, &ca).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let volumes = loop {
        let (_, body) = api
            .call(reqwest::Method::GET, "/volumes/detail", None)
            .await
            .unwrap();
        let volumes = body["volumes"].as_array().unwrap().clone();
        let busy = volumes
            .iter()
            .filter(|v| {
                ["creating", "deleting", "extending"].contains(&v["status"].as_str().unwrap())
            })
            .count();
        if busy == 0 {
            break volumes;
        }
        assert!(
            Instant::now() < deadline,
            "{busy} volumes still transitional"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!volumes.is_empty(), "the churn created volumes");
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &volumes {
        *by_status.entry(v["status"].as_str().unwrap()).or_default() += 1;
    }
    eprintln!("after 4 hard kills: {by_status:?}");

    let (_, q) = api
        .call(
            reqwest::Method::GET,
            &format!("/os-quota-sets/{project}?usage=true"),
            None,
        )
        .await
        .unwrap();
    let counted: Vec<&Value> = volumes.iter().filter(|v| v["status"] != "error").collect();
    let gib: i64 = counted.iter().map(|v| v["size"].as_i64().unwrap()).sum();
    assert_eq!(q["quota_set"]["volumes"]["in_use"], counted.len() as i64);
    assert_eq!(q["quota_set"]["gigabytes"]["in_use"], gib);

    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    for entry in std::fs::read_dir(data.join("volumes")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix("volume-") {
            files.insert(id.to_owned(), entry.metadata().unwrap().len());
        }
    }
    for v in &volumes {
        let id = v["id"].as_str().unwrap();
        match v["status"].as_str().unwrap() {
            "available" => assert_eq!(
                files.remove(id),
                Some(v["size"].as_u64().unwrap() << 30),
                "volume {id} file"
            ),
            // A create that failed may not have a file; an extend that failed keeps its file.
            _ => {
                files.remove(id);
            }
        }
    }
    assert!(files.is_empty(), "files without volumes: {files:?}");
    assert!(s.terminate().success());
}

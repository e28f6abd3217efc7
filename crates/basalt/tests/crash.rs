//! Crash safety: `kill -9` in the middle of creates, extends, snapshots, copies and (cascading)
//! deletes, several times over; after the restart no volume or snapshot stays in a transitional
//! status, the quota counts exactly what exists, every volume's file has its recorded size, and
//! every file belongs to a volume or a snapshot.

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

/// Creates, extends, snapshots, copies and deletes volumes as fast as it can until the task is
/// dropped.
async fn churn(api: Api) {
    let mut ids: Vec<String> = Vec::new();
    let mut snaps: Vec<String> = Vec::new();
    let post = |path: &'static str, body: Value| {
        let api = &api;
        async move {
            match api.call(reqwest::Method::POST, path, Some(body)).await {
                Some((202, b)) => b,
                _ => Value::Null,
            }
        }
    };
    for i in 0u64.. {
        let pick = |list: &Vec<String>| list.get(i as usize % list.len().max(1)).cloned();
        match i % 8 {
            0 | 1 => {
                let b = post("/volumes", json!({"volume": {"size": 1}})).await;
                if let Some(id) = b["volume"]["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
            2 => {
                if let Some(id) = pick(&ids) {
                    let body = json!({"os-extend": {"new_size": 2}});
                    api.call(
                        reqwest::Method::POST,
                        &format!("/volumes/{id}/action"),
                        Some(body),
                    )
                    .await;
                }
            }
            3 => {
                if let Some(id) = pick(&ids) {
                    let b = post("/snapshots", json!({"snapshot": {"volume_id": id}})).await;
                    if let Some(id) = b["snapshot"]["id"].as_str() {
                        snaps.push(id.to_owned());
                    }
                }
            }
            4 => {
                if let Some(sid) = pick(&snaps) {
                    let b = post("/volumes", json!({"volume": {"snapshot_id": sid}})).await;
                    if let Some(id) = b["volume"]["id"].as_str() {
                        ids.push(id.to_owned());
                    }
                }
            }
            5 => {
                if let Some(src) = pick(&ids) {
                    let b = post("/volumes", json!({"volume": {"source_volid": src}})).await;
                    if let Some(id) = b["volume"]["id"].as_str() {
                        ids.push(id.to_owned());
                    }
                }
            }
            6 => {
                if let Some(sid) = snaps.first().cloned() {
                    api.call(reqwest::Method::DELETE, &format!("/snapshots/{sid}"), None)
                        .await;
                    snaps.remove(0);
                }
            }
            _ => {
                if let Some(id) = ids.first().cloned() {
                    let path = format!("/volumes/{id}?cascade=true");
                    api.call(reqwest::Method::DELETE, &path, None).await;
                    ids.remove(0);
                }
            }
        }
    }
}

/// Every item of a listing, once nothing in it is transitional any more.
async fn settled(api: &Api, path: &str, key: &str, busy: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = api.call(reqwest::Method::GET, path, None).await.unwrap();
        let items = body[key].as_array().unwrap().clone();
        let n = items
            .iter()
            .filter(|v| busy.contains(&v["status"].as_str().unwrap()))
            .count();
        if n == 0 {
            return items;
        }
        assert!(Instant::now() < deadline, "{n} {key} still transitional");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn by_status(items: &[Value]) -> BTreeMap<&str, usize> {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for v in items {
        *m.entry(v["status"].as_str().unwrap()).or_default() += 1;
    }
    m
}

#[tokio::test]
async fn kill_minus_nine_at_any_moment_leaves_nothing_stuck_and_no_quota_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ca = data.join("tls/ca.pem");
    let s = start(data, &[], Some("pw"));
    {
        let (api, project) = connect(&s, &ca).await;
        let unlimited = json!({"quota_set": {"volumes": -1, "gigabytes": -1, "snapshots": -1}});
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
    let busy = ["creating", "deleting", "extending"];
    let volumes = settled(&api, "/volumes/detail", "volumes", &busy).await;
    let snapshots = settled(&api, "/snapshots/detail", "snapshots", &busy).await;
    assert!(!volumes.is_empty(), "the churn created volumes");
    eprintln!(
        "after 4 hard kills: volumes {:?}, snapshots {:?}",
        by_status(&volumes),
        by_status(&snapshots)
    );

    let (_, q) = api
        .call(
            reqwest::Method::GET,
            &format!("/os-quota-sets/{project}?usage=true"),
            None,
        )
        .await
        .unwrap();
    // A failed create stops counting; everything else counts.
    let counted = |items: &[Value]| -> (i64, i64) {
        let c: Vec<&Value> = items.iter().filter(|v| v["status"] != "error").collect();
        let gib = c.iter().map(|v| v["size"].as_i64().unwrap()).sum();
        (c.len() as i64, gib)
    };
    let (nv, gv) = counted(&volumes);
    let (ns, gs) = counted(&snapshots);
    assert_eq!(q["quota_set"]["volumes"]["in_use"], nv);
    assert_eq!(q["quota_set"]["snapshots"]["in_use"], ns);
    assert_eq!(q["quota_set"]["gigabytes"]["in_use"], gv + gs);

    let mut snapshot_files: BTreeMap<String, u64> = BTreeMap::new();
    for entry in std::fs::read_dir(data.join("volumes")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix("snapshot-") {
            snapshot_files.insert(id.to_owned(), entry.metadata().unwrap().len());
        }
    }
    for sn in &snapshots {
        let id = sn["id"].as_str().unwrap();
        let file = snapshot_files.remove(id);
        if sn["status"] == "available" {
            assert_eq!(
                file,
                Some(sn["size"].as_u64().unwrap() << 30),
                "snapshot {id} file"
            );
        }
    }
    assert!(
        snapshot_files.is_empty(),
        "files without snapshots: {snapshot_files:?}"
    );

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

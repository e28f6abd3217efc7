//! The scheduler and the operator's view over HTTP, in process, with two or three file
//! backends: placement by zone, by type (`volume_backend_name`, capabilities), by room left,
//! by hints, nothing-fits volumes in `error` with their reason, disabled services skipped;
//! `os-services`, `os-availability-zone`, `os-hosts`, `scheduler-stats/get_pools` and
//! `capabilities/{host}` with Cinder's shapes, and 403 for non-admins.

mod common;
mod volume_client;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use volume_client::*;

const HOST_ATTR: &str = "os-vol-host-attr:host";

async fn host_of(c: &Client<'_>, id: &str) -> String {
    c.volume(id).await[HOST_ATTR]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn create_type(c: &Client<'_>, name: &str, specs: Value) -> String {
    let r = c
        .post(
            "types",
            json!({"volume_type": {"name": name, "extra_specs": specs}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["volume_type"]["id"].as_str().unwrap().to_owned()
}

async fn pool(c: &Client<'_>, name: &str) -> Value {
    let r = c.get("scheduler-stats/get_pools?detail=true").await;
    r.body["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap().ends_with(&format!("#{name}")))
        .cloned()
        .unwrap_or_else(|| panic!("no pool {name}: {}", r.body))
}

#[tokio::test]
async fn volumes_go_to_their_zone_and_to_the_pool_with_most_room() {
    let app =
        app_with_backends(&[("a", "nova", 20.0), ("b", "nova", 20.0), ("c", "far", 20.0)]).await;
    let admin = Client::admin(&app).await;
    // Equal room: the first pool by name; then the other, which now has more room.
    let first = admin.available(json!({"size": 100})).await;
    assert_eq!(host_of(&admin, &first).await, "testhost@a#a");
    let second = admin.available(json!({"size": 10})).await;
    assert_eq!(host_of(&admin, &second).await, "testhost@b#b");
    let far = admin
        .available(json!({"size": 1, "availability_zone": "far"}))
        .await;
    assert_eq!(host_of(&admin, &far).await, "testhost@c#c");
    let file = app.volume_dir.parent().unwrap().join("volumes-c");
    assert!(file.join(format!("volume-{far}")).is_file());

    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1, "availability_zone": "moon"}}),
        )
        .await;
    assert_eq!(bad_request(&r), "Availability zone 'moon' is invalid.");

    // Hints: beside one volume, or away from another.
    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1}, "OS-SCH-HNT:scheduler_hints": {"same_host": first}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.body["volume"]["id"].as_str().unwrap().to_owned();
    assert_eq!(host_of(&admin, &id).await, "testhost@a#a");
    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1},
                   "OS-SCH-HNT:scheduler_hints": {"different_host": [second]}}),
        )
        .await;
    let id = r.body["volume"]["id"].as_str().unwrap().to_owned();
    assert_eq!(host_of(&admin, &id).await, "testhost@a#a");

    let p = pool(&admin, "a").await;
    // 100 G, then 1 G beside it, then 1 G away from the volume on b.
    assert_eq!(p["capabilities"]["provisioned_capacity_gb"], 102);
    assert_eq!(p["capabilities"]["volume_backend_name"], "a");
    assert_eq!(p["capabilities"]["max_over_subscription_ratio"], 20.0);
    assert_eq!(app.quotas.recount_usage().await.unwrap(), 0);
}

#[tokio::test]
async fn types_choose_their_backend_and_unmet_specs_leave_an_error_volume() {
    let app = app_with_backends(&[("fast", "nova", 20.0), ("slow", "nova", 20.0)]).await;
    let admin = Client::admin(&app).await;
    create_type(&admin, "fast", json!({"volume_backend_name": "slow"})).await;
    let v = admin
        .available(json!({"size": 1, "volume_type": "fast"}))
        .await;
    assert_eq!(host_of(&admin, &v).await, "testhost@slow#slow");
    create_type(
        &admin,
        "thin",
        json!({"capabilities:thin_provisioning_support": "<is> True"}),
    )
    .await;
    let v = admin
        .available(json!({"size": 1, "volume_type": "thin"}))
        .await;
    assert!(host_of(&admin, &v).await.starts_with("testhost@"));

    create_type(&admin, "nowhere", json!({"volume_backend_name": "tape"})).await;
    let before = admin
        .get(&format!("os-quota-sets/{}?usage=true", admin.project))
        .await;
    let r = admin
        .post(
            "volumes",
            json!({"volume": {"size": 1, "volume_type": "nowhere"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["volume"]["status"], "error");
    let id = r.body["volume"]["id"].as_str().unwrap().to_owned();
    let shown = admin.volume(&id).await;
    assert_eq!(shown["status"], "error");
    assert_eq!(shown[HOST_ATTR], Value::Null);
    let after = admin
        .get(&format!("os-quota-sets/{}?usage=true", admin.project))
        .await;
    // An unplaced volume holds no quota.
    assert_eq!(
        before.body["quota_set"]["volumes"]["in_use"],
        after.body["quota_set"]["volumes"]["in_use"]
    );
    let row = app
        .volumes
        .get(
            &basalt_domain::Caller {
                user_id: "x".into(),
                project_id: admin.project.clone(),
                is_admin: true,
            },
            &id,
        )
        .await
        .unwrap();
    let reason = row.status_reason.unwrap();
    assert!(
        reason.starts_with("No valid backend was found.") && reason.contains("volume_backend_name"),
        "{reason}"
    );
    // It can be deleted at once: nothing was stored.
    assert_eq!(
        admin.delete(&format!("volumes/{id}")).await.status,
        StatusCode::ACCEPTED
    );
    app.run_jobs().await;
    assert_eq!(
        admin.get(&format!("volumes/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.quotas.recount_usage().await.unwrap(), 0);
}

#[tokio::test]
async fn a_volume_that_fits_no_pool_now_is_in_error_and_one_that_never_could_is_refused() {
    let app = app_with_backends(&[("one", "nova", 1.0)]).await;
    let admin = Client::admin(&app).await;
    let p = pool(&admin, "one").await["capabilities"].clone();
    let total = p["total_capacity_gb"].as_f64().unwrap().floor() as i64;
    let free = p["free_capacity_gb"].as_f64().unwrap().floor() as i64;
    assert!(free < total, "the test needs a disk that is not empty");
    let r = admin
        .post("volumes", json!({"volume": {"size": total + 1}}))
        .await;
    assert!(bad_request(&r).contains("can ever hold"), "{}", r.body);
    let r = admin
        .post("volumes", json!({"volume": {"size": free + 1}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["volume"]["status"], "error");
}

#[tokio::test]
async fn disabled_services_take_no_new_volumes() {
    let app = app_with_backends(&[("a", "nova", 20.0), ("b", "nova", 20.0)]).await;
    let admin = Client::admin(&app).await;
    let r = admin
        .put(
            "os-services/disable-log-reason",
            json!({"host": "testhost@a", "binary": "cinder-volume",
                   "disabled_reason": "disk swap"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"host": "testhost@a", "service": "", "binary": "cinder-volume",
               "status": "disabled", "disabled": true, "disabled_reason": "disk swap"})
    );
    for _ in 0..3 {
        let v = admin.available(json!({"size": 1})).await;
        assert_eq!(host_of(&admin, &v).await, "testhost@b#b");
    }
    let r = admin.get("os-services?binary=cinder-volume").await;
    let services = r.body["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    let a = services.iter().find(|s| s["host"] == "testhost@a").unwrap();
    assert_eq!(a["status"], "disabled");
    assert_eq!(a["state"], "up");
    assert_eq!(a["disabled_reason"], "disk swap");
    assert_eq!(a["zone"], "nova");
    assert!(is_cinder_time(&a["updated_at"]));
    assert_eq!(
        keys(a),
        vec![
            "active_backend_id",
            "binary",
            "disabled_reason",
            "frozen",
            "host",
            "replication_status",
            "state",
            "status",
            "updated_at",
            "zone"
        ]
    );

    let r = admin
        .put(
            "os-services/enable",
            json!({"host": "testhost@a", "binary": "cinder-volume"}),
        )
        .await;
    assert_eq!(r.body["status"], "enabled");
    let r = admin
        .put(
            "os-services/enable",
            json!({"host": "nohost", "binary": "cinder-volume"}),
        )
        .await;
    assert_eq!(
        not_found(&r),
        "Service cinder-volume could not be found on host nohost."
    );
    let r = admin
        .put(
            "os-services/reboot",
            json!({"host": "testhost@a", "binary": "cinder-volume"}),
        )
        .await;
    assert_eq!(bad_request(&r), "Invalid input received: Unknown action");

    // Every service disabled: nothing fits, the volume is in error.
    for host in ["testhost@a", "testhost@b"] {
        admin
            .put(
                "os-services/disable",
                json!({"host": host, "binary": "cinder-volume"}),
            )
            .await;
    }
    let r = admin.post("volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(r.body["volume"]["status"], "error");
    let zones = admin.get("os-availability-zone").await;
    assert_eq!(
        zones.body,
        json!({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": false}}]})
    );
}

#[tokio::test]
async fn the_operators_view_has_cinders_shapes() {
    let app = app_with_backends(&[("a", "nova", 20.0), ("b", "east", 20.0)]).await;
    let admin = Client::admin(&app).await;
    let alice = Client::member(&app, "alice", "demo").await;
    let v = alice.available(json!({"size": 2})).await;
    let snap = alice
        .post("snapshots", json!({"snapshot": {"volume_id": v}}))
        .await;
    assert_eq!(snap.status, StatusCode::ACCEPTED);
    app.run_jobs().await;

    let zones = alice.get("os-availability-zone").await;
    assert_eq!(
        zones.body,
        json!({"availabilityZoneInfo": [
            {"zoneName": "east", "zoneState": {"available": true}},
            {"zoneName": "nova", "zoneState": {"available": true}}]})
    );

    let pools = admin.get("scheduler-stats/get_pools").await;
    assert_eq!(
        pools.body,
        json!({"pools": [{"name": "testhost@a#a"}, {"name": "testhost@b#b"}]})
    );
    let p = pool(&admin, "a").await;
    for k in [
        "total_capacity_gb",
        "free_capacity_gb",
        "allocated_capacity_gb",
        "provisioned_capacity_gb",
        "reserved_percentage",
        "max_over_subscription_ratio",
        "thin_provisioning_support",
        "volume_backend_name",
        "storage_protocol",
        "QoS_support",
        "multiattach",
    ] {
        assert!(p["capabilities"].get(k).is_some(), "{k}: {p}");
    }

    let caps = admin.get("capabilities/testhost@a").await;
    assert_eq!(caps.status, StatusCode::OK, "{}", caps.body);
    assert_eq!(
        caps.body["namespace"],
        "OS::Storage::Capabilities::testhost@a"
    );
    assert_eq!(caps.body["volume_backend_name"], "a");
    assert_eq!(caps.body["storage_protocol"], "NBD");
    assert_eq!(caps.body["replication_targets"], json!([]));
    let r = admin.get("capabilities/nohost@x").await;
    assert_eq!(not_found(&r), "Host nohost@x could not be found.");

    let hosts = admin.get("os-hosts").await;
    let names: Vec<&str> = hosts.body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["testhost", "testhost@a", "testhost@b"]);
    let east = admin.get("os-hosts?zone=east").await;
    assert_eq!(east.body["hosts"][0]["service-status"], "available");
    assert_eq!(east.body["hosts"][0]["service-state"], "enabled");

    let usage = admin.get("os-hosts/testhost@a").await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(
        usage.body["host"][0]["resource"],
        json!({"host": "testhost@a", "project": "(total)", "volume_count": "1",
               "total_volume_gb": "2", "snapshot_count": "1", "total_snapshot_gb": "2"})
    );
    assert_eq!(
        usage.body["host"][1]["resource"]["project"],
        alice.project.as_str()
    );
    assert_eq!(
        not_found(&admin.get("os-hosts/nohost").await),
        "Host nohost could not be found."
    );

    let services = admin.get("os-services").await;
    let binaries: Vec<&str> = services.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["binary"].as_str().unwrap())
        .collect();
    assert_eq!(
        binaries,
        vec!["cinder-scheduler", "cinder-volume", "cinder-volume"]
    );

    for r in [
        alice.get("os-services").await,
        alice
            .put(
                "os-services/disable",
                json!({"host": "testhost@a", "binary": "cinder-volume"}),
            )
            .await,
        alice.get("os-hosts").await,
        alice.get("os-hosts/testhost@a").await,
        alice.get("scheduler-stats/get_pools").await,
        alice.get("capabilities/testhost@a").await,
    ] {
        forbidden(&r);
    }
    let after = admin.get("os-services?host=testhost@a").await;
    assert_eq!(after.body["services"][0]["status"], "enabled");
}

#[tokio::test]
async fn concurrent_creates_never_overfill_a_pool() {
    let app = app_with_backends(&[("one", "nova", 1.0)]).await;
    let admin = Client::admin(&app).await;
    let p = pool(&admin, "one").await["capabilities"].clone();
    let total = p["total_capacity_gb"].as_f64().unwrap().floor() as i64;
    let free = p["free_capacity_gb"].as_f64().unwrap().floor() as i64;
    // Each volume takes all the room one may take at once; `fit` of them fill the pool.
    let size = free;
    let fit = total / size;
    let tries = fit + 3;
    let r = admin
        .put(
            &format!("os-quota-sets/{}", admin.project),
            json!({"quota_set": {"volumes": -1, "gigabytes": -1}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let creates = (0..tries).map(|_| admin.post("volumes", json!({"volume": {"size": size}})));
    // All at once on this task: each create's transaction races the others'.
    let results = futures_util::future::join_all(creates).await;
    let placed = results
        .iter()
        .filter(|r| r.body["volume"]["status"] == "creating")
        .count() as i64;
    let errors = results
        .iter()
        .filter(|r| r.body["volume"]["status"] == "error")
        .count() as i64;
    assert_eq!(
        (placed, errors),
        (fit, tries - fit),
        "{total} G total, {size} G each"
    );
    let p = pool(&admin, "one").await;
    assert_eq!(p["capabilities"]["provisioned_capacity_gb"], fit * size);
}

//! Quota claims, checked inside the caller's transaction against the usage counters that
//! triggers keep beside the volume and snapshot rows (migrations 0003 and 0004).

use basalt_domain::ports::{QuotaClaim, StoreError};
use basalt_domain::QuotaExceeded;
use sqlx::SqliteConnection;

use crate::error::store_err_domain as err;

/// GiB held by one volume row: an extension in progress counts at its target size.
pub(crate) const HELD_GIB: &str = "MAX(size, COALESCE(new_size, 0))";

/// Gigabytes are volumes' and snapshots' GiB together, as Cinder counts them.
pub(crate) async fn check(conn: &mut SqliteConnection, c: &QuotaClaim) -> Result<(), StoreError> {
    let (all_v, all_s, all_g, ty_v, ty_s, ty_g): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(volumes), 0), COALESCE(SUM(snapshots), 0), \
             COALESCE(SUM(volume_gib + snapshot_gib), 0), \
             COALESCE(SUM(volumes) FILTER (WHERE volume_type_id = ?1), 0), \
             COALESCE(SUM(snapshots) FILTER (WHERE volume_type_id = ?1), 0), \
             COALESCE(SUM(volume_gib + snapshot_gib) FILTER (WHERE volume_type_id = ?1), 0) \
             FROM quota_usage WHERE project_id = ?2",
    )
    .bind(&c.volume_type_id)
    .bind(&c.project_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(err)?;
    for ((resource, delta, limit), in_use) in [
        (&c.volumes, all_v),
        (&c.snapshots, all_s),
        (&c.gigabytes, all_g),
        (&c.type_volumes, ty_v),
        (&c.type_snapshots, ty_s),
        (&c.type_gigabytes, ty_g),
    ] {
        if *limit >= 0 && *delta > 0 && in_use + delta > *limit {
            return Err(StoreError::QuotaExceeded(QuotaExceeded {
                resource: resource.clone(),
                limit: *limit,
                in_use,
                requested: *delta,
            }));
        }
    }
    if let Some(p) = &c.pool {
        let held: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT provisioned_gib FROM pool_usage WHERE host = ?), 0)",
        )
        .bind(&p.pool)
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
        if held + p.delta_gib > p.limit_gib {
            return Err(StoreError::NoCapacity(p.pool.clone()));
        }
    }
    Ok(())
}

/// Usage per (project, type) counted from the rows themselves, in `quota_usage`'s columns.
fn truth() -> String {
    format!(
        "SELECT project_id, volume_type_id, SUM(volumes) AS volumes, \
           SUM(volume_gib) AS volume_gib, SUM(snapshots) AS snapshots, \
           SUM(snapshot_gib) AS snapshot_gib \
         FROM (\
           SELECT project_id, volume_type_id, 1 AS volumes, {HELD_GIB} AS volume_gib, \
             0 AS snapshots, 0 AS snapshot_gib \
           FROM volumes WHERE use_quota \
           UNION ALL \
           SELECT project_id, volume_type_id, 0, 0, 1, volume_size \
           FROM snapshots WHERE use_quota) r \
         GROUP BY project_id, volume_type_id"
    )
}

/// Recounts the usage counters from the volume and snapshot rows and repairs any that
/// disagree; returns how many (project, type) counters were wrong. The triggers make drift
/// impossible short of editing the database by hand: this is the check that says so.
pub(crate) async fn recount(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let truth = truth();
    // Counters that are wrong or missing, and counters with nothing behind them.
    let drift = format!(
        "SELECT COUNT(*) FROM (\
           SELECT t.project_id FROM ({truth}) t LEFT JOIN quota_usage u \
             ON u.project_id = t.project_id AND u.volume_type_id = t.volume_type_id \
           WHERE u.volumes IS NOT t.volumes OR u.volume_gib IS NOT t.volume_gib \
             OR u.snapshots IS NOT t.snapshots OR u.snapshot_gib IS NOT t.snapshot_gib \
           UNION ALL \
           SELECT u.project_id FROM quota_usage u LEFT JOIN ({truth}) t \
             ON u.project_id = t.project_id AND u.volume_type_id = t.volume_type_id \
           WHERE t.project_id IS NULL AND (u.volumes <> 0 OR u.volume_gib <> 0 \
             OR u.snapshots <> 0 OR u.snapshot_gib <> 0))"
    );
    let (wrong,): (i64,) = sqlx::query_as(&drift)
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
    if wrong > 0 {
        sqlx::query("DELETE FROM quota_usage")
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        sqlx::query(&format!(
            "INSERT INTO quota_usage \
             (project_id, volume_type_id, volumes, volume_gib, snapshots, snapshot_gib) {truth}"
        ))
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(wrong as u64)
}

#[cfg(test)]
mod tests {
    use basalt_domain::ports::{QuotaClaim, StoreError};
    use sqlx::{Connection, SqliteConnection};

    async fn db() -> SqliteConnection {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO volume_types (id, name, created_at) VALUES ('t1', 'a', 0), ('t2', 'b', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn
    }

    async fn add(conn: &mut SqliteConnection, id: &str, project: &str, ty: &str, size: i64) {
        sqlx::query(
            "INSERT INTO volumes (id, project_id, user_id, size, status, attach_status, \
             availability_zone, volume_type_id, created_at) \
             VALUES (?, ?, 'u', ?, 'creating', 'detached', 'nova', ?, 0)",
        )
        .bind(id)
        .bind(project)
        .bind(size)
        .bind(ty)
        .execute(&mut *conn)
        .await
        .unwrap();
    }

    async fn exec(conn: &mut SqliteConnection, sql: &str) {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }

    async fn counters(conn: &mut SqliteConnection) -> Vec<(String, String, i64, i64)> {
        sqlx::query_as(
            "SELECT project_id, volume_type_id, volumes, volume_gib FROM quota_usage \
             WHERE volumes <> 0 OR volume_gib <> 0 ORDER BY 1, 2",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    }

    fn row(p: &str, t: &str, v: i64, g: i64) -> (String, String, i64, i64) {
        (p.into(), t.into(), v, g)
    }

    async fn snap(conn: &mut SqliteConnection, id: &str, project: &str, ty: &str, size: i64) {
        sqlx::query(
            "INSERT INTO snapshots (id, project_id, user_id, volume_id, volume_size, status, \
             volume_type_id, created_at) VALUES (?, ?, 'u', 'some-volume', ?, 'creating', ?, 0)",
        )
        .bind(id)
        .bind(project)
        .bind(size)
        .bind(ty)
        .execute(&mut *conn)
        .await
        .unwrap();
    }

    /// The snapshot counters: (project, type, snapshots, snapshot GiB).
    async fn snapshot_counters(conn: &mut SqliteConnection) -> Vec<(String, String, i64, i64)> {
        sqlx::query_as(
            "SELECT project_id, volume_type_id, snapshots, snapshot_gib FROM quota_usage \
             WHERE snapshots <> 0 OR snapshot_gib <> 0 ORDER BY 1, 2",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    }

    fn claim(volumes: i64, snapshots: i64, gib: i64, limit: i64) -> QuotaClaim {
        let r = |name: &str, delta: i64| (name.to_string(), delta, limit);
        QuotaClaim {
            project_id: "p".into(),
            volume_type_id: "t1".into(),
            volumes: r("volumes", volumes),
            snapshots: r("snapshots", snapshots),
            gigabytes: r("gigabytes", gib),
            type_volumes: r("volumes_a", volumes),
            type_snapshots: r("snapshots_a", snapshots),
            type_gigabytes: r("gigabytes_a", gib),
            pool: None,
        }
    }

    async fn refused(conn: &mut SqliteConnection, c: &QuotaClaim) -> Option<(String, i64)> {
        match super::check(conn, c).await {
            Ok(()) => None,
            Err(StoreError::QuotaExceeded(q)) => Some((q.resource, q.in_use)),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn triggers_follow_every_change_that_moves_usage() {
        let mut c = db().await;
        add(&mut c, "a", "p", "t1", 2).await;
        add(&mut c, "b", "p", "t1", 3).await;
        add(&mut c, "c", "p", "t2", 1).await;
        add(&mut c, "d", "q", "t1", 7).await;
        assert_eq!(
            counters(&mut c).await,
            [
                row("p", "t1", 2, 5),
                row("p", "t2", 1, 1),
                row("q", "t1", 1, 7)
            ]
        );
        // An extension claims its target size, gives it back when it fails, keeps it on success.
        exec(&mut c, "UPDATE volumes SET new_size = 10 WHERE id = 'a'").await;
        assert_eq!(counters(&mut c).await[0], row("p", "t1", 2, 13));
        exec(&mut c, "UPDATE volumes SET new_size = NULL WHERE id = 'a'").await;
        assert_eq!(counters(&mut c).await[0], row("p", "t1", 2, 5));
        exec(
            &mut c,
            "UPDATE volumes SET size = 10, new_size = NULL WHERE id = 'a'",
        )
        .await;
        assert_eq!(counters(&mut c).await[0], row("p", "t1", 2, 13));
        // A failed create stops counting; a transfer and a retype move the usage.
        exec(
            &mut c,
            "UPDATE volumes SET use_quota = FALSE WHERE id = 'b'",
        )
        .await;
        exec(&mut c, "UPDATE volumes SET project_id = 'q' WHERE id = 'c'").await;
        exec(
            &mut c,
            "UPDATE volumes SET volume_type_id = 't2' WHERE id = 'd'",
        )
        .await;
        // Status changes alone touch nothing; removing the uncounted row frees nothing.
        exec(&mut c, "UPDATE volumes SET status = 'available'").await;
        exec(&mut c, "DELETE FROM volumes WHERE id = 'b'").await;
        assert_eq!(
            counters(&mut c).await,
            [row("p", "t1", 1, 10), row("q", "t2", 2, 8)]
        );
        exec(&mut c, "DELETE FROM volumes").await;
        assert_eq!(counters(&mut c).await, []);
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_recount_finds_and_repairs_drift() {
        let mut c = db().await;
        add(&mut c, "a", "p", "t1", 2).await;
        add(&mut c, "b", "p", "t2", 4).await;
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
        let before = counters(&mut c).await;
        // Hand edits: one counter wrong, one missing, one with nothing behind it.
        exec(
            &mut c,
            "UPDATE quota_usage SET volume_gib = 99 WHERE volume_type_id = 't1'",
        )
        .await;
        exec(
            &mut c,
            "DELETE FROM quota_usage WHERE volume_type_id = 't2'",
        )
        .await;
        exec(
            &mut c,
            "INSERT INTO quota_usage (project_id, volume_type_id, volumes, volume_gib) \
             VALUES ('ghost', 't1', 3, 3)",
        )
        .await;
        assert_eq!(super::recount(&mut c).await.unwrap(), 3);
        assert_eq!(counters(&mut c).await, before);
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn snapshot_triggers_follow_every_change_that_moves_usage() {
        let mut c = db().await;
        add(&mut c, "v", "p", "t1", 2).await;
        snap(&mut c, "a", "p", "t1", 2).await;
        snap(&mut c, "b", "p", "t1", 3).await;
        snap(&mut c, "c", "p", "t2", 1).await;
        snap(&mut c, "d", "q", "t1", 7).await;
        assert_eq!(
            snapshot_counters(&mut c).await,
            [
                row("p", "t1", 2, 5),
                row("p", "t2", 1, 1),
                row("q", "t1", 1, 7)
            ]
        );
        // Volumes keep their own columns beside the snapshots'.
        assert_eq!(counters(&mut c).await, [row("p", "t1", 1, 2)]);
        // A failed create stops counting; a transfer, a retype and a resize move the usage.
        exec(
            &mut c,
            "UPDATE snapshots SET use_quota = FALSE WHERE id = 'b'",
        )
        .await;
        exec(
            &mut c,
            "UPDATE snapshots SET project_id = 'q' WHERE id = 'c'",
        )
        .await;
        exec(
            &mut c,
            "UPDATE snapshots SET volume_type_id = 't2' WHERE id = 'd'",
        )
        .await;
        exec(
            &mut c,
            "UPDATE snapshots SET volume_size = 4 WHERE id = 'a'",
        )
        .await;
        // Status changes alone touch nothing; removing the uncounted row frees nothing.
        exec(&mut c, "UPDATE snapshots SET status = 'available'").await;
        exec(&mut c, "DELETE FROM snapshots WHERE id = 'b'").await;
        assert_eq!(
            snapshot_counters(&mut c).await,
            [row("p", "t1", 1, 4), row("q", "t2", 2, 8)]
        );
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
        exec(&mut c, "DELETE FROM snapshots").await;
        assert_eq!(snapshot_counters(&mut c).await, []);
        assert_eq!(counters(&mut c).await, [row("p", "t1", 1, 2)]);
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn claims_count_snapshots_and_their_gigabytes() {
        let mut c = db().await;
        add(&mut c, "v", "p", "t1", 3).await;
        snap(&mut c, "a", "p", "t1", 3).await;
        snap(&mut c, "b", "p", "t2", 2).await;
        // Another project's usage does not count.
        snap(&mut c, "x", "q", "t1", 50).await;
        // Gigabytes are volumes' and snapshots' together: 3 + 3 + 2 in use.
        assert_eq!(refused(&mut c, &claim(0, 1, 3, 11)).await, None);
        assert_eq!(
            refused(&mut c, &claim(0, 1, 3, 10)).await,
            Some(("gigabytes".into(), 8))
        );
        // Two snapshots in the project, one of type t1.
        assert_eq!(
            refused(&mut c, &claim(0, 1, 0, 2)).await,
            Some(("snapshots".into(), 2))
        );
        let mut per_type = claim(0, 1, 3, 100);
        per_type.type_snapshots.2 = 1;
        assert_eq!(
            refused(&mut c, &per_type).await,
            Some(("snapshots_a".into(), 1))
        );
        let mut per_type = claim(0, 1, 1, 100);
        per_type.type_gigabytes.2 = 6;
        assert_eq!(
            refused(&mut c, &per_type).await,
            Some(("gigabytes_a".into(), 6))
        );
        // A claim that asks for nothing more is never refused, whatever the usage.
        assert_eq!(refused(&mut c, &claim(0, 0, 0, 0)).await, None);
    }

    #[tokio::test]
    async fn a_recount_finds_and_repairs_snapshot_drift() {
        let mut c = db().await;
        add(&mut c, "v", "p", "t1", 2).await;
        snap(&mut c, "a", "p", "t1", 2).await;
        snap(&mut c, "b", "p", "t2", 4).await;
        snap(&mut c, "failed", "p", "t2", 9).await;
        exec(
            &mut c,
            "UPDATE snapshots SET use_quota = FALSE WHERE id = 'failed'",
        )
        .await;
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
        let volumes = counters(&mut c).await;
        let snapshots = snapshot_counters(&mut c).await;
        // Hand edits: one snapshot count wrong, one GiB total wrong, one counter with only
        // snapshots behind it missing, one with nothing behind it.
        exec(
            &mut c,
            "UPDATE quota_usage SET snapshots = 5 WHERE volume_type_id = 't1'",
        )
        .await;
        exec(
            &mut c,
            "DELETE FROM quota_usage WHERE volume_type_id = 't2'",
        )
        .await;
        exec(
            &mut c,
            "INSERT INTO quota_usage (project_id, volume_type_id, snapshot_gib) \
             VALUES ('ghost', 't1', 3)",
        )
        .await;
        assert_eq!(super::recount(&mut c).await.unwrap(), 3);
        assert_eq!(counters(&mut c).await, volumes);
        assert_eq!(snapshot_counters(&mut c).await, snapshots);
        exec(
            &mut c,
            "UPDATE quota_usage SET snapshot_gib = 0 WHERE volume_type_id = 't1'",
        )
        .await;
        assert_eq!(super::recount(&mut c).await.unwrap(), 1);
        assert_eq!(snapshot_counters(&mut c).await, snapshots);
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
    }
}

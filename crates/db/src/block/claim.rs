//! Quota claims, checked inside the caller's transaction against the usage counters that
//! triggers keep beside the volume rows (migration 0003).

use basalt_domain::ports::{QuotaClaim, StoreError};
use basalt_domain::QuotaExceeded;
use sqlx::SqliteConnection;

use crate::error::store_err_domain as err;

/// GiB held by one volume row: an extension in progress counts at its target size.
pub(crate) const HELD_GIB: &str = "MAX(size, COALESCE(new_size, 0))";

pub(crate) async fn check(conn: &mut SqliteConnection, c: &QuotaClaim) -> Result<(), StoreError> {
    let (all_v, all_g, ty_v, ty_g): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(volumes), 0), COALESCE(SUM(volume_gib), 0), \
         COALESCE(SUM(volumes) FILTER (WHERE volume_type_id = ?1), 0), \
         COALESCE(SUM(volume_gib) FILTER (WHERE volume_type_id = ?1), 0) \
         FROM quota_usage WHERE project_id = ?2",
    )
    .bind(&c.volume_type_id)
    .bind(&c.project_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(err)?;
    for ((resource, delta, limit), in_use) in [
        (&c.volumes, all_v),
        (&c.gigabytes, all_g),
        (&c.type_volumes, ty_v),
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
    Ok(())
}

/// Recounts the usage counters from the volume rows and repairs any that disagree; returns
/// how many (project, type) counters were wrong. The triggers make drift impossible short of
/// editing the database by hand: this is the check that says so.
pub(crate) async fn recount(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let truth = format!(
        "SELECT project_id, volume_type_id, COUNT(*) AS volumes, SUM({HELD_GIB}) AS volume_gib \
         FROM volumes WHERE use_quota GROUP BY project_id, volume_type_id"
    );
    // Counters that are wrong or missing, and counters with nothing behind them.
    let drift = format!(
        "SELECT COUNT(*) FROM (\
           SELECT t.project_id FROM ({truth}) t LEFT JOIN quota_usage u \
             ON u.project_id = t.project_id AND u.volume_type_id = t.volume_type_id \
           WHERE u.volumes IS NOT t.volumes OR u.volume_gib IS NOT t.volume_gib \
           UNION ALL \
           SELECT u.project_id FROM quota_usage u LEFT JOIN ({truth}) t \
             ON u.project_id = t.project_id AND u.volume_type_id = t.volume_type_id \
           WHERE t.project_id IS NULL AND (u.volumes <> 0 OR u.volume_gib <> 0))"
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
            "INSERT INTO quota_usage (project_id, volume_type_id, volumes, volume_gib) {truth}"
        ))
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(wrong as u64)
}

#[cfg(test)]
mod tests {
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
            "INSERT INTO quota_usage VALUES ('ghost', 't1', 3, 3)",
        )
        .await;
        assert_eq!(super::recount(&mut c).await.unwrap(), 3);
        assert_eq!(counters(&mut c).await, before);
        assert_eq!(super::recount(&mut c).await.unwrap(), 0);
    }
}

//! Backup quota: the claim checked inside the transaction that inserts the backup, against
//! the counters triggers keep beside the rows (migration 0009), and their recount.

use basalt_domain::backup::BackupClaim;
use basalt_domain::ports::StoreError;
use basalt_domain::QuotaExceeded;
use sqlx::SqliteConnection;

use crate::error::store_err_domain as err;

/// `(backups, backup GiB)` of a project.
pub(crate) async fn usage(
    conn: &mut SqliteConnection,
    project_id: &str,
) -> Result<(i64, i64), StoreError> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT backups, backup_gib FROM backup_usage WHERE project_id = ?")
            .bind(project_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)?;
    Ok(row.unwrap_or((0, 0)))
}

pub(crate) async fn check(conn: &mut SqliteConnection, c: &BackupClaim) -> Result<(), StoreError> {
    let (count, gib) = usage(conn, &c.project_id).await?;
    for ((resource, delta, limit), in_use) in [(&c.backups, count), (&c.backup_gigabytes, gib)] {
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

const TRUTH: &str = "SELECT project_id, COUNT(*) AS backups, SUM(size) AS backup_gib \
                     FROM backups GROUP BY project_id";

/// Recounts the backup counters from the rows and repairs them; how many were wrong.
pub(crate) async fn recount(conn: &mut SqliteConnection) -> Result<u64, StoreError> {
    let drift = format!(
        "SELECT COUNT(*) FROM (\
           SELECT t.project_id FROM ({TRUTH}) t LEFT JOIN backup_usage u \
             ON u.project_id = t.project_id \
           WHERE u.backups IS NOT t.backups OR u.backup_gib IS NOT t.backup_gib \
           UNION ALL \
           SELECT u.project_id FROM backup_usage u LEFT JOIN ({TRUTH}) t \
             ON u.project_id = t.project_id \
           WHERE t.project_id IS NULL AND (u.backups <> 0 OR u.backup_gib <> 0))"
    );
    let (wrong,): (i64,) = sqlx::query_as(&drift)
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
    if wrong > 0 {
        sqlx::query("DELETE FROM backup_usage")
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        sqlx::query(&format!(
            "INSERT INTO backup_usage (project_id, backups, backup_gib) {TRUTH}"
        ))
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(wrong as u64)
}

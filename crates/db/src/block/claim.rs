//! Quota claims, checked inside the caller's transaction against usage counted from the rows.

use basalt_domain::ports::{QuotaClaim, StoreError};
use basalt_domain::QuotaExceeded;
use sqlx::SqliteConnection;

use crate::error::store_err_domain as err;

/// GiB held by volumes: an extension in progress counts at its target size.
pub(crate) const HELD_GIB: &str =
    "COALESCE(SUM(CASE WHEN new_size > size THEN new_size ELSE size END), 0)";

pub(crate) async fn check(conn: &mut SqliteConnection, c: &QuotaClaim) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT COUNT(*), {HELD_GIB} FROM volumes WHERE project_id = ? AND use_quota \
         AND (? IS NULL OR volume_type_id = ?)"
    );
    let (all_v, all_g): (i64, i64) = sqlx::query_as(&sql)
        .bind(&c.project_id)
        .bind(None::<String>)
        .bind(None::<String>)
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
    let (ty_v, ty_g): (i64, i64) = sqlx::query_as(&sql)
        .bind(&c.project_id)
        .bind(&c.volume_type_id)
        .bind(&c.volume_type_id)
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

//! [`JobStore`] over sqlx: leasing is one `UPDATE ... RETURNING`, so two workers can never
//! take the same job.

use async_trait::async_trait;
use basalt_domain::jobs::{Job, JobKind};
use basalt_domain::ports::{JobStore, StoreError};
use chrono::{DateTime, Utc};

use super::{from_micros, micros, SqlBlockStore};
use crate::error::store_err_domain as err;

type JobRow = (String, String, String, i64, i64);

fn job(r: JobRow) -> Result<Job, StoreError> {
    let kind: JobKind =
        serde_json::from_str(&r.2).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(Job {
        id: r.0,
        subject_id: r.1,
        kind,
        attempts: u32::try_from(r.3).unwrap_or(u32::MAX),
        run_after: from_micros(r.4),
    })
}

#[async_trait]
impl JobStore for SqlBlockStore {
    async fn lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(
            "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE id = \
             (SELECT id FROM jobs WHERE lease_until IS NULL AND run_after <= ? \
              ORDER BY run_after, created_at LIMIT 1) \
             RETURNING id, subject_id, payload, attempts, run_after",
        )
        .bind(owner)
        .bind(micros(until))
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(job).transpose()
    }

    async fn retry_later(
        &self,
        job_id: &str,
        attempts: u32,
        run_after: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, attempts = ?, \
             run_after = ?, last_error = ? WHERE id = ?",
        )
        .bind(i64::from(attempts))
        .bind(micros(run_after))
        .bind(error)
        .bind(job_id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn renew_lease(
        &self,
        job_id: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? \
             AND lease_until IS NOT NULL",
        )
        .bind(micros(until))
        .bind(job_id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_until IS NOT NULL AND lease_until < ?",
        )
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn release_all(&self) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_until IS NOT NULL",
        )
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn job_for(&self, subject_id: &str) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT id, subject_id, payload, attempts, run_after FROM jobs WHERE subject_id = ? \
             ORDER BY created_at LIMIT 1",
        )
        .bind(subject_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(job).transpose()
    }

    async fn finish(&self, job_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(job_id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_renewed_lease_outlives_its_first_expiry_and_only_its_owner_renews_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Database::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let store = db.block_store();
        let job = Job::new("subject", JobKind::DeleteBackup);
        let mut conn = store.pool.acquire().await.unwrap();
        super::super::volumes::insert_job(&mut conn, &job)
            .await
            .unwrap();
        drop(conn);
        let now = Utc::now();
        let secs = chrono::Duration::seconds;
        let leased = store.lease("me", now, now + secs(1)).await.unwrap();
        assert_eq!(leased.map(|j| j.id), Some(job.id.clone()));
        assert!(!store
            .renew_lease(&job.id, "someone-else", now + secs(10))
            .await
            .unwrap());
        assert!(store
            .renew_lease(&job.id, "me", now + secs(10))
            .await
            .unwrap());
        // Past the first expiry the job is still held, so nobody else runs it.
        assert_eq!(store.release_expired(now + secs(5)).await.unwrap(), 0);
        assert!(store
            .lease("other", now + secs(5), now + secs(6))
            .await
            .unwrap()
            .is_none());
        // Once it has really expired it is released, and the old owner cannot renew it.
        assert_eq!(store.release_expired(now + secs(11)).await.unwrap(), 1);
        assert!(!store
            .renew_lease(&job.id, "me", now + secs(20))
            .await
            .unwrap());
    }
}

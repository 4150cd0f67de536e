//! Durable jobs (E3): everything that must eventually happen outside a request (query-back,
//! notification retries, summaries, day-end) is a row here. A worker claims due jobs with a
//! lease; a crashed worker's lease runs out and another worker takes the job over. Completing
//! or rescheduling checks the lease owner, so a worker whose lease was taken over cannot
//! overwrite the new owner's result.

use sqlx::Row;

use crate::db::{Db, Engine, StoreError, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("job status {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub payload: String,
    pub status: JobStatus,
    pub run_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

fn job(row: &sqlx::any::AnyRow) -> Result<Job, StoreError> {
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        key: row.try_get("job_key")?,
        payload: row.try_get("payload")?,
        status: JobStatus::parse(&row.try_get::<String, _>("status")?)?,
        run_at: row.try_get("run_at")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

const COLUMNS: &str = "id, kind, job_key, payload, status, run_at, attempts, last_error";

/// Schedules a job inside the caller's transaction. Idempotent by (kind, key): scheduling the
/// same job again returns false and changes nothing.
pub async fn enqueue(
    tx: &mut Tx,
    kind: &str,
    key: &str,
    payload: &str,
    run_at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO jobs (kind, job_key, payload, status, run_at, attempts, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, 0, $4, $4) ON CONFLICT (kind, job_key) DO NOTHING",
    )
    .bind(kind)
    .bind(key)
    .bind(payload)
    .bind(run_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims up to `limit` due jobs of `kind` for `owner` until `now + lease_ms`: pending jobs whose
/// time has come, and running jobs whose lease has run out (their worker died).
pub async fn claim(
    db: &Db,
    kind: &str,
    owner: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    // PostgreSQL: SKIP LOCKED lets concurrent claimers take disjoint rows without waiting.
    // SQLite: the single writer connection already serializes claimers.
    let lock = match db.engine() {
        Engine::Postgres => "FOR UPDATE SKIP LOCKED",
        Engine::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2,
                attempts = attempts + 1, updated_at = $3
         WHERE id IN (SELECT id FROM jobs WHERE kind = $4 AND (
                   (status = 'pending' AND run_at <= $3)
                OR (status = 'running' AND lease_until < $3))
               ORDER BY run_at, id LIMIT $5 {lock})
         RETURNING {COLUMNS}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(kind)
        .bind(limit)
        .fetch_all(db.writer())
        .await?;
    let mut jobs = rows.iter().map(job).collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

/// Ends a claimed job. Returns false when the lease is no longer ours (nothing is changed).
pub async fn finish(
    db: &Db,
    id: i64,
    owner: &str,
    outcome: JobStatus,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET status = $1, last_error = $2, lease_owner = NULL, lease_until = NULL,
                updated_at = $3
         WHERE id = $4 AND status = 'running' AND lease_owner = $5",
    )
    .bind(outcome.as_str())
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a claimed job back to wait until `run_at` (a retry). False when the lease is not ours.
pub async fn reschedule(
    db: &Db,
    id: i64,
    owner: &str,
    run_at: i64,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'pending', run_at = $1, last_error = $2, lease_owner = NULL,
                lease_until = NULL, updated_at = $3
         WHERE id = $4 AND status = 'running' AND lease_owner = $5",
    )
    .bind(run_at)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(db: &Db, kind: &str, key: &str) -> Result<Option<Job>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE kind = $1 AND job_key = $2"
    )))
    .bind(kind)
    .bind(key)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(job).transpose()
}

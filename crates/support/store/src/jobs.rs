//! Durable jobs (E3): everything that must eventually happen outside a request (query-back,
//! notification retries, summaries, day-end) is a row here. A worker claims due jobs with a
//! lease; a crashed worker's lease runs out and another worker takes the job over. Completing
//! or rescheduling checks the lease owner, so a worker whose lease was taken over cannot
//! overwrite the new owner's result.

use paycore_kernel::named;
use paycore_kernel::state::StateMachine;
use sqlx::Row;

use crate::db::{Db, Engine, StoreError};
use crate::state::{parse_stored, Stored, Table, Transition, TransitionError, Value};
use crate::unit::{Columns, Conn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    Failed,
}
named!(JobStatus { Pending => "pending", Running => "running", Done => "done", Failed => "failed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// A worker took it with a lease.
    Claim,
    /// Its worker's lease ran out (the worker died): another worker takes it over.
    Reclaim,
    Finish,
    Fail,
    /// Put back to wait for its next run.
    Retry,
}
named!(JobEvent { Claim => "claim", Reclaim => "reclaim", Finish => "finish", Fail => "fail",
    Retry => "retry" });

impl StateMachine for JobStatus {
    type Event = JobEvent;
    const INITIAL: &'static [Self] = &[JobStatus::Pending];
    const TRANSITIONS: &'static [(Self, JobEvent, Self)] = &[
        (JobStatus::Pending, JobEvent::Claim, JobStatus::Running),
        (JobStatus::Running, JobEvent::Reclaim, JobStatus::Running),
        (JobStatus::Running, JobEvent::Finish, JobStatus::Done),
        (JobStatus::Running, JobEvent::Fail, JobStatus::Failed),
        (JobStatus::Running, JobEvent::Retry, JobStatus::Pending),
    ];
}

impl Stored for JobStatus {
    const TABLE: Table = Table {
        machine: "job",
        table: "jobs",
        key: "id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "job_history",
        history_key: "job_id",
    };
}

impl From<TransitionError> for StoreError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => s,
            other => StoreError::Transition(other.to_string()),
        }
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

/// A job from a row of [`COLUMNS`] (in that order).
fn job(row: &impl Columns) -> Result<Job, StoreError> {
    Ok(Job {
        id: row.int_at(0)?,
        kind: row.text_at(1)?.to_owned(),
        key: row.text_at(2)?.to_owned(),
        payload: row.text_at(3)?.to_owned(),
        status: parse_stored("job status", row.text_at(4)?)?,
        run_at: row.int_at(5)?,
        attempts: row.int_at(6)?,
        last_error: row.opt_text_at(7)?.map(str::to_owned),
    })
}

const COLUMNS: &str = "id, kind, job_key, payload, status, run_at, attempts, last_error";
/// [`COLUMNS`] after the key, which `apply_many` returns first.
const RETURNING: &str = "kind, job_key, payload, status, run_at, attempts, last_error";

/// Schedules a job inside the caller's transaction. Idempotent by (kind, key): scheduling the
/// same job again returns false and changes nothing.
pub async fn enqueue(
    tx: &mut dyn Conn,
    kind: &str,
    key: &str,
    payload: &str,
    run_at: i64,
) -> Result<bool, StoreError> {
    let done = tx
        .execute(
            "INSERT INTO jobs (kind, job_key, payload, status, run_at, attempts, created_at,
                updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $5, $5) ON CONFLICT (kind, job_key) DO NOTHING",
            &[
                kind.into(),
                key.into(),
                payload.into(),
                JobStatus::Pending.as_str().into(),
                run_at.into(),
            ],
        )
        .await?;
    Ok(done == 1)
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
    let mut tx = db.begin().await?;
    let mut jobs = Vec::new();
    for (from, event, time_col) in [
        (JobStatus::Pending, JobEvent::Claim, "run_at"),
        (JobStatus::Running, JobEvent::Reclaim, "lease_until"),
    ] {
        let room = limit - jobs.len() as i64;
        if room <= 0 {
            break;
        }
        let due = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM jobs WHERE kind = $1 AND status = $2 AND {time_col} <= $3
             ORDER BY run_at, id LIMIT $4 {lock}"
        )))
        .bind(kind)
        .bind(from.as_str())
        .bind(if time_col == "run_at" { now } else { now - 1 })
        .bind(room)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("id").map(Value::from))
        .collect::<Result<Vec<_>, _>>()?;
        let rows = Transition::new(from, event, now)
            .by(owner)
            .set("lease_owner", owner)
            .set("lease_until", now + lease_ms)
            .set_raw("attempts = attempts + 1")
            .apply_many(&mut tx, &due, RETURNING)
            .await?;
        for r in &rows {
            jobs.push(job(r)?);
        }
    }
    tx.commit().await?;
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

/// Ends a claimed job (`Done` or `Failed`). Returns false when the lease is no longer ours
/// (nothing is changed).
pub async fn finish(
    db: &Db,
    id: i64,
    owner: &str,
    outcome: JobStatus,
    error: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let event = match outcome {
        JobStatus::Done => JobEvent::Finish,
        JobStatus::Failed => JobEvent::Fail,
        other => {
            return Err(StoreError::Transition(format!(
                "a job cannot finish as {}",
                other.as_str()
            )))
        }
    };
    settle(db, id, owner, event, error, None, now).await
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
    settle(db, id, owner, JobEvent::Retry, error, Some(run_at), now).await
}

async fn settle(
    db: &Db,
    id: i64,
    owner: &str,
    event: JobEvent,
    error: Option<&str>,
    run_at: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let mut t = Transition::new(JobStatus::Running, event, now)
        .by(owner)
        .reason(error)
        .set("last_error", error)
        .set("lease_owner", None::<String>)
        .set("lease_until", None::<i64>)
        .guard("lease_owner", owner);
    if let Some(at) = run_at {
        t = t.set("run_at", at);
    }
    match t.apply(&mut tx, id).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(true)
        }
        Err(TransitionError::Lost { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
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

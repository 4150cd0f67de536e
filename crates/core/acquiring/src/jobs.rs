//! Acquiring's jobs (E3): query-back of attempts whose result is not known (补单), refund and
//! cancel query-back, order expiry, and sending automatic refunds. They are rows in the job
//! table, claimed with a lease, so a crash only delays them and several nodes never run one
//! twice. An unknown kind is an error, never a default action.

use std::time::Duration;

use paycore_kernel::named;
use paycore_store::jobs::{self, Job, JobStatus};

use crate::error::{stored, AcquiringError};
use crate::machines::PaymentStatus;
use crate::model::ResultSource;
use crate::Acquiring;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Query a payment attempt whose result is not known.
    Query,
    /// Query (or send again) a refund or cancel attempt.
    RefundQuery,
    /// Close a payment still unpaid at its expiry.
    Expire,
    /// Send an automatic refund to the channel.
    AutoRefund,
}
named!(JobKind { Query => "acquiring.query", RefundQuery => "acquiring.refund_query",
    Expire => "acquiring.expire", AutoRefund => "acquiring.auto_refund" });

const LEASE_MS: i64 = 60_000;

impl Acquiring {
    /// One round of every acquiring job that is due. Returns how many jobs ran.
    pub async fn run_due_jobs(&self, owner: &str, limit: i64) -> Result<usize, AcquiringError> {
        self.run_due_jobs_until(owner, limit, &|| false).await
    }

    /// A round that stops between jobs once `stopping` says so: the job running then
    /// finishes, the ones claimed after it are handed back, due as they were.
    async fn run_due_jobs_until(
        &self,
        owner: &str,
        limit: i64,
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> Result<usize, AcquiringError> {
        let mut ran = 0;
        for kind in [
            JobKind::AutoRefund,
            JobKind::Query,
            JobKind::RefundQuery,
            JobKind::Expire,
        ] {
            if stopping() {
                break;
            }
            let claimed =
                jobs::claim(&self.db, kind.as_str(), owner, self.now(), LEASE_MS, limit).await?;
            for job in claimed {
                if stopping() {
                    jobs::reschedule(&self.db, job.id, owner, job.run_at, None, self.now()).await?;
                    continue;
                }
                ran += 1;
                let outcome = self.run_job(&job).await;
                self.settle_job(&job, owner, outcome).await?;
            }
        }
        Ok(ran)
    }

    async fn run_job(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        match stored::<JobKind>("job kind", &job.kind)? {
            JobKind::Query => self.query_back(job).await,
            JobKind::RefundQuery => self.refund_query_back(job).await,
            JobKind::Expire => self.expire(job).await,
            JobKind::AutoRefund => self.send_auto_refund(job).await,
        }
    }

    /// Done, due again at a time, or failed and retried on the query-back schedule.
    async fn settle_job(
        &self,
        job: &Job,
        owner: &str,
        outcome: Result<Option<i64>, AcquiringError>,
    ) -> Result<(), AcquiringError> {
        let now = self.now();
        match outcome {
            Ok(None) => jobs::finish(&self.db, job.id, owner, JobStatus::Done, None, now).await?,
            Ok(Some(at)) => jobs::reschedule(&self.db, job.id, owner, at, None, now).await?,
            Err(e) => {
                tracing::warn!(target: "detail", kind = %job.kind, key = %job.key, error = %e,
                    "acquiring job failed; retrying");
                let wait = self
                    .config
                    .query_back
                    .delay(job.attempts as usize)
                    .unwrap_or(3_600_000);
                jobs::reschedule(
                    &self.db,
                    job.id,
                    owner,
                    now + wait,
                    Some(&e.to_string()),
                    now,
                )
                .await?
            }
        };
        Ok(())
    }

    /// Runs the jobs every `interval` until `stop` turns true; a job running then finishes,
    /// the rest of its round is handed back.
    pub async fn run_jobs(
        &self,
        owner: String,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let watch = stop.clone();
            let stopping = move || *watch.borrow();
            if stopping() {
                return;
            }
            if let Err(e) = self.save_bursts().await {
                tracing::warn!(target: "detail", error = %e, "saving alert counts failed");
            }
            match self.run_due_jobs_until(&owner, 50, &stopping).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "detail", error = %e, "acquiring jobs round failed")
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Closes a payment still unpaid at its expiry.
    async fn expire(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let p = self.payment_by_id(&job.key).await?;
        match p.status {
            PaymentStatus::Created => {
                self.close_payment(&p.merchant_id, &p.payment_id, ResultSource::Job)
                    .await?;
                Ok(None)
            }
            // The channel's answer is pending; the query-back decides. Look again later.
            PaymentStatus::Processing => Ok(Some(self.now() + 300_000)),
            _ => Ok(None),
        }
    }

    /// Sends an automatic refund to the channel (its result goes through the refund's
    /// transition function).
    async fn send_auto_refund(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let attempt = self.attempt_now(&job.key).await?;
        if attempt.status.is_settled() {
            return Ok(None);
        }
        let refund_id = attempt.refund_id.clone().ok_or_else(|| {
            AcquiringError::Corrupt(format!("refund attempt {} without refund", job.key))
        })?;
        let refund = self.refund_by_id(&refund_id).await?;
        let payment = self.payment_by_id(&attempt.payment_id).await?;
        let result = self.call_refund(&refund, &attempt, &payment).await?;
        self.apply_refund_result(&job.key, result, ResultSource::Job)
            .await?;
        Ok(None)
    }
}

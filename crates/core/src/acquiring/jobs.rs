//! The acquiring jobs (E3): query-back of attempts whose result is not known (补单), refund
//! query-back, order expiry, and executing automatic refunds. They are rows in the job table,
//! claimed with a lease, so a crash only delays them and several nodes never run one twice.

use std::time::Duration;

use paycore_channels::{QueryOutcome, QueryRequest, RefundQueryOutcome, RefundQueryRequest};
use paycore_kernel::BizId;
use paycore_store::jobs::{self, Job, JobStatus};
use paycore_store::Row;

use super::flow::{ChannelResult, ResultSource};
use super::model::*;
use super::refund::RefundResult;
use super::{Acquiring, AcquiringError};

pub(crate) const QUERY: &str = "acquiring.query";
pub(crate) const REFUND_QUERY: &str = "acquiring.refund_query";
pub(crate) const EXPIRE: &str = "acquiring.expire";
pub(crate) const AUTO_REFUND: &str = "acquiring.auto_refund";

/// Growing intervals between queries of an attempt: 5 s, 30 s, 2 min, 10 min, 1 h, then hourly
/// until a day has passed since the attempt.
#[derive(Debug, Clone)]
pub struct QueryBackSchedule {
    pub steps_ms: Vec<i64>,
    pub then_every_ms: i64,
    pub give_up_after_ms: i64,
}

impl Default for QueryBackSchedule {
    fn default() -> Self {
        Self {
            steps_ms: vec![5_000, 30_000, 120_000, 600_000, 3_600_000],
            then_every_ms: 3_600_000,
            give_up_after_ms: 86_400_000,
        }
    }
}

impl QueryBackSchedule {
    /// The wait before query number `n` (0-based); `None` once the total passes the limit.
    pub fn delay(&self, n: usize) -> Option<i64> {
        let step = self.steps_ms.get(n).copied().unwrap_or(self.then_every_ms);
        let elapsed: i64 = (0..n)
            .map(|i| self.steps_ms.get(i).copied().unwrap_or(self.then_every_ms))
            .sum();
        (elapsed + step <= self.give_up_after_ms).then_some(step)
    }
}

const LEASE_MS: i64 = 60_000;

impl Acquiring {
    /// One round of every acquiring job that is due. Returns how many jobs ran.
    pub async fn run_due_jobs(&self, owner: &str, limit: i64) -> Result<usize, AcquiringError> {
        let mut ran = 0;
        for kind in [AUTO_REFUND, QUERY, REFUND_QUERY, EXPIRE] {
            let claimed = jobs::claim(&self.db, kind, owner, self.now(), LEASE_MS, limit).await?;
            for job in claimed {
                ran += 1;
                let outcome = match kind {
                    QUERY => self.query_back(&job).await,
                    REFUND_QUERY => self.refund_query_back(&job).await,
                    EXPIRE => self.expire(&job).await,
                    _ => self.run_auto_refund(&job).await,
                };
                let now = self.now();
                let stored = match outcome {
                    Ok(None) => {
                        jobs::finish(&self.db, job.id, owner, JobStatus::Done, None, now).await
                    }
                    Ok(Some(at)) => jobs::reschedule(&self.db, job.id, owner, at, None, now).await,
                    Err(e) => {
                        tracing::warn!(target: "detail", kind, key = %job.key, error = %e, "acquiring job failed; retrying");
                        let at = now
                            + self
                                .config
                                .query_back
                                .delay(job.attempts as usize)
                                .unwrap_or(3_600_000);
                        jobs::reschedule(&self.db, job.id, owner, at, Some(&e.to_string()), now)
                            .await
                    }
                };
                stored?;
            }
        }
        Ok(ran)
    }

    /// Runs the jobs until `shutdown` resolves, every `interval`.
    pub async fn run_jobs(
        &self,
        owner: String,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            match self.run_due_jobs(&owner, 50).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "detail", error = %e, "acquiring jobs round failed")
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    fn next_query_at(&self, job: &Job) -> Option<i64> {
        self.config
            .query_back
            .delay(job.attempts as usize)
            .map(|d| self.now() + d)
    }

    /// Asks the channel about a payment attempt; returns when to ask again (None: final).
    async fn query_back(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let attempt = self.attempt_now(&job.key).await?;
        if attempt.status.is_final_attempt() {
            return Ok(None);
        }
        let connector = self
            .channels
            .get(&attempt.channel)
            .ok_or_else(|| AcquiringError::ChannelUnavailable(attempt.channel.clone()))?;
        let id: BizId = job
            .key
            .parse()
            .map_err(|_| AcquiringError::Corrupt("attempt id".into()))?;
        let outcome = connector
            .query(&QueryRequest {
                attempt_id: id,
                channel_txn_id: attempt.channel_txn_id.clone(),
            })
            .await
            .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
        let result = match outcome {
            QueryOutcome::Succeeded {
                channel_txn_id,
                amount,
                ..
            } => Some(ChannelResult::Succeeded {
                channel_txn_id,
                amount,
            }),
            QueryOutcome::Failed { code, message } => Some(ChannelResult::Failed { code, message }),
            QueryOutcome::Canceled { .. } => Some(ChannelResult::Canceled),
            QueryOutcome::Pending { .. } => None,
            // The channel never saw it: after the first minutes, it never will.
            QueryOutcome::NotFound if job.attempts >= 3 => Some(ChannelResult::Failed {
                code: "NOT_FOUND_AT_CHANNEL".into(),
                message: "the channel has no record of this attempt".into(),
            }),
            QueryOutcome::NotFound => None,
        };
        if let Some(result) = result {
            self.apply_payment_result(&job.key, result, ResultSource::Query)
                .await?;
            return Ok(None);
        }
        match self.next_query_at(job) {
            Some(at) => Ok(Some(at)),
            None => {
                self.alert(
                    &attempt.channel,
                    "query_gave_up",
                    Some(&job.key),
                    "no final result after the query-back schedule",
                )
                .await?;
                Ok(None)
            }
        }
    }

    async fn refund_query_back(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let attempt = self.attempt_now(&job.key).await?;
        if attempt.status.is_final_attempt() {
            return Ok(None);
        }
        let refund_id = attempt
            .refund_id
            .clone()
            .ok_or_else(|| AcquiringError::Corrupt("refund attempt without refund".into()))?;
        let refund = self.refund_by_id(&refund_id).await?;
        let payment = self.payment_by_id(&attempt.payment_id).await?;
        // An automatic refund gives back the attempt that charged late, not the payment's own.
        let pay_attempt = match refund.out_refund_no.strip_prefix("auto-") {
            Some(a) if refund.kind == "auto" => a.to_string(),
            _ => payment.attempt_id.clone().unwrap_or_default(),
        };
        let connector = self
            .channels
            .get(&attempt.channel)
            .ok_or_else(|| AcquiringError::ChannelUnavailable(attempt.channel.clone()))?;
        let parse = |s: &str| {
            s.parse::<BizId>()
                .map_err(|_| AcquiringError::Corrupt("attempt id".into()))
        };
        let outcome = connector
            .refund_query(&RefundQueryRequest {
                refund_attempt_id: parse(&job.key)?,
                attempt_id: parse(&pay_attempt)?,
            })
            .await
            .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
        let result = match outcome {
            RefundQueryOutcome::Succeeded {
                channel_refund_id,
                amount,
            } => RefundResult::Succeeded {
                channel_refund_id,
                amount,
            },
            RefundQueryOutcome::Failed { code, message } => RefundResult::Failed { code, message },
            RefundQueryOutcome::Pending { .. } => RefundResult::Pending,
            // The request never reached the channel (we crashed, or it was lost): send it again
            // under the same attempt id, which the channel deduplicates by.
            RefundQueryOutcome::NotFound => {
                let mut for_channel = payment.clone();
                for_channel.channel_txn_id = sqlx::query(
                    "SELECT channel_txn_id FROM channel_attempts WHERE attempt_id = $1",
                )
                .bind(&pay_attempt)
                .fetch_optional(self.db.reader())
                .await?
                .map(|r| r.try_get::<Option<String>, _>("channel_txn_id"))
                .transpose()?
                .flatten();
                self.call_refund(
                    &for_channel,
                    &pay_attempt,
                    parse(&job.key)?,
                    &attempt.channel,
                    attempt.amount,
                    refund.reason.clone(),
                )
                .await
            }
        };
        if result != RefundResult::Pending {
            self.apply_refund_result(&job.key, result, ResultSource::Query)
                .await?;
            return Ok(None);
        }
        Ok(self.next_query_at(job))
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

    /// Sends an automatic refund to the channel (its result goes through the refund state machine).
    async fn run_auto_refund(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let attempt = self.attempt_now(&job.key).await?;
        if attempt.status.is_final_attempt() {
            return Ok(None);
        }
        let payload: serde_json::Value = serde_json::from_str(&job.payload)
            .map_err(|e| AcquiringError::Corrupt(e.to_string()))?;
        let pay_attempt = payload["payment_attempt"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let payment = self.payment_by_id(&attempt.payment_id).await?;
        let txn: Option<String> =
            sqlx::query("SELECT channel_txn_id FROM channel_attempts WHERE attempt_id = $1")
                .bind(&pay_attempt)
                .fetch_one(self.db.reader())
                .await?
                .try_get("channel_txn_id")?;
        let mut for_channel = payment.clone();
        for_channel.channel_txn_id = txn;
        let id: BizId = job
            .key
            .parse()
            .map_err(|_| AcquiringError::Corrupt("attempt id".into()))?;
        let result = self
            .call_refund(
                &for_channel,
                &pay_attempt,
                id,
                &attempt.channel,
                attempt.amount,
                Some("automatic refund of a late success".into()),
            )
            .await;
        self.apply_refund_result(&job.key, result, ResultSource::Job)
            .await?;
        Ok(None)
    }
}

impl AttemptStatus {
    pub(crate) fn is_final_attempt(self) -> bool {
        matches!(
            self,
            AttemptStatus::Succeeded | AttemptStatus::Failed | AttemptStatus::Canceled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_back_grows_then_goes_hourly_for_a_day() {
        let s = QueryBackSchedule::default();
        assert_eq!(s.delay(0), Some(5_000));
        assert_eq!(s.delay(4), Some(3_600_000));
        assert_eq!(s.delay(5), Some(3_600_000));
        let total: i64 = (0..100).map_while(|n| s.delay(n)).sum();
        assert!(total <= 86_400_000 && total > 82_000_000, "{total}");
    }
}

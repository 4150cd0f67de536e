//! Query-back (补单): asking a channel about attempts whose result is not known yet, on a
//! growing schedule, until the answer is final. An attempt the channel never received is sent
//! again under the same id (channels deduplicate by it).

use paycore_channels::{QueryOutcome, QueryRequest, RefundQueryRequest};
use paycore_store::jobs::Job;

use crate::alerts::AlertKind;
use crate::channel::{biz_id, ChannelResult};
use crate::error::AcquiringError;
use crate::model::{Attempt, AttemptKind, ResultSource};
use crate::refund::RefundResult;
use crate::Acquiring;

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

impl Acquiring {
    pub(crate) fn next_query_at(&self, job: &Job) -> Option<i64> {
        self.config
            .query_back
            .delay(job.attempts as usize)
            .map(|d| self.now() + d)
    }

    /// Asks the channel about a payment attempt; returns when to ask again (None: final).
    pub(crate) async fn query_back(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let attempt = self.attempt_now(&job.key).await?;
        if attempt.status.is_settled() {
            return Ok(None);
        }
        let Some(connector) = self.connector_or_alert(&attempt).await? else {
            return Ok(self.next_query_at(job));
        };
        let outcome = connector
            .query(&QueryRequest {
                attempt_id: biz_id(&job.key)?,
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
        self.again_or_give_up(job, &attempt).await
    }

    /// Asks the channel about a refund or cancel attempt (sending it again if the channel never
    /// got it); returns when to ask again.
    pub(crate) async fn refund_query_back(&self, job: &Job) -> Result<Option<i64>, AcquiringError> {
        let attempt = self.attempt_now(&job.key).await?;
        if attempt.status.is_settled() {
            return Ok(None);
        }
        let refund_id = attempt.refund_id.clone().ok_or_else(|| {
            AcquiringError::Corrupt(format!("refund attempt {} without refund", job.key))
        })?;
        let refund = self.refund_by_id(&refund_id).await?;
        let payment = self.payment_by_id(&attempt.payment_id).await?;
        let Some(connector) = self.connector_or_alert(&attempt).await? else {
            return Ok(self.next_query_at(job));
        };
        let charged = self.charged_attempt(&refund, &payment).await?;
        let result = if attempt.kind == AttemptKind::Cancel && connector.capabilities().cancel {
            // The channel's cancel is seen in the payment attempt's state.
            let now = connector
                .query(&QueryRequest {
                    attempt_id: biz_id(&charged.attempt_id)?,
                    channel_txn_id: charged.channel_txn_id.clone(),
                })
                .await
                .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
            match now {
                QueryOutcome::Canceled { channel_txn_id } => RefundResult::Succeeded {
                    channel_refund_id: channel_txn_id.unwrap_or_else(|| charged.attempt_id.clone()),
                    amount: refund.amount,
                },
                _ => self.call_cancel(&refund, &attempt, &payment).await?,
            }
        } else {
            let outcome = connector
                .refund_query(&RefundQueryRequest {
                    refund_attempt_id: biz_id(&job.key)?,
                    attempt_id: biz_id(&charged.attempt_id)?,
                })
                .await
                .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
            match RefundResult::from_query(outcome) {
                Some(r) => r,
                // It never reached the channel (we crashed, or it was lost): send it again.
                None => self.call_refund(&refund, &attempt, &payment).await?,
            }
        };
        if result != RefundResult::Pending {
            self.apply_refund_result(&job.key, result, ResultSource::Query)
                .await?;
            return Ok(None);
        }
        self.again_or_give_up(job, &attempt).await
    }

    async fn again_or_give_up(
        &self,
        job: &Job,
        attempt: &Attempt,
    ) -> Result<Option<i64>, AcquiringError> {
        match self.next_query_at(job) {
            Some(at) => Ok(Some(at)),
            None => {
                self.alert(
                    &attempt.channel,
                    AlertKind::QueryGaveUp,
                    Some(&job.key),
                    "no final result after the query-back schedule",
                )
                .await?;
                Ok(None)
            }
        }
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

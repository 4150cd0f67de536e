//! Refunds (M3): partial and several, never above what was paid — also under concurrent
//! requests, because the amount is reserved on the payment row by a compare-and-set before the
//! channel is asked — with asynchronous results, reversing vouchers and a fee refund policy.

use paycore_channels::{RefundOutcome, RefundRequest};
use paycore_kernel::crypto::sha256_hex;
use paycore_kernel::state::StateMachine;
use paycore_kernel::{BizId, BizType, Money, Rounding};
use paycore_ledger::BusinessEvent;
use paycore_store::{jobs, Row, Tx};
use serde_json::json;

use super::flow::ResultSource;
use super::model::*;
use super::{Acquiring, AcquiringError};

pub(crate) const REFUND_VOUCHER: &str = "REFUND_BANK_FEE";

/// How much of the payment's fee goes back to the merchant with a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeRefundPolicy {
    /// The platform keeps the whole fee.
    None,
    /// The fee in proportion to the amount refunded (the last refund takes the remainder, so
    /// a full refund returns the fee exactly).
    Proportional,
}

#[derive(Debug, Clone)]
pub struct NewRefund {
    pub merchant_id: String,
    /// The payment by platform id, or by the merchant's number.
    pub payment_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    pub amount: Money,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    Succeeded {
        channel_refund_id: String,
        amount: Money,
    },
    Failed {
        code: String,
        message: String,
    },
    /// Not final yet (accepted, or unknown): queried back.
    Pending,
}

impl RefundResult {
    pub(crate) fn from_outcome(o: RefundOutcome) -> Self {
        match o {
            RefundOutcome::Succeeded {
                channel_refund_id,
                amount,
            } => RefundResult::Succeeded {
                channel_refund_id,
                amount,
            },
            RefundOutcome::Failed { code, message } => RefundResult::Failed { code, message },
            RefundOutcome::Pending { .. } | RefundOutcome::Unknown { .. } => RefundResult::Pending,
        }
    }
}

impl Acquiring {
    pub async fn create_refund(&self, req: NewRefund) -> Result<(Refund, bool), AcquiringError> {
        let out_refund_no = req.out_refund_no.trim();
        if out_refund_no.is_empty()
            || out_refund_no.len() > 64
            || !out_refund_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(AcquiringError::Invalid(
                "out_refund_no must be 1 to 64 characters of [A-Za-z0-9-_.]".into(),
            ));
        }
        if !req.amount.is_positive() {
            return Err(AcquiringError::Invalid("amount must be positive".into()));
        }
        if req.reason.as_ref().is_some_and(|r| r.chars().count() > 256) {
            return Err(AcquiringError::Invalid(
                "reason is longer than 256 characters".into(),
            ));
        }
        let payment = match (&req.payment_id, &req.out_trade_no) {
            (Some(id), _) => self.payment(&req.merchant_id, id).await?,
            (None, Some(no)) => self.payment_by_out_trade_no(&req.merchant_id, no).await?,
            (None, None) => {
                return Err(AcquiringError::Invalid(
                    "payment_id or out_trade_no is required".into(),
                ))
            }
        };
        let hash = sha256_hex(
            json!([
                payment.payment_id,
                out_refund_no,
                req.amount.minor(),
                req.amount.currency().code(),
                req.reason
            ])
            .to_string()
            .as_bytes(),
        );
        if let Some(existing) = self.refund_by_no(&req.merchant_id, out_refund_no).await? {
            return if existing.request_hash == hash {
                Ok((existing, false))
            } else {
                Err(AcquiringError::IdempotencyConflict)
            };
        }
        if req.amount.currency() != payment.amount.currency() {
            return Err(AcquiringError::Invalid(format!(
                "the payment is in {}",
                payment.amount.currency()
            )));
        }
        if payment.status != PaymentStatus::Succeeded {
            return Err(AcquiringError::InvalidState(format!(
                "a {} payment cannot be refunded",
                payment.status.as_str()
            )));
        }
        let (Some(channel), Some(payment_attempt)) =
            (payment.channel.clone(), payment.attempt_id.clone())
        else {
            return Err(AcquiringError::Corrupt(
                "succeeded payment without attempt".into(),
            ));
        };
        // Checked again, authoritatively, by the reservation below; here so that the more
        // specific answer wins over the balance check.
        let left = payment.amount.minor()
            - payment.refunded_amount.minor()
            - payment.refunding_amount.minor();
        if req.amount.minor() > left {
            return Err(AcquiringError::ExceedsRefundable { refundable: left });
        }
        let fee_refund = self.fee_refund(&payment, req.amount).await?;
        // The merchant's pending settlement pays the refund: refuse now rather than after the
        // channel has given the money back.
        let pending = self
            .ledger
            .balance(&paycore_ledger::accounts::account_no(
                "224101",
                &payment.merchant_id,
                payment.amount.currency().code(),
                0,
            ))
            .await?;
        let net = req.amount.checked_sub(fee_refund)?;
        if pending.available.minor() < net.minor() {
            return Err(AcquiringError::InsufficientBalance(format!(
                "the merchant's pending settlement ({}) does not cover the refund",
                pending.available.minor()
            )));
        }
        let refund_id = self.ids.next(BizType::Refund, &req.merchant_id).await?;
        let attempt_id = self
            .ids
            .next(BizType::ChannelAttempt, &req.merchant_id)
            .await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let reserved = sqlx::query(
            "UPDATE payments SET refunding_amount = refunding_amount + $1, updated_at = $2
             WHERE payment_id = $3 AND status = 'succeeded' AND refunded_amount + refunding_amount + $1 <= amount",
        )
        .bind(req.amount.minor())
        .bind(now)
        .bind(&payment.payment_id)
        .execute(&mut *tx)
        .await?;
        if reserved.rows_affected() != 1 {
            tx.rollback().await?;
            let p = self.payment_by_id(&payment.payment_id).await?;
            if p.status != PaymentStatus::Succeeded {
                return Err(AcquiringError::InvalidState(format!(
                    "a {} payment cannot be refunded",
                    p.status.as_str()
                )));
            }
            let left = p.amount.minor() - p.refunded_amount.minor() - p.refunding_amount.minor();
            return Err(AcquiringError::ExceedsRefundable { refundable: left });
        }
        let inserted = sqlx::query(
            "INSERT INTO refunds (refund_id, merchant_id, out_refund_no, request_hash, payment_id, amount,
                currency, fee_refund, reason, kind, status, attempt_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'merchant', 'processing', $10, $11, $11)
             ON CONFLICT (merchant_id, out_refund_no) DO NOTHING",
        )
        .bind(refund_id.as_str())
        .bind(&req.merchant_id)
        .bind(out_refund_no)
        .bind(&hash)
        .bind(&payment.payment_id)
        .bind(req.amount.minor())
        .bind(req.amount.currency().code())
        .bind(fee_refund.minor())
        .bind(req.reason.as_deref())
        .bind(attempt_id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            tx.rollback().await?;
            let existing = self
                .refund_by_no(&req.merchant_id, out_refund_no)
                .await?
                .ok_or(AcquiringError::NotFound)?;
            return if existing.request_hash == hash {
                Ok((existing, false))
            } else {
                Err(AcquiringError::IdempotencyConflict)
            };
        }
        self.insert_attempt(
            &mut tx,
            attempt_id.as_str(),
            "refund",
            &payment.payment_id,
            Some(refund_id.as_str()),
            &req.merchant_id,
            &channel,
            req.amount,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(target: "digest.biz", biz = "refund", from = "-", to = "processing", code = "OK",
            refund_id = %refund_id, payment_id = %payment.payment_id, amount = req.amount.minor(),
            currency = req.amount.currency().code(), channel = %channel);
        let result = self
            .call_refund(
                &payment,
                &payment_attempt,
                attempt_id,
                &channel,
                req.amount,
                req.reason.clone(),
            )
            .await;
        let refund = self
            .apply_refund_result(attempt_id.as_str(), result, ResultSource::Sync)
            .await?;
        Ok((refund, true))
    }

    async fn fee_refund(&self, payment: &Payment, amount: Money) -> Result<Money, AcquiringError> {
        let zero = Money::zero(amount.currency());
        match self.config.fee_refund {
            FeeRefundPolicy::None => Ok(zero),
            FeeRefundPolicy::Proportional => {
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(fee_refund), 0) AS BIGINT) AS fees, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amounts
                     FROM refunds WHERE payment_id = $1 AND status IN ('processing', 'succeeded')",
                )
                .bind(&payment.payment_id)
                .fetch_one(self.db.reader())
                .await?;
                let fees: i64 = row.try_get("fees")?;
                let amounts: i64 = row.try_get("amounts")?;
                if amounts + amount.minor() >= payment.amount.minor() {
                    return Ok(Money::from_minor(
                        (payment.fee.minor() - fees).max(0),
                        amount.currency(),
                    ));
                }
                Ok(payment
                    .fee
                    .mul_ratio(amount.minor(), payment.amount.minor(), Rounding::Down)?)
            }
        }
    }

    pub(crate) async fn call_refund(
        &self,
        payment: &Payment,
        payment_attempt: &str,
        attempt_id: BizId,
        channel: &str,
        amount: Money,
        reason: Option<String>,
    ) -> RefundResult {
        let Some(connector) = self.channels.get(channel) else {
            return RefundResult::Pending;
        };
        let Ok(pay_attempt) = payment_attempt.parse::<BizId>() else {
            return RefundResult::Failed {
                code: "INTERNAL".into(),
                message: "payment attempt id".into(),
            };
        };
        let req = RefundRequest {
            refund_attempt_id: attempt_id,
            attempt_id: pay_attempt,
            channel_txn_id: payment.channel_txn_id.clone().unwrap_or_default(),
            amount,
            payment_amount: payment.amount,
            reason,
            notify_url: Some(paycore_channels::notify_url(
                &self.config.platform_base_url,
                channel,
            )),
        };
        // The refund must be on disk before the channel hears of it; if not, the job asks later.
        if self.db.durable().await.is_err() {
            return RefundResult::Pending;
        }
        match connector.refund(&req).await {
            Ok(o) => RefundResult::from_outcome(o),
            // Nothing was sent: the job asks again later.
            Err(_) => RefundResult::Pending,
        }
    }

    /// The one transition function for a refund attempt's result, from any source.
    pub async fn apply_refund_result(
        &self,
        attempt_id: &str,
        result: RefundResult,
        source: ResultSource,
    ) -> Result<Refund, AcquiringError> {
        let ids = self.reserve_ids(attempt_id, false).await?;
        self.prepare_ledger(attempt_id).await?;
        let mut tx = self.db.begin().await?;
        let attempt = self.attempt(&mut tx, attempt_id).await?;
        let refund_id = attempt.refund_id.clone().ok_or_else(|| {
            AcquiringError::ChannelMessage(format!("{attempt_id} is not a refund attempt"))
        })?;
        let refund = self.refund_in(&mut tx, &refund_id).await?;
        let event = match &result {
            RefundResult::Pending => {
                tx.commit().await?;
                return Ok(refund);
            }
            RefundResult::Succeeded { amount, .. } if *amount != refund.amount => {
                drop(tx);
                self.alert(
                    &attempt.channel,
                    "amount_mismatch",
                    Some(attempt_id),
                    &format!(
                        "channel reports a refund of {} for {} ({})",
                        amount.minor(),
                        refund.amount.minor(),
                        source.as_str()
                    ),
                )
                .await?;
                return Err(AcquiringError::ChannelMessage(
                    "refund amount differs".into(),
                ));
            }
            RefundResult::Succeeded { .. } => RefundEvent::ChannelSucceeded,
            RefundResult::Failed { .. } => RefundEvent::ChannelFailed,
        };
        let Some(to) = refund.status.next(event) else {
            tx.commit().await?;
            return Ok(refund);
        };
        let payment = self.payment_in(&mut tx, &refund.payment_id).await?;
        let now = self.now();
        let (attempt_status, txn, code) = match &result {
            RefundResult::Succeeded {
                channel_refund_id, ..
            } => ("succeeded", Some(channel_refund_id.as_str()), None),
            RefundResult::Failed { code, .. } => ("failed", None, Some(code.as_str())),
            RefundResult::Pending => ("pending", None, None),
        };
        sqlx::query("UPDATE channel_attempts SET status = $1, channel_txn_id = COALESCE($2, channel_txn_id), error_code = $3, updated_at = $4 WHERE attempt_id = $5")
            .bind(attempt_status)
            .bind(txn)
            .bind(code)
            .bind(now)
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        let mut day = None;
        if to == RefundStatus::Succeeded {
            let ev = BusinessEvent::new(
                &format!("{attempt_id}.refund"),
                REFUND_VOUCHER,
                &refund.refund_id,
                refund.amount,
            )
            .fee(refund.fee_refund)
            .party("merchant", &refund.merchant_id)
            .party("channel", &attempt.channel);
            day = Some(self.post(&mut tx, &[ev]).await?);
            sqlx::query("UPDATE payments SET refunded_amount = refunded_amount + $1, refunding_amount = refunding_amount - $1, updated_at = $2 WHERE payment_id = $3")
                .bind(refund.amount.minor())
                .bind(now)
                .bind(&refund.payment_id)
                .execute(&mut *tx)
                .await?;
        } else if refund.kind == "merchant" {
            sqlx::query("UPDATE payments SET refunding_amount = refunding_amount - $1, updated_at = $2 WHERE payment_id = $3")
                .bind(refund.amount.minor())
                .bind(now)
                .bind(&refund.payment_id)
                .execute(&mut *tx)
                .await?;
        }
        let failure = if let RefundResult::Failed { code, .. } = &result {
            Some(code.clone())
        } else {
            None
        };
        let done = sqlx::query(
            "UPDATE refunds SET status = $1, channel_refund_id = $2, failure_code = $3, accounting_day = $4, updated_at = $5
             WHERE refund_id = $6 AND status = 'processing'",
        )
        .bind(to.as_str())
        .bind(txn)
        .bind(failure)
        .bind(day)
        .bind(now)
        .bind(&refund.refund_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(AcquiringError::InvalidState(
                "the refund changed concurrently".into(),
            ));
        }
        tracing::info!(target: "digest.biz", biz = "refund", from = refund.status.as_str(), to = to.as_str(), code = "OK",
            source = source.as_str(), refund_id = %refund.refund_id, payment_id = %refund.payment_id,
            amount = refund.amount.minor(), currency = refund.amount.currency().code(), channel = %attempt.channel);
        let after = self.refund_in(&mut tx, &refund.refund_id).await?;
        let event_type = format!("refund.{}", to.as_str());
        // Refund events also name the payment's product and channel, for subscribers.
        let mut data = super::reports::refund_json(&after);
        data["product"] = payment.product.as_str().into();
        data["channel"] = attempt.channel.clone().into();
        self.publish(
            &mut tx,
            &ids.event,
            &event_type,
            &refund.merchant_id,
            &refund.refund_id,
            payment.notify_url.as_deref(),
            &data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Gives back a charge the channel made for a payment that had ended unpaid.
    pub(crate) async fn auto_refund(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        attempt: &Attempt,
        channel_txn_id: &str,
        refund_id: &str,
        refund_attempt: &str,
    ) -> Result<(), AcquiringError> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO refunds (refund_id, merchant_id, out_refund_no, request_hash, payment_id, amount,
                currency, fee_refund, reason, kind, status, attempt_id, created_at, updated_at)
             VALUES ($1, $2, $3, '', $4, $5, $6, 0, $7, 'auto', 'processing', $8, $9, $9)",
        )
        .bind(refund_id)
        .bind(&payment.merchant_id)
        .bind(format!("auto-{}", attempt.attempt_id))
        .bind(&payment.payment_id)
        .bind(attempt.amount.minor())
        .bind(attempt.amount.currency().code())
        .bind(format!("late success on a {} payment (channel txn {channel_txn_id})", payment.status.as_str()))
        .bind(refund_attempt)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        self.insert_attempt(
            tx,
            refund_attempt,
            "refund",
            &payment.payment_id,
            Some(refund_id),
            &payment.merchant_id,
            &attempt.channel,
            attempt.amount,
        )
        .await?;
        // The channel is asked by the job at once (outside this transaction).
        jobs::enqueue(
            tx,
            super::jobs::AUTO_REFUND,
            refund_attempt,
            &json!({"payment_attempt": attempt.attempt_id}).to_string(),
            now,
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn refund_in(
        &self,
        tx: &mut Tx,
        refund_id: &str,
    ) -> Result<Refund, AcquiringError> {
        refund_from_row(
            &self
                .locked_row(tx, REFUND_COLUMNS, "refunds", "refund_id", refund_id)
                .await?,
        )
    }

    async fn refund_by_no(
        &self,
        merchant_id: &str,
        out_refund_no: &str,
    ) -> Result<Option<Refund>, AcquiringError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE merchant_id = $1 AND out_refund_no = $2"
        )))
        .bind(merchant_id)
        .bind(out_refund_no)
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    pub(crate) async fn refund_by_id(&self, refund_id: &str) -> Result<Refund, AcquiringError> {
        refund_from_row(
            &self
                .row_by(REFUND_COLUMNS, "refunds", "refund_id", refund_id)
                .await?,
        )
    }

    /// A merchant's refund; another merchant's is `NotFound`.
    pub async fn refund(
        &self,
        merchant_id: &str,
        refund_id: &str,
    ) -> Result<Refund, AcquiringError> {
        let r = self.refund_by_id(refund_id).await?;
        if r.merchant_id != merchant_id {
            return Err(AcquiringError::NotFound);
        }
        Ok(r)
    }

    pub async fn refund_by_out_refund_no(
        &self,
        merchant_id: &str,
        out_refund_no: &str,
    ) -> Result<Refund, AcquiringError> {
        self.refund_by_no(merchant_id, out_refund_no)
            .await?
            .ok_or(AcquiringError::NotFound)
    }

    pub async fn refunds_of(&self, payment_id: &str) -> Result<Vec<Refund>, AcquiringError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY id"
        )))
        .bind(payment_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(refund_from_row).collect()
    }
}

//! A merchant's refund: checked, reserved on the payment row and held in the ledger in one
//! transaction, then sent to the channel.

use paycore_kernel::crypto::sha256_hex;
use paycore_kernel::{BizType, Money, Rounding};
use paycore_store::Conn;
use serde_json::json;

use super::{FeeRefundPolicy, NewRefund};
use crate::error::AcquiringError;
use crate::machines::{PaymentStatus, RefundStatus};
use crate::model::{AttemptKind, Payment, Refund, RefundKind, ResultSource};
use crate::rows::NewAttempt;
use crate::Acquiring;

/// A refund to be written: its ids, amounts and what it refunds.
pub(crate) struct Reservation<'a> {
    pub payment: &'a Payment,
    pub kind: RefundKind,
    pub out_refund_no: &'a str,
    pub request_hash: &'a str,
    pub amount: Money,
    pub reason: Option<&'a str>,
    pub refund_id: &'a str,
    pub attempt_id: &'a str,
    pub channel: &'a str,
    pub payment_attempt_id: &'a str,
}

fn valid_reason(r: &Option<String>) -> bool {
    r.as_ref()
        .is_none_or(|r| r.chars().count() <= 256 && !r.chars().any(char::is_control))
}

pub(crate) fn valid_merchant_no(s: &str) -> bool {
    paycore_kernel::id::valid_own_number(s)
}

impl Acquiring {
    pub async fn create_refund(&self, req: NewRefund) -> Result<(Refund, bool), AcquiringError> {
        if !valid_merchant_no(&req.out_refund_no) {
            return Err(AcquiringError::Invalid(
                "out_refund_no must be 1 to 64 characters of [A-Za-z0-9-_.]".into(),
            ));
        }
        if !req.amount.is_positive() {
            return Err(AcquiringError::Invalid("amount must be positive".into()));
        }
        if !valid_reason(&req.reason) {
            return Err(AcquiringError::Invalid(
                "reason must be at most 256 printable characters".into(),
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
                req.out_refund_no,
                req.amount.minor(),
                req.amount.currency().code(),
                req.reason
            ])
            .to_string()
            .as_bytes(),
        );
        if let Some(existing) = self
            .refund_by_no(&req.merchant_id, &req.out_refund_no)
            .await?
        {
            return same_refund(existing, &hash);
        }
        if req.amount.currency() != payment.amount.currency() {
            return Err(AcquiringError::Invalid(format!(
                "the payment is in {}",
                payment.amount.currency()
            )));
        }
        refundable_now(&payment, req.amount)?;
        let (Some(channel), Some(payment_attempt)) = (&payment.channel, &payment.attempt_id) else {
            return Err(AcquiringError::Corrupt(format!(
                "succeeded payment {} without attempt",
                payment.payment_id
            )));
        };
        let refund_id = self.ids.next(BizType::Refund, &req.merchant_id).await?;
        let attempt_id = self
            .ids
            .next(BizType::ChannelAttempt, &req.merchant_id)
            .await?;
        self.ledger.ready().await?;
        self.ensure_accounts(&payment.merchant_id, channel, payment.amount.currency())
            .await?;
        let reservation = Reservation {
            payment: &payment,
            kind: RefundKind::Merchant,
            out_refund_no: &req.out_refund_no,
            request_hash: &hash,
            amount: req.amount,
            reason: req.reason.as_deref(),
            refund_id: refund_id.as_str(),
            attempt_id: attempt_id.as_str(),
            channel,
            payment_attempt_id: payment_attempt,
        };
        let refund = match self.reserve_refund(&reservation).await? {
            Ok(r) => r,
            Err(existing) => return same_refund(existing, &hash),
        };
        tracing::info!(target: "digest.biz", biz = "refund", from = "-", to = "processing",
            code = "OK", refund_id = %refund.refund_id, payment_id = %payment.payment_id,
            amount = req.amount.minor(), currency = req.amount.currency().code(),
            channel = %channel);
        let attempt = self.attempt_now(attempt_id.as_str()).await?;
        let result = self.call_refund(&refund, &attempt, &payment).await?;
        let refund = self
            .apply_refund_result(attempt_id.as_str(), result, ResultSource::Sync)
            .await?;
        Ok((refund, true))
    }

    /// In one transaction: the amount reserved on the payment row by compare-and-set, the
    /// fee given back, the merchant's pending settlement held in the ledger, the refund and its
    /// attempt written. `Err(existing)` when the merchant's number was taken meanwhile.
    pub(crate) async fn reserve_refund(
        &self,
        r: &Reservation<'_>,
    ) -> Result<Result<Refund, Refund>, AcquiringError> {
        crate::error::retry_conflicts(|| self.reserve_refund_once(r)).await
    }

    async fn reserve_refund_once(
        &self,
        r: &Reservation<'_>,
    ) -> Result<Result<Refund, Refund>, AcquiringError> {
        let mut tx = self.db.begin().await?;
        if !self.reserve_on_payment(&mut tx, r).await? {
            tx.rollback().await?;
            let now = self.payment_by_id(&r.payment.payment_id).await?;
            return Err(not_reservable(&now, r.kind));
        }
        let fee_refund = self
            .fee_refund_in(&mut tx, r.payment, r.amount, r.kind)
            .await?;
        let net = r.amount.checked_sub(fee_refund)?;
        let hold_no = self
            .hold_for_refund(&mut tx, r.refund_id, &r.payment.merchant_id, r.channel, net)
            .await?;
        if !self
            .insert_refund(&mut tx, r, fee_refund, hold_no.as_deref(), None)
            .await?
        {
            tx.rollback().await?;
            return Ok(Err(self
                .refund_by_no(&r.payment.merchant_id, r.out_refund_no)
                .await?
                .ok_or(AcquiringError::NotFound)?));
        }
        tx.commit().await?;
        Ok(Ok(self.refund_by_id(r.refund_id).await?))
    }

    /// Adds the amount to the payment's reservations, if the payment is paid and it fits. A
    /// cancel needs the whole payment unrefunded and nothing else in flight.
    async fn reserve_on_payment(
        &self,
        tx: &mut dyn Conn,
        r: &Reservation<'_>,
    ) -> Result<bool, AcquiringError> {
        let sql = match r.kind {
            RefundKind::Cancel => {
                "UPDATE payments SET refunding_amount = refunding_amount + $1, updated_at = $2
                 WHERE payment_id = $3 AND status = $4 AND refunded_amount = 0
                   AND refunding_amount = 0 AND amount = $1"
            }
            _ => {
                "UPDATE payments SET refunding_amount = refunding_amount + $1, updated_at = $2
                 WHERE payment_id = $3 AND status = $4
                   AND refunded_amount + refunding_amount + $1 <= amount"
            }
        };
        let done = tx
            .execute(
                sql,
                &[
                    r.amount.minor().into(),
                    self.now().into(),
                    r.payment.payment_id.as_str().into(),
                    PaymentStatus::Succeeded.as_str().into(),
                ],
            )
            .await?;
        Ok(done == 1)
    }

    /// Writes the refund and its attempt; false when its number exists already.
    pub(crate) async fn insert_refund(
        &self,
        tx: &mut dyn Conn,
        r: &Reservation<'_>,
        fee_refund: Money,
        hold_no: Option<&str>,
        charge_day: Option<i64>,
    ) -> Result<bool, AcquiringError> {
        let now = self.now();
        let inserted = tx
            .execute(
                "INSERT INTO refunds (refund_id, merchant_id, out_refund_no, request_hash,
                    payment_id, amount, currency, fee_refund, reason, kind, status, attempt_id,
                    payment_attempt_id, charge_day, hold_no, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $16)
                 ON CONFLICT (merchant_id, out_refund_no) DO NOTHING",
                &[
                    r.refund_id.into(),
                    r.payment.merchant_id.as_str().into(),
                    r.out_refund_no.into(),
                    r.request_hash.into(),
                    r.payment.payment_id.as_str().into(),
                    r.amount.minor().into(),
                    r.amount.currency().code().into(),
                    fee_refund.minor().into(),
                    r.reason.into(),
                    r.kind.as_str().into(),
                    RefundStatus::Processing.as_str().into(),
                    r.attempt_id.into(),
                    r.payment_attempt_id.into(),
                    charge_day.into(),
                    hold_no.into(),
                    now.into(),
                ],
            )
            .await?;
        if inserted != 1 {
            return Ok(false);
        }
        paycore_store::state::created(
            tx,
            r.refund_id,
            RefundStatus::Processing,
            r.kind.as_str(),
            now,
        )
        .await?;
        let kind = match r.kind {
            RefundKind::Cancel => AttemptKind::Cancel,
            RefundKind::Merchant | RefundKind::Auto => AttemptKind::Refund,
        };
        self.insert_attempt(
            tx,
            &NewAttempt {
                attempt_id: r.attempt_id,
                kind,
                payment_id: &r.payment.payment_id,
                refund_id: Some(r.refund_id),
                merchant_id: &r.payment.merchant_id,
                channel: r.channel,
                amount: r.amount,
            },
        )
        .await?;
        Ok(true)
    }

    /// The fee the merchant gets back with `amount`, computed inside the reservation's
    /// transaction (the payment row is locked, so concurrent refunds see each other).
    async fn fee_refund_in(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        amount: Money,
        kind: RefundKind,
    ) -> Result<Money, AcquiringError> {
        let zero = Money::zero(amount.currency());
        if kind == RefundKind::Cancel {
            return Ok(payment.fee);
        }
        if self.config.fee_refund == FeeRefundPolicy::None {
            return Ok(zero);
        }
        let row = tx
            .fetch_one(
                "SELECT CAST(COALESCE(SUM(fee_refund), 0) AS BIGINT) AS fees,
                        CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amounts
                 FROM refunds WHERE payment_id = $1 AND kind = $2 AND status <> $3",
                &[
                    payment.payment_id.as_str().into(),
                    RefundKind::Merchant.as_str().into(),
                    RefundStatus::Failed.as_str().into(),
                ],
            )
            .await?;
        let currency = amount.currency();
        let fees = Money::from_minor(row.int("fees")?, currency);
        let before = Money::from_minor(row.int("amounts")?, currency);
        if before
            .checked_add(amount)?
            .cmp_same(payment.amount)?
            .is_ge()
        {
            // The last refund takes what is left of the fee, so the parts add up exactly.
            let rest = payment.fee.checked_sub(fees)?;
            return Ok(if rest.is_negative() { zero } else { rest });
        }
        Ok(payment
            .fee
            .mul_ratio(amount.minor(), payment.amount.minor(), Rounding::Down)?)
    }
}

/// The answer to a merchant number seen before.
fn same_refund(existing: Refund, hash: &str) -> Result<(Refund, bool), AcquiringError> {
    if existing.request_hash == hash {
        Ok((existing, false))
    } else {
        Err(AcquiringError::IdempotencyConflict)
    }
}

/// Whether `amount` may be refunded from `payment` as it is now (checked again, with
/// authority, by the reservation's compare-and-set).
fn refundable_now(payment: &Payment, amount: Money) -> Result<(), AcquiringError> {
    if payment.status != PaymentStatus::Succeeded {
        return Err(AcquiringError::InvalidState(format!(
            "a {} payment cannot be refunded",
            payment.status.as_str()
        )));
    }
    let refundable = payment.refundable()?;
    if amount.cmp_same(refundable)?.is_gt() {
        return Err(AcquiringError::ExceedsRefundable { refundable });
    }
    Ok(())
}

/// Why a reservation's compare-and-set failed, from the payment as it is now.
fn not_reservable(now: &Payment, kind: RefundKind) -> AcquiringError {
    if now.status != PaymentStatus::Succeeded {
        return AcquiringError::InvalidState(format!(
            "a {} payment cannot be {}",
            now.status.as_str(),
            if kind == RefundKind::Cancel {
                "canceled"
            } else {
                "refunded"
            }
        ));
    }
    if kind == RefundKind::Cancel {
        return AcquiringError::InvalidState(
            "the payment has refunds or a cancel in flight; refund the rest instead".into(),
        );
    }
    match now.refundable() {
        Ok(refundable) => AcquiringError::ExceedsRefundable { refundable },
        Err(e) => e,
    }
}

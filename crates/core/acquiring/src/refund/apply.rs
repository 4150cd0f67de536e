//! The one transition function for a refund (or cancel) attempt's result, from any source.

use paycore_channels::QueryOutcome;
use paycore_kernel::state::StateMachine;
use paycore_store::Conn;

use super::RefundResult;
use crate::alerts::AlertKind;
use crate::channel::biz_id;
use crate::error::retry_conflicts;
use crate::error::AcquiringError;
use crate::machines::{AttemptEvent, PaymentEvent, RefundEvent, RefundStatus};
use crate::model::{Applied, Attempt, Payment, Refund, RefundKind, ResultSource};
use crate::publish::nothing;
use crate::rows::ReservedIds;
use crate::Acquiring;

impl Acquiring {
    /// Applies a channel's word on a refund attempt. Results for a refund that is already final
    /// are no-ops; a success of the wrong amount is refused and raises an alert.
    pub async fn apply_refund_result(
        &self,
        attempt_id: &str,
        result: RefundResult,
        source: ResultSource,
    ) -> Result<Refund, AcquiringError> {
        self.apply_refund_result_from(None, attempt_id, result, source)
            .await
    }

    /// [`Acquiring::apply_refund_result`] of a message `channel` sent: refused unless the
    /// attempt is that channel's.
    pub(crate) async fn apply_refund_result_from(
        &self,
        channel: Option<&str>,
        attempt_id: &str,
        result: RefundResult,
        source: ResultSource,
    ) -> Result<Refund, AcquiringError> {
        retry_conflicts(|| {
            self.apply_refund_result_once(channel, attempt_id, result.clone(), source)
        })
        .await
    }

    async fn apply_refund_result_once(
        &self,
        channel: Option<&str>,
        attempt_id: &str,
        result: RefundResult,
        source: ResultSource,
    ) -> Result<Refund, AcquiringError> {
        let before = self.attempt_now(attempt_id).await?;
        before.reported_by(channel)?;
        let result = self.reversed_or(attempt_id, result).await?;
        let ids = self.reserve_ids(attempt_id, false).await?;
        self.prepare_ledger(&before).await?;
        let me = self.clone();
        let attempt_id = attempt_id.to_owned();
        let applied = self
            .db
            .unit(move |tx| {
                Box::pin(async move {
                    me.apply_refund_unit(tx, &attempt_id, &result, source, &ids)
                        .await
                })
            })
            .await?;
        applied.or_refused("refund amount differs")
    }

    /// The unit of work of a refund attempt's result; for a success of the wrong amount, only
    /// the alert.
    async fn apply_refund_unit(
        &self,
        tx: &mut dyn Conn,
        attempt_id: &str,
        result: &RefundResult,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<Applied<Refund>, AcquiringError> {
        let attempt = self.attempt_in(tx, attempt_id).await?;
        let refund_id = attempt.refund_id.clone().ok_or_else(|| {
            AcquiringError::ChannelMessage(format!("{attempt_id} is not a refund attempt"))
        })?;
        let refund = self.refund_in(tx, &refund_id).await?;
        let done = |r: Refund| Ok(Applied::Done(Box::new(r)));
        let event = match result {
            RefundResult::Pending => return done(refund),
            RefundResult::Succeeded { amount, .. } if *amount != refund.amount => {
                let detail = format!(
                    "channel reports a refund of {} for {} ({})",
                    amount.minor(),
                    refund.amount.minor(),
                    source.as_str()
                );
                self.alert_in(
                    tx,
                    &attempt.channel,
                    AlertKind::AmountMismatch,
                    Some(attempt_id),
                    &detail,
                )
                .await?;
                return Ok(Applied::AmountMismatch);
            }
            RefundResult::Succeeded { .. } | RefundResult::Reversed { .. } => {
                RefundEvent::ChannelSucceeded
            }
            RefundResult::Failed { .. } => RefundEvent::ChannelFailed,
        };
        if refund.status.next(event).is_none() {
            return done(refund);
        }
        let payment = self.payment_in(tx, &refund.payment_id).await?;
        let after = match result {
            RefundResult::Reversed { .. } => {
                let charged = self.charged_attempt_in(tx, &refund, &payment).await?;
                self.complete_auto_by_reversal(tx, &refund, &payment, &charged, source, ids)
                    .await?
            }
            RefundResult::Failed { code, .. } => {
                self.settle_refund_attempt(tx, &attempt, result, source)
                    .await?;
                self.fail_refund(tx, &refund, &payment, code, source, ids)
                    .await?
            }
            RefundResult::Succeeded {
                channel_refund_id, ..
            } => {
                self.settle_refund_attempt(tx, &attempt, result, source)
                    .await?;
                self.complete_refund(
                    tx,
                    &refund,
                    &payment,
                    &attempt.channel,
                    Some(channel_refund_id.clone()),
                    source,
                    ids,
                )
                .await?
            }
            RefundResult::Pending => refund,
        };
        done(after)
    }

    /// An automatic refund the channel refuses may have nothing left to give back: the charge
    /// was reversed at the channel (a close it applied as a cancel). Only the channel's word
    /// on the charged attempt decides; asked here, before any transaction.
    async fn reversed_or(
        &self,
        attempt_id: &str,
        result: RefundResult,
    ) -> Result<RefundResult, AcquiringError> {
        if !matches!(result, RefundResult::Failed { .. }) {
            return Ok(result);
        }
        let attempt = self.attempt_now(attempt_id).await?;
        let Some(refund_id) = &attempt.refund_id else {
            return Ok(result);
        };
        let refund = self.refund_by_id(refund_id).await?;
        if refund.kind != RefundKind::Auto || refund.status != RefundStatus::Processing {
            return Ok(result);
        }
        let payment = self.payment_by_id(&refund.payment_id).await?;
        let charged = self.charged_attempt(&refund, &payment).await?;
        let Some(connector) = self.channels.get(&charged.channel) else {
            return Ok(result);
        };
        let now = connector
            .query(&paycore_channels::QueryRequest {
                attempt_id: biz_id(&charged.attempt_id)?,
                channel_txn_id: charged.channel_txn_id.clone(),
            })
            .await
            .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
        Ok(match now {
            QueryOutcome::Canceled { channel_txn_id } => RefundResult::Reversed { channel_txn_id },
            _ => result,
        })
    }

    /// The refund's own attempt follows the result (a reversal means it was never needed).
    pub(super) async fn settle_refund_attempt(
        &self,
        tx: &mut dyn Conn,
        attempt: &Attempt,
        result: &RefundResult,
        source: ResultSource,
    ) -> Result<(), AcquiringError> {
        let (event, txn, error) = match result {
            RefundResult::Succeeded {
                channel_refund_id, ..
            } => (
                AttemptEvent::Succeeded,
                Some(channel_refund_id.as_str()),
                None,
            ),
            RefundResult::Failed { code, message } => (
                AttemptEvent::Failed,
                None,
                Some((code.as_str(), message.as_str())),
            ),
            RefundResult::Reversed { .. } => (AttemptEvent::Canceled, None, None),
            RefundResult::Pending => return Ok(()),
        };
        if attempt.status.next(event).is_some() {
            self.move_attempt(tx, attempt, event, source, txn, error)
                .await?;
        }
        Ok(())
    }

    /// The money went back: the refund voucher (its hold released), the payment's counters,
    /// and for a cancel the payment's move to `canceled`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn complete_refund(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
        payment: &Payment,
        channel: &str,
        channel_refund_id: Option<String>,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<Refund, AcquiringError> {
        // The hold gives way to the voucher that takes the money (in this order: the voucher
        // must not find its own amount still held), their accounts locked together first.
        self.lock_refund_accounts(tx, refund, channel).await?;
        self.release_hold(tx, refund).await?;
        let day = self.post_refund(tx, refund, channel).await?;
        match refund.kind {
            RefundKind::Merchant => {
                self.settle_reservation(tx, refund, payment, true).await?;
            }
            RefundKind::Cancel => {
                self.settle_reservation(tx, refund, payment, false).await?;
                let now = self.payment_in(tx, &payment.payment_id).await?;
                self.move_payment_or_conflict(
                    tx,
                    &now,
                    PaymentEvent::Cancel,
                    source,
                    &ids.event,
                    nothing,
                )
                .await?;
            }
            // It gives back a charge the payment never counted as paid.
            RefundKind::Auto => {}
        }
        self.move_refund(
            tx,
            refund,
            payment,
            RefundEvent::ChannelSucceeded,
            source,
            &ids.event,
            move |t| {
                t.set("channel_refund_id", channel_refund_id)
                    .set("accounting_day", day)
            },
        )
        .await
    }

    async fn fail_refund(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
        payment: &Payment,
        code: &str,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<Refund, AcquiringError> {
        self.release_hold(tx, refund).await?;
        match refund.kind {
            RefundKind::Merchant | RefundKind::Cancel => {
                self.settle_reservation(tx, refund, payment, false).await?;
            }
            RefundKind::Auto => {
                let channel = payment.channel.as_deref().unwrap_or("-");
                let detail = format!(
                    "the channel refused the automatic refund {} ({code}); the payer's {} {} \
                     is still with the platform",
                    refund.refund_id,
                    refund.amount.minor(),
                    refund.amount.currency()
                );
                self.alert_in(
                    tx,
                    channel,
                    AlertKind::AutoRefundFailed,
                    refund.payment_attempt_id.as_deref(),
                    &detail,
                )
                .await?;
            }
        }
        let code = code.to_string();
        self.move_refund(
            tx,
            refund,
            payment,
            RefundEvent::ChannelFailed,
            source,
            &ids.event,
            move |t| t.set("failure_code", code),
        )
        .await
    }

    /// Ends the refund's reservation on the payment row; `refunded` also counts it as given
    /// back. The guard makes a reservation that was never made an error, not a negative one.
    async fn settle_reservation(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
        payment: &Payment,
        refunded: bool,
    ) -> Result<(), AcquiringError> {
        let sql = if refunded {
            "UPDATE payments SET refunded_amount = refunded_amount + $1,
                refunding_amount = refunding_amount - $1, updated_at = $2
             WHERE payment_id = $3 AND refunding_amount >= $1"
        } else {
            "UPDATE payments SET refunding_amount = refunding_amount - $1, updated_at = $2
             WHERE payment_id = $3 AND refunding_amount >= $1"
        };
        let done = tx
            .execute(
                sql,
                &[
                    refund.amount.minor().into(),
                    self.now().into(),
                    payment.payment_id.as_str().into(),
                ],
            )
            .await?;
        if done != 1 {
            return Err(AcquiringError::Internal(format!(
                "refund {} has no reservation on payment {}",
                refund.refund_id, payment.payment_id
            )));
        }
        Ok(())
    }
}

//! The one transition function for a payment attempt's result, from any source (synchronous
//! answer, notification, browser return, query-back). The first word wins; a duplicate or
//! stale one changes nothing. A success for a payment that ended unpaid is booked and given
//! back automatically; a reversal of such a charge by the channel completes that refund.

use paycore_channels::QueryOutcome;
use paycore_kernel::state::StateMachine;
use paycore_store::Conn;

use crate::alerts::AlertKind;
use crate::channel::{biz_id, ChannelResult};
use crate::error::retry_conflicts;
use crate::error::AcquiringError;
use crate::machines::{AttemptStatus, PaymentEvent, PaymentStatus, RefundStatus};
use crate::model::{Applied, Attempt, AttemptKind, NextAction, Payment, RefundKind, ResultSource};
use crate::publish::nothing;
use crate::rows::ReservedIds;
use crate::Acquiring;

impl Acquiring {
    /// Applies a channel's word on a payment attempt. Results for an attempt that is already
    /// final are no-ops; a success of the wrong amount is refused and raises an alert.
    pub async fn apply_payment_result(
        &self,
        attempt_id: &str,
        result: ChannelResult,
        source: ResultSource,
    ) -> Result<Payment, AcquiringError> {
        self.apply_payment_result_from(None, attempt_id, result, source)
            .await
    }

    /// [`Acquiring::apply_payment_result`] of a message `channel` sent: refused unless the
    /// attempt is that channel's.
    pub(crate) async fn apply_payment_result_from(
        &self,
        channel: Option<&str>,
        attempt_id: &str,
        result: ChannelResult,
        source: ResultSource,
    ) -> Result<Payment, AcquiringError> {
        retry_conflicts(|| {
            self.apply_payment_result_once(channel, attempt_id, result.clone(), source)
        })
        .await
    }

    async fn apply_payment_result_once(
        &self,
        channel: Option<&str>,
        attempt_id: &str,
        result: ChannelResult,
        source: ResultSource,
    ) -> Result<Payment, AcquiringError> {
        let before = self.attempt_now(attempt_id).await?;
        before.reported_by(channel)?;
        if matches!(result, ChannelResult::Succeeded { .. })
            && !self.success_still_holds(&before, source).await?
        {
            return self.payment_by_id(&before.payment_id).await;
        }
        // Ids and the ledger's accounts are made ready before the unit of work, which awaits
        // nothing but its own statements.
        let may_refund = matches!(
            result,
            ChannelResult::Succeeded { .. } | ChannelResult::Canceled
        );
        let ids = self.reserve_ids(attempt_id, may_refund).await?;
        self.prepare_ledger(&before).await?;
        let me = self.clone();
        let attempt_id = attempt_id.to_owned();
        let applied = self
            .db
            .unit(move |tx| {
                Box::pin(async move {
                    me.apply_payment_unit(tx, &attempt_id, &result, source, &ids)
                        .await
                })
            })
            .await?;
        applied.or_refused("amount differs from the order")
    }

    /// The unit of work of a payment attempt's result: the attempt, the payment, the voucher
    /// and the event, or, for a success of the wrong amount, only the alert.
    pub(crate) async fn apply_payment_unit(
        &self,
        tx: &mut dyn Conn,
        attempt_id: &str,
        result: &ChannelResult,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<Applied<Payment>, AcquiringError> {
        let attempt = self.attempt_in(tx, attempt_id).await?;
        if attempt.kind != AttemptKind::Pay {
            return Err(AcquiringError::ChannelMessage(format!(
                "{attempt_id} is not a payment attempt"
            )));
        }
        if let ChannelResult::Succeeded { amount, .. } = result {
            if *amount != attempt.amount {
                let detail = format!(
                    "channel reports {amount} for an attempt of {} ({})",
                    attempt.amount,
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
        }
        let payment = self.payment_in(tx, &attempt.payment_id).await?;
        self.apply_in(tx, &payment, &attempt, result, source, ids)
            .await?;
        Ok(Applied::Done(Box::new(
            self.payment_in(tx, &attempt.payment_id).await?,
        )))
    }

    async fn apply_in(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        attempt: &Attempt,
        result: &ChannelResult,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<(), AcquiringError> {
        let Some(_) = attempt.status.next(result.event()) else {
            // Already final, or the same non-final state again: a duplicate, or news too late.
            if let ChannelResult::Pending {
                next_action: Some(action),
                ..
            } = result
            {
                self.set_next_action(tx, payment, action).await?;
            }
            return Ok(());
        };
        if attempt.status == AttemptStatus::Succeeded {
            // Only a reversal moves a succeeded attempt.
            return self.reversal(tx, payment, attempt, source, ids).await;
        }
        self.move_attempt(
            tx,
            attempt,
            result.event(),
            source,
            result.channel_txn_id(),
            result.error(),
        )
        .await?;
        let current = payment.attempt_id.as_deref() == Some(attempt.attempt_id.as_str());
        let open = matches!(
            payment.status,
            PaymentStatus::Created | PaymentStatus::Processing
        );
        match result {
            ChannelResult::Succeeded { channel_txn_id, .. } if current && open => {
                self.succeed(tx, payment, attempt, channel_txn_id, source, ids)
                    .await
            }
            ChannelResult::Succeeded { channel_txn_id, .. } => {
                self.late_success(tx, payment, attempt, channel_txn_id, source, ids)
                    .await
            }
            ChannelResult::Failed { code, message } if current && open => {
                let (code, message) = (code.clone(), message.clone());
                self.move_payment_or_conflict(
                    tx,
                    payment,
                    PaymentEvent::ChannelFailed,
                    source,
                    &ids.event,
                    move |t| {
                        t.set("failure_code", code)
                            .set("failure_message", message)
                            .set("next_action", None::<String>)
                    },
                )
                .await
            }
            ChannelResult::Pending {
                next_action,
                channel_txn_id,
            } => {
                if let Some(action) = next_action {
                    self.set_next_action(tx, payment, action).await?;
                }
                if let (Some(id), true) = (channel_txn_id, current) {
                    tx.execute(
                        "UPDATE payments SET channel_txn_id = $1 WHERE payment_id = $2",
                        &[id.as_str().into(), payment.payment_id.as_str().into()],
                    )
                    .await?;
                }
                Ok(())
            }
            ChannelResult::Unknown { .. }
                if current && payment.status == PaymentStatus::Created =>
            {
                self.move_payment_or_conflict(
                    tx,
                    payment,
                    PaymentEvent::ResultUnknown,
                    source,
                    &ids.event,
                    nothing,
                )
                .await
            }
            ChannelResult::Canceled if current && open => {
                self.move_payment_or_conflict(
                    tx,
                    payment,
                    PaymentEvent::Close,
                    source,
                    &ids.event,
                    |t| t.set("next_action", None::<String>),
                )
                .await
            }
            // A failure, unknown result or close of an attempt the payment no longer waits for.
            _ => Ok(()),
        }
    }

    /// The payment is paid: the charge is booked with the payment's fee, the payment moves to
    /// `succeeded` with its accounting day, and routing learns of the success — one commit.
    async fn succeed(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        attempt: &Attempt,
        channel_txn_id: &str,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<(), AcquiringError> {
        let day = self.post_charge(tx, payment, attempt, payment.fee).await?;
        let (txn, now) = (channel_txn_id.to_string(), self.now());
        let instruments = match (&self.paid_with, attempt.channel.as_str()) {
            (Some(w), crate::WALLET_CHANNEL) => w
                .paid_with(tx, channel_txn_id)
                .await?
                .map(|v| v.to_string()),
            _ => None,
        };
        self.move_payment_or_conflict(
            tx,
            payment,
            PaymentEvent::ChannelSucceeded,
            source,
            &ids.event,
            move |t| {
                t.set("channel_txn_id", txn)
                    .set("paid_at", now)
                    .set("accounting_day", day)
                    .set("instruments", instruments)
                    .set("next_action", None::<String>)
            },
        )
        .await?;
        self.router
            .record_success_in(tx, &attempt.channel, payment.payer_key(), payment.amount)
            .await?;
        Ok(())
    }

    /// The channel charged for a payment that is no longer waiting for it: book the money and
    /// give it back (an automatic refund).
    async fn late_success(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        attempt: &Attempt,
        channel_txn_id: &str,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<(), AcquiringError> {
        if self
            .refund_of_attempt(tx, &attempt.attempt_id, RefundKind::Auto)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let zero = paycore_kernel::Money::zero(payment.amount.currency());
        let day = self.post_charge(tx, payment, attempt, zero).await?;
        self.create_auto_refund(
            tx,
            payment,
            attempt,
            channel_txn_id,
            ids,
            day,
            &crate::refund::auto_refund_no(&attempt.attempt_id),
        )
        .await?;
        let detail = format!(
            "payment {} is {}; refunded automatically ({})",
            payment.payment_id,
            payment.status.as_str(),
            source.as_str()
        );
        self.alert_in(
            tx,
            &attempt.channel,
            AlertKind::LateSuccess,
            Some(&attempt.attempt_id),
            &detail,
        )
        .await?;
        tracing::warn!(target: "digest.biz", biz = "payment", from = payment.status.as_str(),
            to = payment.status.as_str(), code = "LATE_SUCCESS_REFUNDED",
            payment_id = %payment.payment_id, attempt_id = %attempt.attempt_id);
        Ok(())
    }

    /// The channel reversed a charge we booked. For a late charge this is its automatic
    /// refund, done by the channel; a reversal of a paid payment's charge is not ours to
    /// apply: it is an alert for operations.
    async fn reversal(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        attempt: &Attempt,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<(), AcquiringError> {
        let paid_by_it = payment.status == PaymentStatus::Succeeded
            && payment.attempt_id.as_deref() == Some(attempt.attempt_id.as_str());
        let auto = self
            .refund_of_attempt(tx, &attempt.attempt_id, RefundKind::Auto)
            .await?;
        let refund = match auto {
            _ if paid_by_it => None,
            Some(r) if r.status == RefundStatus::Processing => Some(r),
            // Its automatic refund was refused: the reversal gives the money back instead.
            Some(r) if r.status == RefundStatus::Failed => {
                let channel_txn_id = attempt.channel_txn_id.clone().unwrap_or_default();
                let charge_day = match r.charge_day {
                    Some(day) => day,
                    None => {
                        let engine = tx.engine();
                        paycore_ledger::engine::current_day(tx, engine).await?
                    }
                };
                Some(
                    self.create_auto_refund(
                        tx,
                        payment,
                        attempt,
                        &channel_txn_id,
                        ids,
                        charge_day,
                        &crate::refund::reversal_refund_no(&attempt.attempt_id),
                    )
                    .await?,
                )
            }
            // Given back already, or never booked: nothing to book.
            _ => None,
        };
        let Some(refund) = refund else {
            let detail = format!(
                "the channel reversed the charge of attempt {} ({}), which is not ours to undo",
                attempt.attempt_id,
                source.as_str()
            );
            return self
                .alert_in(
                    tx,
                    &attempt.channel,
                    AlertKind::UnexpectedReversal,
                    Some(&attempt.attempt_id),
                    &detail,
                )
                .await;
        };
        self.move_attempt(
            tx,
            attempt,
            crate::machines::AttemptEvent::Canceled,
            source,
            None,
            None,
        )
        .await?;
        self.complete_auto_by_reversal(tx, &refund, payment, attempt, source, ids)
            .await?;
        Ok(())
    }

    /// A success reported for an attempt we already hold as failed or canceled may be stale
    /// (sent before the channel reversed it): only the channel's current word decides whether
    /// money was really taken. False when it was not (recorded as an alert).
    async fn success_still_holds(
        &self,
        attempt: &Attempt,
        source: ResultSource,
    ) -> Result<bool, AcquiringError> {
        if !matches!(
            attempt.status,
            AttemptStatus::Failed | AttemptStatus::Canceled
        ) || source == ResultSource::Query
        {
            return Ok(true);
        }
        let connector = self
            .channels
            .get(&attempt.channel)
            .ok_or_else(|| AcquiringError::ChannelUnavailable(attempt.channel.clone()))?;
        let now = connector
            .query(&paycore_channels::QueryRequest {
                attempt_id: biz_id(&attempt.attempt_id)?,
                channel_txn_id: attempt.channel_txn_id.clone(),
            })
            .await
            // Unsure: refuse the message; the channel sends it again.
            .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
        if matches!(now, QueryOutcome::Succeeded { .. }) {
            return Ok(true);
        }
        let detail = format!(
            "{} reported success; the channel now says {now:?}",
            source.as_str()
        );
        self.alert(
            &attempt.channel,
            AlertKind::StaleSuccess,
            Some(&attempt.attempt_id),
            &detail,
        )
        .await?;
        Ok(false)
    }

    async fn set_next_action(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        action: &NextAction,
    ) -> Result<(), AcquiringError> {
        let json = serde_json::to_string(action)
            .map_err(|e| AcquiringError::Internal(format!("next_action: {e}")))?;
        tx.execute(
            "UPDATE payments SET next_action = $1, updated_at = $2
             WHERE payment_id = $3 AND status IN ($4, $5)",
            &[
                json.into(),
                self.now().into(),
                payment.payment_id.as_str().into(),
                PaymentStatus::Created.as_str().into(),
                PaymentStatus::Processing.as_str().into(),
            ],
        )
        .await?;
        Ok(())
    }
}

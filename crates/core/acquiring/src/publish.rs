//! Status moves of payments, attempts and refunds (through the store's executor), with the
//! business digest line and, for payments and refunds, the event: the merchant's notification
//! when it gave a URL, the outbox either way — all in the caller's transaction.

use paycore_notify::{self as notify, NewNotification};
use paycore_store::state::{Transition, TransitionError};
use paycore_store::Conn;
use serde_json::json;

use crate::error::AcquiringError;
use crate::machines::PaymentStatus;
use crate::machines::{AttemptEvent, AttemptStatus, PaymentEvent, RefundEvent, RefundStatus};
use crate::model::{Attempt, Payment, Refund, ResultSource};
use crate::Acquiring;

/// No other column changes with the move.
pub(crate) fn nothing<S: paycore_store::state::Stored>(t: Transition<S>) -> Transition<S> {
    t
}

impl Acquiring {
    /// Moves a payment by `event` (compare-and-set on its status, with `extra` columns), then
    /// writes the digest line and its event. False, with nothing written, when the payment
    /// moved meanwhile.
    pub(crate) async fn move_payment(
        &self,
        tx: &mut dyn Conn,
        before: &Payment,
        event: PaymentEvent,
        source: ResultSource,
        event_id: &str,
        extra: impl FnOnce(Transition<PaymentStatus>) -> Transition<PaymentStatus> + Send,
    ) -> Result<bool, AcquiringError> {
        let now = self.now();
        let t = extra(Transition::new(before.status, event, now).by(source.as_str()));
        let to = match t.apply(tx, before.payment_id.as_str()).await {
            Ok(to) => to,
            Err(TransitionError::Lost { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(target: "digest.biz", biz = "payment", step = "6.update_order",
            from = before.status.as_str(), to = to.as_str(), code = "OK", event = event.as_str(),
            source = source.as_str(), payment_id = %before.payment_id,
            amount = before.amount.minor(), currency = before.amount.currency().code(),
            product = before.product.as_str(), channel = before.channel.as_deref().unwrap_or("-"));
        let after = self.payment_in(tx, &before.payment_id).await?;
        let event_type = format!("payment.{}", to.as_str());
        tracing::info!(target: "digest.biz", biz = "payment", step = "7.publish", code = "OK",
            event = %event_type, event_id, payment_id = %before.payment_id,
            notify = before.notify_url.is_some());
        self.publish(
            tx,
            event_id,
            &event_type,
            &after,
            &after.payment_id,
            &self.views.payment(&after),
        )
        .await?;
        Ok(true)
    }

    /// [`Acquiring::move_payment`] where the payment is locked by the caller: a lost race is
    /// an error.
    pub(crate) async fn move_payment_or_conflict(
        &self,
        tx: &mut dyn Conn,
        before: &Payment,
        event: PaymentEvent,
        source: ResultSource,
        event_id: &str,
        extra: impl FnOnce(Transition<PaymentStatus>) -> Transition<PaymentStatus> + Send,
    ) -> Result<(), AcquiringError> {
        if self
            .move_payment(tx, before, event, source, event_id, extra)
            .await?
        {
            Ok(())
        } else {
            Err(AcquiringError::Concurrent(format!(
                "payment {}",
                before.payment_id
            )))
        }
    }

    /// Moves a channel attempt by `event`, recording the channel's id and error when given.
    pub(crate) async fn move_attempt(
        &self,
        tx: &mut dyn Conn,
        a: &Attempt,
        event: AttemptEvent,
        source: ResultSource,
        channel_txn_id: Option<&str>,
        error: Option<(&str, &str)>,
    ) -> Result<AttemptStatus, AcquiringError> {
        let mut t = Transition::new(a.status, event, self.now())
            .by(source.as_str())
            .set(
                "channel_txn_id",
                channel_txn_id.or(a.channel_txn_id.as_deref()),
            );
        if let Some((code, message)) = error {
            t = t
                .reason(Some(code))
                .set("error_code", code)
                .set("error_message", message);
        }
        Ok(t.apply(tx, a.attempt_id.as_str()).await?)
    }

    /// Moves a refund by `event` (with `extra` columns) and publishes `refund.<status>` — but
    /// a cancel's refund publishes nothing: its payment's move to `canceled` is the event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn move_refund(
        &self,
        tx: &mut dyn Conn,
        before: &Refund,
        payment: &Payment,
        event: RefundEvent,
        source: ResultSource,
        event_id: &str,
        extra: impl FnOnce(Transition<RefundStatus>) -> Transition<RefundStatus> + Send,
    ) -> Result<Refund, AcquiringError> {
        let t = extra(Transition::new(before.status, event, self.now()).by(source.as_str()));
        let to = t.apply(tx, before.refund_id.as_str()).await?;
        let after = self.refund_in(tx, &before.refund_id).await?;
        tracing::info!(target: "digest.biz", biz = "refund", from = before.status.as_str(),
            to = to.as_str(), code = "OK", kind = before.kind.as_str(), source = source.as_str(),
            refund_id = %before.refund_id, payment_id = %before.payment_id,
            amount = before.amount.minor(), currency = before.amount.currency().code());
        if before.kind != crate::model::RefundKind::Cancel {
            let event_type = format!("refund.{}", to.as_str());
            let data = self.views.refund(&after, payment);
            self.publish(tx, event_id, &event_type, payment, &after.refund_id, &data)
                .await?;
        }
        Ok(after)
    }

    /// The event of a change: the merchant's notification (when the payment has a notify URL)
    /// and the outbox, in the caller's transaction.
    async fn publish(
        &self,
        tx: &mut dyn Conn,
        event_id: &str,
        event_type: &str,
        payment: &Payment,
        object_id: &str,
        data: &serde_json::Value,
    ) -> Result<(), AcquiringError> {
        let now = self.now();
        match &payment.notify_url {
            Some(url) => {
                notify::enqueue(
                    tx,
                    &NewNotification {
                        event_id,
                        event_type,
                        merchant_id: &payment.merchant_id,
                        object_id,
                        notify_url: url,
                        data,
                        created_at: now,
                    },
                )
                .await?;
            }
            None => {
                let created_at = notify::rfc3339(now)?;
                let body = json!({"id": event_id, "type": event_type, "created_at": created_at,
                    "data": data})
                .to_string();
                paycore_store::outbox::append(
                    tx,
                    &paycore_store::outbox::NewEvent {
                        event_id,
                        topic: event_type,
                        aggregate_id: object_id,
                        shard_key: &payment.merchant_id,
                        payload: &body,
                        created_at: now,
                    },
                )
                .await?;
            }
        }
        Ok(())
    }
}

//! Closing an unpaid payment (the merchant's close, or its expiry). The channel is told too;
//! whatever it does — closes the order, or applies the close as a cancel of a charge that
//! arrived meanwhile — comes back through the attempt's transition function.

use paycore_channels::{CancelOutcome, CancelRequest};
use paycore_kernel::BizType;

use crate::channel::{biz_id, ChannelResult};
use crate::error::AcquiringError;
use crate::machines::{PaymentEvent, PaymentStatus};
use crate::model::{Payment, ResultSource};
use crate::Acquiring;

impl Acquiring {
    /// Closes an unpaid payment. Should the channel have charged anyway, its late success is
    /// refunded automatically.
    pub async fn close_payment(
        &self,
        merchant_id: &str,
        payment_id: &str,
        source: ResultSource,
    ) -> Result<Payment, AcquiringError> {
        let payment = self.payment(merchant_id, payment_id).await?;
        match payment.status {
            PaymentStatus::Closed => return Ok(payment),
            PaymentStatus::Created => {}
            other => {
                return Err(AcquiringError::InvalidState(format!(
                    "a {} payment cannot be closed",
                    other.as_str()
                )));
            }
        }
        let event_id = self.ids.next(BizType::Event, payment_id).await?.to_string();
        let mut tx = self.db.begin().await?;
        let closed = self
            .move_payment(
                &mut tx,
                &payment,
                PaymentEvent::Close,
                source,
                &event_id,
                |t| t.set("next_action", None::<String>),
            )
            .await?;
        if !closed {
            tx.rollback().await?;
            let now = self.payment_by_id(payment_id).await?;
            return match now.status {
                PaymentStatus::Closed => Ok(now),
                other => Err(AcquiringError::InvalidState(format!(
                    "a {} payment cannot be closed",
                    other.as_str()
                ))),
            };
        }
        tx.commit().await?;
        if let Some(attempt) = &payment.attempt_id {
            self.close_at_channel(&payment, attempt).await;
        }
        self.payment_by_id(payment_id).await
    }

    /// Tells the channel to close an attempt. Its answer goes through the attempt's state
    /// machine; anything but a final answer is left to the query-back job.
    async fn close_at_channel(&self, payment: &Payment, attempt_id: &str) {
        let Ok(attempt) = self.attempt_now(attempt_id).await else {
            return;
        };
        let (Some(connector), Ok(id)) = (self.channels.get(&attempt.channel), biz_id(attempt_id))
        else {
            return;
        };
        if self.db.durable().await.is_err() {
            return;
        }
        let outcome = connector
            .cancel(&CancelRequest {
                attempt_id: id,
                channel_txn_id: attempt.channel_txn_id.clone(),
                amount: payment.amount,
            })
            .await;
        if let Ok(CancelOutcome::Canceled { .. }) = outcome {
            if let Err(e) = self
                .apply_payment_result(attempt_id, ChannelResult::Canceled, ResultSource::Api)
                .await
            {
                tracing::warn!(target: "detail", attempt_id, error = %e,
                    "recording a channel close failed; the query-back records it");
            }
        }
    }
}

//! Cancel (撤销): a successful payment reversed in full on its own accounting day. It is a
//! refund of kind `cancel`: the whole amount is reserved on the payment row by compare-and-set
//! (so a refund reserved meanwhile is refused, and a cancel after a refund is refused), the
//! merchant's pending settlement is held, then the channel is asked — by its own cancel where
//! it has one, by a full refund otherwise. When the money is back the payment is `canceled`.

use paycore_kernel::BizType;

use crate::error::AcquiringError;
use crate::machines::{PaymentStatus, RefundStatus};
use crate::model::{Payment, Refund, RefundKind, ResultSource};
use crate::refund::cancel_refund_no;
use crate::refund::create::Reservation;
use crate::Acquiring;

impl Acquiring {
    pub async fn cancel_payment(
        &self,
        merchant_id: &str,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        let payment = self.payment(merchant_id, payment_id).await?;
        if payment.status == PaymentStatus::Canceled {
            return Ok(payment);
        }
        let cancel = match self.latest_refund(payment_id, RefundKind::Cancel).await? {
            // A cancel asked before: ask the channel again (it dedupes by the attempt).
            Some(r) if r.status == RefundStatus::Processing => r,
            Some(r) if r.status == RefundStatus::Failed => self.new_cancel(&payment).await?,
            Some(_) => return self.payment_by_id(payment_id).await,
            None => self.new_cancel(&payment).await?,
        };
        let attempt = self.attempt_now(&cancel.attempt_id).await?;
        let result = self.call_cancel(&cancel, &attempt, &payment).await?;
        let after = self
            .apply_refund_result(&cancel.attempt_id, result, ResultSource::Api)
            .await?;
        match after.status {
            RefundStatus::Succeeded => self.payment_by_id(payment_id).await,
            RefundStatus::Failed => Err(AcquiringError::InvalidState(format!(
                "the channel refused the cancel ({})",
                after.failure_code.as_deref().unwrap_or("no reason given")
            ))),
            RefundStatus::Processing => Err(AcquiringError::ChannelUnavailable(
                "the channel has not confirmed the cancel yet; it is being confirmed (the \
                 payment.canceled event follows), and asking again is safe"
                    .into(),
            )),
        }
    }

    /// Checks that the payment can be canceled today and reserves it for the cancel.
    async fn new_cancel(&self, payment: &Payment) -> Result<Refund, AcquiringError> {
        if payment.status != PaymentStatus::Succeeded {
            return Err(AcquiringError::InvalidState(format!(
                "a {} payment cannot be canceled",
                payment.status.as_str()
            )));
        }
        let today = self.ledger.current_day().await?;
        if payment.accounting_day != Some(today) {
            return Err(AcquiringError::InvalidState(
                "cancel is only possible on the payment's accounting day; refund instead".into(),
            ));
        }
        let (Some(channel), Some(payment_attempt)) = (&payment.channel, &payment.attempt_id) else {
            return Err(AcquiringError::Corrupt(format!(
                "succeeded payment {} without attempt",
                payment.payment_id
            )));
        };
        let refund_id = self.ids.next(BizType::Refund, &payment.merchant_id).await?;
        let attempt_id = self
            .ids
            .next(BizType::ChannelAttempt, &payment.merchant_id)
            .await?;
        self.ledger.ready().await?;
        self.ensure_accounts(&payment.merchant_id, channel, payment.amount.currency())
            .await?;
        // A failed cancel before this one keeps its number; this one gets its own.
        let no = match self
            .latest_refund(&payment.payment_id, RefundKind::Cancel)
            .await?
        {
            None => cancel_refund_no(&payment.payment_id),
            Some(_) => format!("{}:{}", cancel_refund_no(&payment.payment_id), refund_id),
        };
        let reservation = Reservation {
            payment,
            kind: RefundKind::Cancel,
            out_refund_no: &no,
            request_hash: "",
            amount: payment.amount,
            reason: Some("cancel"),
            refund_id: refund_id.as_str(),
            attempt_id: attempt_id.as_str(),
            channel,
            payment_attempt_id: payment_attempt,
        };
        match self.reserve_refund(&reservation).await? {
            Ok(r) | Err(r) => Ok(r),
        }
    }
}

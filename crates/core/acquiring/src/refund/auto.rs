//! Automatic refunds: a charge that came after its payment had ended unpaid (closed, failed, or
//! paid by another attempt) is booked and given back, so the money is neither kept nor lost. It
//! never touches the payment's own counters: the payment never counted that charge as paid.

use paycore_kernel::Money;
use paycore_store::{jobs, Conn};
use serde_json::json;

use super::create::Reservation;
use super::RefundResult;
use crate::error::AcquiringError;
use crate::jobs::JobKind;
use crate::machines::{AttemptEvent, AttemptStatus};
use crate::model::{Attempt, Payment, Refund, RefundKind, ResultSource};
use crate::rows::ReservedIds;
use crate::Acquiring;

impl Acquiring {
    /// Writes the automatic refund of `attempt`'s late charge (booked on `charge_day`) and
    /// schedules it to be sent to the channel at once (by a job, outside this transaction).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_auto_refund(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        attempt: &Attempt,
        channel_txn_id: &str,
        ids: &ReservedIds,
        charge_day: i64,
        out_refund_no: &str,
    ) -> Result<Refund, AcquiringError> {
        let (Some(refund_id), Some(refund_attempt)) = (&ids.refund, &ids.refund_attempt) else {
            return Err(AcquiringError::Internal(
                "no ids reserved for an automatic refund".into(),
            ));
        };
        let reason = format!(
            "late success on a {} payment (channel txn {channel_txn_id})",
            payment.status.as_str()
        );
        let r = Reservation {
            payment,
            kind: RefundKind::Auto,
            out_refund_no,
            request_hash: "",
            amount: attempt.amount,
            reason: Some(&reason),
            refund_id,
            attempt_id: refund_attempt,
            channel: &attempt.channel,
            payment_attempt_id: &attempt.attempt_id,
        };
        let zero = Money::zero(attempt.amount.currency());
        if !self
            .insert_refund(tx, &r, zero, None, Some(charge_day))
            .await?
        {
            return Err(AcquiringError::Concurrent(format!(
                "the automatic refund of attempt {}",
                attempt.attempt_id
            )));
        }
        jobs::enqueue(
            tx,
            JobKind::AutoRefund.as_str(),
            refund_attempt,
            &json!({"payment_attempt": attempt.attempt_id}).to_string(),
            self.now(),
        )
        .await?;
        self.refund_in(tx, refund_id).await
    }

    /// The channel reversed `charged`'s late charge itself (a close it applied as a cancel):
    /// the automatic refund is done without the channel being asked (or the channel's refusal
    /// of it is moot). Its own attempt is not needed any more, the charged attempt is canceled,
    /// and the reversal is booked as the refund.
    pub(crate) async fn complete_auto_by_reversal(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
        payment: &Payment,
        charged: &Attempt,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<Refund, AcquiringError> {
        let refund_attempt = self.attempt_in(tx, &refund.attempt_id).await?;
        let reversed = RefundResult::Reversed {
            channel_txn_id: charged.channel_txn_id.clone(),
        };
        self.settle_refund_attempt(tx, &refund_attempt, &reversed, source)
            .await?;
        let charged = self.attempt_in(tx, &charged.attempt_id).await?;
        if charged.status == AttemptStatus::Succeeded {
            self.move_attempt(tx, &charged, AttemptEvent::Canceled, source, None, None)
                .await?;
        }
        self.complete_refund(
            tx,
            refund,
            payment,
            &charged.channel,
            charged.channel_txn_id.clone(),
            source,
            ids,
        )
        .await
    }
}

//! What the cashier needs of acquiring for payments paid at the cashier (the wallet channel):
//! the payment locked in the cashier's own unit of work, so that a payer's plan and a close or
//! expiry of the payment are serialized; and the channel asked again once the payer has chosen.

use paycore_store::Conn;

use crate::channel::biz_id;
use crate::error::AcquiringError;
use crate::machines::PaymentStatus;
use crate::model::{Payment, ResultSource};
use crate::Acquiring;

impl Acquiring {
    /// A payment by id, for the payer's side (the member API checks who may pay it).
    pub async fn payment_for_payer(&self, payment_id: &str) -> Result<Payment, AcquiringError> {
        self.payment_by_id(payment_id).await
    }

    /// The payment, locked for the rest of `tx`, if it still waits for its payer (created and
    /// not past its expiry); else `InvalidState`.
    pub async fn open_payment_in(
        &self,
        tx: &mut dyn Conn,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        let p = self.payment_in(tx, payment_id).await?;
        if p.status != PaymentStatus::Created || p.expire_at <= self.now() {
            return Err(AcquiringError::InvalidState(format!(
                "the payment is {}, it can no longer be paid",
                match p.status {
                    PaymentStatus::Created => "expired",
                    other => other.as_str(),
                }
            )));
        }
        Ok(p)
    }

    /// Asks the payment's channel about its current attempt again and applies the answer:
    /// the payer acted since it was created (chose instruments at the cashier).
    pub async fn pay_now(&self, payment_id: &str) -> Result<Payment, AcquiringError> {
        let p = self.payment_by_id(payment_id).await?;
        let (PaymentStatus::Created, Some(attempt), Some(channel)) =
            (p.status, p.attempt_id.clone(), p.channel.clone())
        else {
            return Ok(p);
        };
        let (result, _) = self.call_pay(&p, &biz_id(&attempt)?, &channel).await;
        self.apply_payment_result(&attempt, result, ResultSource::Sync)
            .await
    }
}

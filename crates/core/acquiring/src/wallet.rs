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

/// What booking a wallet success needs made ready before the unit of work that books it (which
/// awaits nothing but its own statements): the attempt's ids and the ledger's accounts.
pub struct WalletSuccess {
    attempt_id: String,
    ids: crate::rows::ReservedIds,
}

impl Acquiring {
    /// Makes ready what [`Acquiring::apply_wallet_success_in`] needs for the payment's
    /// current attempt.
    pub async fn prepare_wallet_success(
        &self,
        payment: &Payment,
    ) -> Result<WalletSuccess, AcquiringError> {
        let attempt_id = payment
            .attempt_id
            .as_deref()
            .ok_or(AcquiringError::NotFound)?;
        // A success may be late (the payment closed meanwhile): then it is refunded at once.
        let ids = self.reserve_ids(attempt_id, true).await?;
        self.ledger.ready().await?;
        let channel = payment.channel.as_deref().unwrap_or(crate::WALLET_CHANNEL);
        self.ensure_accounts(&payment.merchant_id, channel, payment.amount.currency())
            .await?;
        Ok(WalletSuccess {
            attempt_id: attempt_id.to_string(),
            ids,
        })
    }

    /// The wallet channel's success of the attempt, applied in the caller's unit of work — the
    /// one that took the wallet's parts — exactly as its answer would be: the payment and its
    /// parts commit together.
    pub async fn apply_wallet_success_in(
        &self,
        tx: &mut dyn Conn,
        prepared: &WalletSuccess,
        plan_id: &str,
        amount: paycore_kernel::Money,
    ) -> Result<Payment, AcquiringError> {
        let result = crate::channel::ChannelResult::Succeeded {
            channel_txn_id: plan_id.to_string(),
            amount,
        };
        self.apply_payment_unit(
            tx,
            &prepared.attempt_id,
            &result,
            ResultSource::Sync,
            &prepared.ids,
        )
        .await?
        .or_refused("amount differs from the order")
    }
}

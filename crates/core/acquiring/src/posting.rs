//! Acquiring's vouchers (by posting rule) and the ledger holds that pay refunds: only the
//! ledger writes balances.

use paycore_kernel::{named, Currency, Money};
use paycore_ledger::accounts::account_no;
use paycore_ledger::{AccountRef, BusinessEvent, HoldRequest, LedgerError, NewAccount, PostError};
use paycore_store::Conn;

use crate::error::AcquiringError;
use crate::model::{Attempt, Payment, Refund};
use crate::Acquiring;

/// The transaction codes acquiring posts (the ledger's posting rules give their legs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voucher {
    /// A channel's charge: channel receivable, fee income, the merchant's pending settlement.
    PayBank,
    /// Money back through the channel, with the fee given back.
    RefundBankFee,
}
named!(Voucher { PayBank => "PAY_BANK", RefundBankFee => "REFUND_BANK_FEE" });

/// The merchant's pending settlement (待结算) and the channel's receivable.
const MERCHANT_PENDING: &str = "224101";
const MERCHANT_BALANCE: &str = "224102";
const CHANNEL_RECEIVABLE: &str = "112201";
const FEE_INCOME: &str = "600101";

/// Holds on refunds outlast their query-back (a day) by far; expiry is a last resort.
const REFUND_HOLD_MS: i64 = 30 * 86_400_000;

pub(crate) fn pending_account(merchant_id: &str, currency: Currency) -> String {
    account_no(MERCHANT_PENDING, merchant_id, currency.code(), 0)
}

pub(crate) fn balance_account(merchant_id: &str, currency: Currency) -> String {
    account_no(MERCHANT_BALANCE, merchant_id, currency.code(), 0)
}

impl Acquiring {
    /// Makes sure the ledger is set up and an attempt's accounts are open, outside any
    /// transaction of ours (SQLite has one writer connection, which the transaction would hold).
    pub(crate) async fn prepare_ledger(&self, attempt: &Attempt) -> Result<(), AcquiringError> {
        self.ledger.ready().await?;
        self.ensure_accounts(
            &attempt.merchant_id,
            &attempt.channel,
            attempt.amount.currency(),
        )
        .await
    }

    /// Opens (once) the ledger accounts a merchant's and a channel's postings use.
    pub(crate) async fn ensure_accounts(
        &self,
        merchant_id: &str,
        channel: &str,
        currency: Currency,
    ) -> Result<(), AcquiringError> {
        let key = format!("{merchant_id}/{channel}/{}", currency.code());
        if self
            .opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        self.ledger
            .open_accounts(&[
                NewAccount::customer(MERCHANT_PENDING, merchant_id, currency),
                NewAccount::customer(MERCHANT_BALANCE, merchant_id, currency),
                NewAccount::internal(CHANNEL_RECEIVABLE, channel, currency),
                NewAccount::internal(FEE_INCOME, "", currency),
            ])
            .await?;
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    /// Books a channel's charge for `payment` through `attempt`, with `fee`. Returns the
    /// accounting day of the voucher.
    pub(crate) async fn post_charge(
        &self,
        tx: &mut dyn Conn,
        payment: &Payment,
        attempt: &Attempt,
        fee: Money,
    ) -> Result<i64, AcquiringError> {
        let ev = BusinessEvent::new(
            &format!("{}.pay", attempt.attempt_id),
            Voucher::PayBank.as_str(),
            &payment.payment_id,
            attempt.amount,
        )
        .fee(fee)
        .party("merchant", &payment.merchant_id)
        .party("channel", &attempt.channel);
        self.post(tx, &[ev]).await
    }

    /// Books money given back through `channel` (a refund, a cancel, an automatic refund).
    pub(crate) async fn post_refund(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
        channel: &str,
    ) -> Result<i64, AcquiringError> {
        self.post(tx, &[refund_event(refund, channel)]).await
    }

    /// Locks, first in the transaction that completes a refund, every account its hold and
    /// its voucher touch, in the ledger's one order (no deadlock with concurrent postings).
    pub(crate) async fn lock_refund_accounts(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
        channel: &str,
    ) -> Result<(), AcquiringError> {
        let holds: Vec<&str> = refund.hold_no.as_deref().into_iter().collect();
        self.ledger
            .lock_in(tx, &[refund_event(refund, channel)], &holds)
            .await?;
        Ok(())
    }

    async fn post(
        &self,
        tx: &mut dyn Conn,
        events: &[BusinessEvent],
    ) -> Result<i64, AcquiringError> {
        let results = self.ledger.post_events_in(tx, events).await?;
        let mut day = None;
        for r in results {
            day = Some(r.map_err(LedgerError::from)?.day);
        }
        day.ok_or_else(|| AcquiringError::Internal("a posting produced no voucher".into()))
    }

    /// Holds what a refund takes from the merchant's pending settlement (its amount less the
    /// fee given back), in the refund's own transaction: the ledger checks the available
    /// balance with the accounts locked, so concurrent refunds cannot overdraw it. Returns the
    /// hold's number, or `None` when nothing is taken.
    pub(crate) async fn hold_for_refund(
        &self,
        tx: &mut dyn Conn,
        refund_id: &str,
        merchant_id: &str,
        channel: &str,
        net: Money,
    ) -> Result<Option<String>, AcquiringError> {
        if !net.is_positive() {
            return Ok(None);
        }
        let hold_no = format!("refund:{refund_id}");
        let held = self
            .ledger
            .hold_in(
                tx,
                &HoldRequest {
                    hold_no: hold_no.clone(),
                    debit: AccountRef::No(pending_account(merchant_id, net.currency())),
                    credit: AccountRef::No(account_no(
                        CHANNEL_RECEIVABLE,
                        channel,
                        net.currency().code(),
                        0,
                    )),
                    amount: net,
                    expires_at: self.now() + REFUND_HOLD_MS,
                    biz_ref: refund_id.to_string(),
                },
            )
            .await;
        match held {
            Ok(_) => Ok(Some(hold_no)),
            Err(LedgerError::Refused(PostError::Overdraft { available, .. })) => {
                Err(AcquiringError::InsufficientBalance(format!(
                    "the merchant's pending settlement ({available} {}) does not cover the refund",
                    net.currency()
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Releases a refund's hold (its voucher, posted in the same transaction, takes the money
    /// instead, or the refund failed). A hold already released by expiry is no error.
    pub(crate) async fn release_hold(
        &self,
        tx: &mut dyn Conn,
        refund: &Refund,
    ) -> Result<(), AcquiringError> {
        let Some(hold_no) = &refund.hold_no else {
            return Ok(());
        };
        match self.ledger.void_in(tx, hold_no).await {
            Ok(_) | Err(LedgerError::Refused(PostError::HoldNotPending { .. })) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The ledger's event of money given back through `channel`.
fn refund_event(refund: &Refund, channel: &str) -> BusinessEvent {
    BusinessEvent::new(
        &format!("{}.refund", refund.attempt_id),
        Voucher::RefundBankFee.as_str(),
        &refund.refund_id,
        refund.amount,
    )
    .fee(refund.fee_refund)
    .party("merchant", &refund.merchant_id)
    .party("channel", channel)
}

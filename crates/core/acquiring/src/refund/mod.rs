//! Refunds (M3): partial and several, never above what was paid — also under concurrent
//! requests, because the amount is reserved on the payment row by a compare-and-set before the
//! channel is asked, and what the merchant's pending settlement pays is held in the ledger in
//! the same transaction. Results arrive synchronously or later; each goes through
//! [`Acquiring::apply_refund_result`](crate::Acquiring::apply_refund_result).
//!
//! Three kinds share this path: the merchant's refunds, the merchant's cancel (the whole
//! payment, on its accounting day), and automatic refunds of charges that came after their
//! payment had ended unpaid.

mod apply;
mod auto;
pub(crate) mod create;

use paycore_kernel::Money;

/// How much of the payment's fee goes back to the merchant with a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeRefundPolicy {
    /// The platform keeps the whole fee.
    None,
    /// The fee in proportion to the amount refunded (the last refund takes the remainder, so
    /// a full refund returns the fee exactly).
    Proportional,
}

#[derive(Debug, Clone)]
pub struct NewRefund {
    pub merchant_id: String,
    /// The payment by platform id, or by the merchant's number.
    pub payment_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    pub amount: Money,
    pub reason: Option<String>,
}

pub use crate::channel::RefundResult;

/// Platform numbers of refunds the merchant did not number itself. `~` and `:` are outside
/// the merchant's alphabet, so they never meet a merchant's own number.
pub(crate) fn auto_refund_no(attempt_id: &str) -> String {
    format!("~auto:{attempt_id}")
}

/// The second automatic refund of a charge, made when the channel reversed a charge whose
/// first automatic refund it had refused.
pub(crate) fn reversal_refund_no(attempt_id: &str) -> String {
    format!("~reversal:{attempt_id}")
}

pub(crate) fn cancel_refund_no(payment_id: &str) -> String {
    format!("~cancel:{payment_id}")
}

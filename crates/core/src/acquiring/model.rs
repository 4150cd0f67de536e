//! Payments, channel attempts and refunds, and their state machines (declared tables).

use paycore_kernel::state::StateMachine;
use paycore_kernel::{Currency, Money};
use paycore_store::Row;
use serde::Serialize;

use super::AcquiringError;
use crate::product::Product;

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Result<Self, AcquiringError> {
                match s {
                    $($name => Ok($ty::$variant),)*
                    other => Err(AcquiringError::Corrupt(format!("{} {other:?}", stringify!($ty)))),
                }
            }
        }
    };
}

/// The payment states of `api.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Waiting for the payer (redirect page, QR code).
    Created,
    /// Sent to a channel, result not known yet.
    Processing,
    Succeeded,
    Failed,
    /// Ended unpaid (closed by the merchant or expired).
    Closed,
    /// Reversed in full on its accounting day (撤销).
    Canceled,
}
names!(PaymentStatus { Created => "created", Processing => "processing", Succeeded => "succeeded",
    Failed => "failed", Closed => "closed", Canceled => "canceled" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The channel's answer is not known (timeout): query back.
    ResultUnknown,
    ChannelSucceeded,
    ChannelFailed,
    /// Closed by the merchant, by expiry, or because the channel closed it.
    Close,
    Cancel,
}
names!(PaymentEvent { ResultUnknown => "result_unknown", ChannelSucceeded => "channel_succeeded",
    ChannelFailed => "channel_failed", Close => "close", Cancel => "cancel" });

impl StateMachine for PaymentStatus {
    type Event = PaymentEvent;
    const TRANSITIONS: &'static [(Self, PaymentEvent, Self)] = &[
        (
            PaymentStatus::Created,
            PaymentEvent::ResultUnknown,
            PaymentStatus::Processing,
        ),
        (
            PaymentStatus::Created,
            PaymentEvent::ChannelSucceeded,
            PaymentStatus::Succeeded,
        ),
        (
            PaymentStatus::Created,
            PaymentEvent::ChannelFailed,
            PaymentStatus::Failed,
        ),
        (
            PaymentStatus::Created,
            PaymentEvent::Close,
            PaymentStatus::Closed,
        ),
        (
            PaymentStatus::Processing,
            PaymentEvent::ChannelSucceeded,
            PaymentStatus::Succeeded,
        ),
        (
            PaymentStatus::Processing,
            PaymentEvent::ChannelFailed,
            PaymentStatus::Failed,
        ),
        (
            PaymentStatus::Processing,
            PaymentEvent::Close,
            PaymentStatus::Closed,
        ),
        (
            PaymentStatus::Succeeded,
            PaymentEvent::Cancel,
            PaymentStatus::Canceled,
        ),
    ];
}

/// A payment's attempt at one channel (also refund and cancel attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    Created,
    /// Accepted by the channel, waiting for the payer or the channel.
    Pending,
    /// We do not know what the channel did (timeout): queried back until final.
    Unknown,
    Succeeded,
    Failed,
    /// The channel closed or reversed it: nobody was charged.
    Canceled,
}
names!(AttemptStatus { Created => "created", Pending => "pending", Unknown => "unknown",
    Succeeded => "succeeded", Failed => "failed", Canceled => "canceled" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEvent {
    Accepted,
    Unknown,
    Succeeded,
    Failed,
    Canceled,
}
names!(AttemptEvent { Accepted => "accepted", Unknown => "unknown", Succeeded => "succeeded",
    Failed => "failed", Canceled => "canceled" });

impl StateMachine for AttemptStatus {
    type Event = AttemptEvent;
    const TRANSITIONS: &'static [(Self, AttemptEvent, Self)] = &[
        (
            AttemptStatus::Created,
            AttemptEvent::Accepted,
            AttemptStatus::Pending,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Unknown,
            AttemptStatus::Unknown,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Failed,
            AttemptStatus::Failed,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Unknown,
            AttemptStatus::Unknown,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Failed,
            AttemptStatus::Failed,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Accepted,
            AttemptStatus::Pending,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Failed,
            AttemptStatus::Failed,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ), // The channel charged after all (a query confirms it first): the attempt records the
        // truth, and the payment flow refunds the charge automatically.
        (
            AttemptStatus::Failed,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Canceled,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    Processing,
    Succeeded,
    Failed,
}
names!(RefundStatus { Processing => "processing", Succeeded => "succeeded", Failed => "failed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEvent {
    ChannelSucceeded,
    ChannelFailed,
}

impl StateMachine for RefundStatus {
    type Event = RefundEvent;
    const TRANSITIONS: &'static [(Self, RefundEvent, Self)] = &[
        (
            RefundStatus::Processing,
            RefundEvent::ChannelSucceeded,
            RefundStatus::Succeeded,
        ),
        (
            RefundStatus::Processing,
            RefundEvent::ChannelFailed,
            RefundStatus::Failed,
        ),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextAction {
    Redirect { url: String },
    QrCode { code: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub payment_id: String,
    pub merchant_id: String,
    pub out_trade_no: String,
    pub request_hash: String,
    pub product: Product,
    pub amount: Money,
    pub subject: String,
    pub payer: serde_json::Value,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub metadata: serde_json::Value,
    pub fee: Money,
    pub fee_rate_bps: i64,
    pub contract_version: i64,
    pub status: PaymentStatus,
    pub channel: Option<String>,
    pub attempt_id: Option<String>,
    pub channel_txn_id: Option<String>,
    pub next_action: Option<serde_json::Value>,
    pub refunded_amount: Money,
    pub refunding_amount: Money,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub accounting_day: Option<i64>,
    pub expire_at: i64,
    pub paid_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const PAYMENT_COLUMNS: &str = "payment_id, merchant_id, out_trade_no, request_hash, \
    product, amount, currency, subject, payer, notify_url, return_url, metadata, fee, fee_rate_bps, \
    contract_version, status, channel, attempt_id, channel_txn_id, next_action, refunded_amount, \
    refunding_amount, failure_code, failure_message, accounting_day, expire_at, paid_at, \
    created_at, updated_at";

fn json(r: &sqlx::any::AnyRow, col: &str) -> Result<serde_json::Value, AcquiringError> {
    let s: String = r.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| AcquiringError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn payment_from_row(r: &sqlx::any::AnyRow) -> Result<Payment, AcquiringError> {
    let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)?;
    let money = |col: &str| -> Result<Money, AcquiringError> {
        Ok(Money::from_minor(r.try_get(col)?, currency))
    };
    let product: String = r.try_get("product")?;
    let next_action: Option<String> = r.try_get("next_action")?;
    Ok(Payment {
        payment_id: r.try_get("payment_id")?,
        merchant_id: r.try_get("merchant_id")?,
        out_trade_no: r.try_get("out_trade_no")?,
        request_hash: r.try_get("request_hash")?,
        product: product
            .parse()
            .map_err(|_| AcquiringError::Corrupt(format!("product {product:?}")))?,
        amount: money("amount")?,
        subject: r.try_get("subject")?,
        payer: json(r, "payer")?,
        notify_url: r.try_get("notify_url")?,
        return_url: r.try_get("return_url")?,
        metadata: json(r, "metadata")?,
        fee: money("fee")?,
        fee_rate_bps: r.try_get("fee_rate_bps")?,
        contract_version: r.try_get("contract_version")?,
        status: PaymentStatus::parse(&r.try_get::<String, _>("status")?)?,
        channel: r.try_get("channel")?,
        attempt_id: r.try_get("attempt_id")?,
        channel_txn_id: r.try_get("channel_txn_id")?,
        next_action: next_action.and_then(|s| serde_json::from_str(&s).ok()),
        refunded_amount: money("refunded_amount")?,
        refunding_amount: money("refunding_amount")?,
        failure_code: r.try_get("failure_code")?,
        failure_message: r.try_get("failure_message")?,
        accounting_day: r.try_get("accounting_day")?,
        expire_at: r.try_get("expire_at")?,
        paid_at: r.try_get("paid_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt_id: String,
    pub kind: String,
    pub payment_id: String,
    pub refund_id: Option<String>,
    pub merchant_id: String,
    pub channel: String,
    pub amount: Money,
    pub status: AttemptStatus,
    pub channel_txn_id: Option<String>,
}

pub(crate) const ATTEMPT_COLUMNS: &str = "attempt_id, kind, payment_id, refund_id, merchant_id, \
    channel, amount, currency, status, channel_txn_id";

pub(crate) fn attempt_from_row(r: &sqlx::any::AnyRow) -> Result<Attempt, AcquiringError> {
    let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)?;
    Ok(Attempt {
        attempt_id: r.try_get("attempt_id")?,
        kind: r.try_get("kind")?,
        payment_id: r.try_get("payment_id")?,
        refund_id: r.try_get("refund_id")?,
        merchant_id: r.try_get("merchant_id")?,
        channel: r.try_get("channel")?,
        amount: Money::from_minor(r.try_get("amount")?, currency),
        status: AttemptStatus::parse(&r.try_get::<String, _>("status")?)?,
        channel_txn_id: r.try_get("channel_txn_id")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    pub merchant_id: String,
    pub out_refund_no: String,
    pub request_hash: String,
    pub payment_id: String,
    pub amount: Money,
    pub fee_refund: Money,
    pub reason: Option<String>,
    pub kind: String,
    pub status: RefundStatus,
    pub attempt_id: String,
    pub channel_refund_id: Option<String>,
    pub failure_code: Option<String>,
    pub accounting_day: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const REFUND_COLUMNS: &str = "refund_id, merchant_id, out_refund_no, request_hash, \
    payment_id, amount, currency, fee_refund, reason, kind, status, attempt_id, channel_refund_id, \
    failure_code, accounting_day, created_at, updated_at";

pub(crate) fn refund_from_row(r: &sqlx::any::AnyRow) -> Result<Refund, AcquiringError> {
    let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)?;
    Ok(Refund {
        refund_id: r.try_get("refund_id")?,
        merchant_id: r.try_get("merchant_id")?,
        out_refund_no: r.try_get("out_refund_no")?,
        request_hash: r.try_get("request_hash")?,
        payment_id: r.try_get("payment_id")?,
        amount: Money::from_minor(r.try_get("amount")?, currency),
        fee_refund: Money::from_minor(r.try_get("fee_refund")?, currency),
        reason: r.try_get("reason")?,
        kind: r.try_get("kind")?,
        status: RefundStatus::parse(&r.try_get::<String, _>("status")?)?,
        attempt_id: r.try_get("attempt_id")?,
        channel_refund_id: r.try_get("channel_refund_id")?,
        failure_code: r.try_get("failure_code")?,
        accounting_day: r.try_get("accounting_day")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unpaid_payments_close_and_only_paid_ones_cancel() {
        assert_eq!(
            PaymentStatus::Created.next(PaymentEvent::Close),
            Some(PaymentStatus::Closed)
        );
        assert_eq!(PaymentStatus::Succeeded.next(PaymentEvent::Close), None);
        assert_eq!(PaymentStatus::Created.next(PaymentEvent::Cancel), None);
        for s in [
            PaymentStatus::Failed,
            PaymentStatus::Closed,
            PaymentStatus::Canceled,
        ] {
            assert!(s.is_final(), "{s:?}");
        }
        assert!(AttemptStatus::Succeeded.is_final());
        assert_eq!(
            AttemptStatus::Unknown.next(AttemptEvent::Succeeded),
            Some(AttemptStatus::Succeeded)
        );
    }
}

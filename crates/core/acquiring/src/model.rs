//! Payments, channel attempts and refunds as records, their kinds, and row mapping.

use paycore_kernel::named;
use paycore_kernel::{Currency, Money};
use paycore_product::Product;
use paycore_store::unit::Row;
use serde::{Deserialize, Serialize};

use crate::error::{stored, AcquiringError};
use crate::machines::{AttemptStatus, PaymentStatus, RefundStatus};

/// What an attempt at a channel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptKind {
    Pay,
    Refund,
    Cancel,
}
named!(AttemptKind { Pay => "pay", Refund => "refund", Cancel => "cancel" });

/// Why money goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundKind {
    /// Asked for by the merchant (partial, several).
    Merchant,
    /// A charge that arrived after its payment ended unpaid, given back by the platform.
    Auto,
    /// The merchant's cancel (撤销): the whole payment on its accounting day.
    Cancel,
}
named!(RefundKind { Merchant => "merchant", Auto => "auto", Cancel => "cancel" });

/// Who reported a result (kept in the histories as the actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSource {
    Api,
    Sync,
    Notify,
    Return,
    Query,
    Job,
}
named!(ResultSource { Api => "api", Sync => "sync", Notify => "notify", Return => "return",
    Query => "query", Job => "job" });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextAction {
    Redirect {
        url: String,
    },
    QrCode {
        code: String,
    },
    /// The platform's cashier page (wallet payments).
    Cashier {
        url: String,
    },
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
    /// What paid it, for wallet payments (combination pay).
    pub instruments: Option<serde_json::Value>,
    pub refunded_amount: Money,
    /// Reserved by refunds and cancels in flight.
    pub refunding_amount: Money,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub accounting_day: Option<i64>,
    pub expire_at: i64,
    pub paid_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Attempt {
    /// Refuses the word of `channel` (when it is a channel's message) on an attempt that another
    /// channel carries.
    pub(crate) fn reported_by(&self, channel: Option<&str>) -> Result<(), AcquiringError> {
        match channel {
            Some(c) if c != self.channel => Err(AcquiringError::WrongChannel {
                carried_by: self.channel.clone(),
            }),
            _ => Ok(()),
        }
    }
}

impl Payment {
    /// What can still be refunded: the amount less what was refunded and what is reserved.
    pub fn refundable(&self) -> Result<Money, AcquiringError> {
        Ok(self
            .amount
            .checked_sub(self.refunded_amount)?
            .checked_sub(self.refunding_amount)?)
    }

    /// Who pays, for routing stickiness: the phone or the member.
    pub fn payer_key(&self) -> Option<&str> {
        self.payer
            .get("phone")
            .or(self.payer.get("member_id"))
            .and_then(|v| v.as_str())
    }
}

pub(crate) const PAYMENT_COLUMNS: &str = "payment_id, merchant_id, out_trade_no, request_hash, \
    product, amount, currency, subject, payer, notify_url, return_url, metadata, fee, fee_rate_bps, \
    contract_version, status, channel, attempt_id, channel_txn_id, next_action, instruments, \
    refunded_amount, \
    refunding_amount, failure_code, failure_message, accounting_day, expire_at, paid_at, \
    created_at, updated_at";

fn json(r: &Row, col: &str) -> Result<serde_json::Value, AcquiringError> {
    let s = r.text(col)?;
    serde_json::from_str(&s).map_err(|e| AcquiringError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn payment_from_row(r: &Row) -> Result<Payment, AcquiringError> {
    let currency = Currency::from_code(&r.text("currency")?)?;
    let money = |col: &str| -> Result<Money, AcquiringError> {
        Ok(Money::from_minor(r.int(col)?, currency))
    };
    let product = r.text("product")?;
    let next_action = r.opt_text("next_action")?;
    Ok(Payment {
        payment_id: r.text("payment_id")?,
        merchant_id: r.text("merchant_id")?,
        out_trade_no: r.text("out_trade_no")?,
        request_hash: r.text("request_hash")?,
        product: product
            .parse()
            .map_err(|_| AcquiringError::Corrupt(format!("product {product:?}")))?,
        amount: money("amount")?,
        subject: r.text("subject")?,
        payer: json(r, "payer")?,
        notify_url: r.opt_text("notify_url")?,
        return_url: r.opt_text("return_url")?,
        metadata: json(r, "metadata")?,
        fee: money("fee")?,
        fee_rate_bps: r.int("fee_rate_bps")?,
        contract_version: r.int("contract_version")?,
        status: stored("payment status", &r.text("status")?)?,
        channel: r.opt_text("channel")?,
        attempt_id: r.opt_text("attempt_id")?,
        channel_txn_id: r.opt_text("channel_txn_id")?,
        next_action: next_action
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| AcquiringError::Corrupt(format!("next_action: {e}")))?,
        instruments: r
            .opt_text("instruments")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| AcquiringError::Corrupt(format!("instruments: {e}")))?,
        refunded_amount: money("refunded_amount")?,
        refunding_amount: money("refunding_amount")?,
        failure_code: r.opt_text("failure_code")?,
        failure_message: r.opt_text("failure_message")?,
        accounting_day: r.opt_int("accounting_day")?,
        expire_at: r.int("expire_at")?,
        paid_at: r.opt_int("paid_at")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt_id: String,
    pub kind: AttemptKind,
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

pub(crate) fn attempt_from_row(r: &Row) -> Result<Attempt, AcquiringError> {
    let currency = Currency::from_code(&r.text("currency")?)?;
    Ok(Attempt {
        attempt_id: r.text("attempt_id")?,
        kind: stored("attempt kind", &r.text("kind")?)?,
        payment_id: r.text("payment_id")?,
        refund_id: r.opt_text("refund_id")?,
        merchant_id: r.text("merchant_id")?,
        channel: r.text("channel")?,
        amount: Money::from_minor(r.int("amount")?, currency),
        status: stored("attempt status", &r.text("status")?)?,
        channel_txn_id: r.opt_text("channel_txn_id")?,
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
    pub kind: RefundKind,
    pub status: RefundStatus,
    /// Its own attempt at the channel.
    pub attempt_id: String,
    /// The payment attempt whose charge it gives back.
    pub payment_attempt_id: Option<String>,
    pub channel_refund_id: Option<String>,
    pub failure_code: Option<String>,
    pub accounting_day: Option<i64>,
    /// For an automatic refund: the accounting day the late charge was booked on.
    pub charge_day: Option<i64>,
    /// The ledger hold on the merchant's pending settlement that pays it.
    pub hold_no: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const REFUND_COLUMNS: &str = "refund_id, merchant_id, out_refund_no, request_hash, \
    payment_id, amount, currency, fee_refund, reason, kind, status, attempt_id, \
    payment_attempt_id, channel_refund_id, failure_code, accounting_day, charge_day, hold_no, \
    created_at, updated_at";

pub(crate) fn refund_from_row(r: &Row) -> Result<Refund, AcquiringError> {
    let currency = Currency::from_code(&r.text("currency")?)?;
    Ok(Refund {
        refund_id: r.text("refund_id")?,
        merchant_id: r.text("merchant_id")?,
        out_refund_no: r.text("out_refund_no")?,
        request_hash: r.text("request_hash")?,
        payment_id: r.text("payment_id")?,
        amount: Money::from_minor(r.int("amount")?, currency),
        fee_refund: Money::from_minor(r.int("fee_refund")?, currency),
        reason: r.opt_text("reason")?,
        kind: stored("refund kind", &r.text("kind")?)?,
        status: stored("refund status", &r.text("status")?)?,
        attempt_id: r.text("attempt_id")?,
        payment_attempt_id: r.opt_text("payment_attempt_id")?,
        channel_refund_id: r.opt_text("channel_refund_id")?,
        failure_code: r.opt_text("failure_code")?,
        accounting_day: r.opt_int("accounting_day")?,
        charge_day: r.opt_int("charge_day")?,
        hold_no: r.opt_text("hold_no")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

/// What the unit of work of a channel's result did, for a payment or a refund.
pub(crate) enum Applied<T> {
    /// The result was applied (or changed nothing): the object as it stands now.
    Done(Box<T>),
    /// A success of another amount than asked for: an alert, and nothing else.
    AmountMismatch,
}

impl<T> Applied<T> {
    /// The object, or the refusal (`refusal`) of a result of the wrong amount.
    pub(crate) fn or_refused(self, refusal: &str) -> Result<T, AcquiringError> {
        match self {
            Applied::Done(t) => Ok(*t),
            Applied::AmountMismatch => Err(AcquiringError::ChannelMessage(refusal.into())),
        }
    }
}

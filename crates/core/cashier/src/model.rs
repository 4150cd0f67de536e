//! Plans, their parts and the refunds of the wallet channel as records, with their machines.

use paycore_kernel::state::{Named, StateMachine};
use paycore_kernel::{Currency, Money};
use paycore_store::state::{Stored, Table};
use serde::{Deserialize, Serialize};

use crate::CashierError;

/// An instrument as the payer names it (`POST /v1/members/me/payments/{id}/pay`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Instrument {
    Coupon { coupon_id: String },
    Balance { amount: i64 },
    Coin { amount: i64 },
    Credit { amount: i64 },
    Card { card_id: String, amount: i64 },
}

/// What a part of a payment is paid by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartKind {
    Coupon,
    Balance,
    Coin,
    Credit,
    Card,
}
paycore_kernel::named!(PartKind { Coupon => "COUPON", Balance => "BALANCE", Coin => "COIN",
    Credit => "CREDIT", Card => "CARD" });

impl PartKind {
    /// The order refunds give back in: the card first (the payer's bank money goes home),
    /// then credit (what the payer owes), balance, coins; the coupon last, and only with the
    /// refund that gives back the whole payment.
    pub const REFUND_ORDER: [PartKind; 5] = [
        PartKind::Card,
        PartKind::Credit,
        PartKind::Balance,
        PartKind::Coin,
        PartKind::Coupon,
    ];

    /// The posting rule of the part's payment (its way back is `{rule}_BACK`).
    pub(crate) fn rule(self) -> &'static str {
        match self {
            PartKind::Coupon => "WALLET_COUPON",
            PartKind::Balance => "WALLET_BALANCE",
            PartKind::Coin => "WALLET_COINS",
            PartKind::Credit => "WALLET_CREDIT",
            PartKind::Card => "WALLET_CARD",
        }
    }
}

/// One part of a plan: an instrument and what it pays, in the payment's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub seq: i64,
    pub kind: PartKind,
    pub amount: Money,
    pub refunded: Money,
    pub coupon_id: Option<String>,
    pub card_id: Option<String>,
    /// Coins spent for a coin part (XPC).
    pub coins: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanStatus {
    /// The wallet's parts are taken; the card part is with the bank.
    Executing,
    /// The bank's answer on the card part is not known: the query-back asks it.
    Unknown,
    Succeeded,
    /// A part was refused: everything taken was given back.
    Failed,
    /// The payment closed before it was paid: no plan may pay it any more.
    Closed,
}
paycore_kernel::named!(PlanStatus { Executing => "executing", Unknown => "unknown",
    Succeeded => "succeeded", Failed => "failed", Closed => "closed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanEvent {
    Succeed,
    Fail,
    Lose,
}
paycore_kernel::named!(PlanEvent { Succeed => "succeed", Fail => "fail", Lose => "lose" });

impl StateMachine for PlanStatus {
    type Event = PlanEvent;
    /// A plan without a card part is decided in the transaction that records it; a closed
    /// plan marks an attempt that was closed unpaid.
    const INITIAL: &'static [Self] = &[
        PlanStatus::Executing,
        PlanStatus::Succeeded,
        PlanStatus::Closed,
    ];
    const TRANSITIONS: &'static [(Self, PlanEvent, Self)] = &[
        (
            PlanStatus::Executing,
            PlanEvent::Succeed,
            PlanStatus::Succeeded,
        ),
        (PlanStatus::Executing, PlanEvent::Fail, PlanStatus::Failed),
        (PlanStatus::Executing, PlanEvent::Lose, PlanStatus::Unknown),
        (
            PlanStatus::Unknown,
            PlanEvent::Succeed,
            PlanStatus::Succeeded,
        ),
        (PlanStatus::Unknown, PlanEvent::Fail, PlanStatus::Failed),
    ];
}

impl Stored for PlanStatus {
    const TABLE: Table = Table {
        machine: "cashier plan",
        table: "cashier_plans",
        key: "plan_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "cashier_plan_history",
        history_key: "plan_id",
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WalletRefundStatus {
    /// The card part is with the bank.
    Processing,
    Succeeded,
    Failed,
}
paycore_kernel::named!(WalletRefundStatus { Processing => "processing",
    Succeeded => "succeeded", Failed => "failed" });

impl StateMachine for WalletRefundStatus {
    type Event = PlanEvent;
    const INITIAL: &'static [Self] = &[
        WalletRefundStatus::Processing,
        WalletRefundStatus::Succeeded,
    ];
    const TRANSITIONS: &'static [(Self, PlanEvent, Self)] = &[
        (
            WalletRefundStatus::Processing,
            PlanEvent::Succeed,
            WalletRefundStatus::Succeeded,
        ),
        (
            WalletRefundStatus::Processing,
            PlanEvent::Fail,
            WalletRefundStatus::Failed,
        ),
    ];
}

impl Stored for WalletRefundStatus {
    const TABLE: Table = Table {
        machine: "wallet refund",
        table: "cashier_refunds",
        key: "refund_attempt_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "cashier_refund_history",
        history_key: "refund_attempt_id",
    };
}

/// How one attempt of a payment is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub plan_id: String,
    pub payment_id: String,
    pub attempt_id: String,
    pub merchant_id: String,
    pub member_id: String,
    pub request_no: String,
    pub request_hash: String,
    pub amount: Money,
    pub status: PlanStatus,
    pub card_attempt: Option<String>,
    pub card_txn_id: Option<String>,
    pub fail_code: Option<String>,
    pub fail_message: Option<String>,
    pub parts: Vec<Part>,
}

impl Plan {
    pub fn card_part(&self) -> Option<&Part> {
        self.parts.iter().find(|p| p.kind == PartKind::Card)
    }
}

pub(crate) const PLAN_COLUMNS: &str = "plan_id, payment_id, attempt_id, merchant_id, member_id, \
    request_no, request_hash, amount, currency, status, card_attempt, card_txn_id, fail_code, \
    fail_message";

pub(crate) fn plan_from_row(
    r: &paycore_store::unit::Row,
    parts: Vec<Part>,
) -> Result<Plan, CashierError> {
    let corrupt = |w: &str| CashierError::Corrupt(w.to_string());
    let currency = Currency::from_code(&r.text("currency")?).map_err(|_| corrupt("currency"))?;
    Ok(Plan {
        plan_id: r.text("plan_id")?,
        payment_id: r.text("payment_id")?,
        attempt_id: r.text("attempt_id")?,
        merchant_id: r.text("merchant_id")?,
        member_id: r.text("member_id")?,
        request_no: r.text("request_no")?,
        request_hash: r.text("request_hash")?,
        amount: Money::from_minor(r.int("amount")?, currency),
        status: PlanStatus::parse(&r.text("status")?).ok_or_else(|| corrupt("status"))?,
        card_attempt: r.opt_text("card_attempt")?,
        card_txn_id: r.opt_text("card_txn_id")?,
        fail_code: r.opt_text("fail_code")?,
        fail_message: r.opt_text("fail_message")?,
        parts,
    })
}

pub(crate) fn part_from_row(
    r: &paycore_store::unit::Row,
    currency: Currency,
) -> Result<Part, CashierError> {
    let kind = PartKind::parse(&r.text("kind")?)
        .ok_or_else(|| CashierError::Corrupt("part kind".into()))?;
    let coins = r.opt_int("coins")?;
    Ok(Part {
        seq: r.int("seq")?,
        kind,
        amount: Money::from_minor(r.int("amount")?, currency),
        refunded: Money::from_minor(r.int("refunded")?, currency),
        coupon_id: r.opt_text("coupon_id")?,
        card_id: r.opt_text("card_id")?,
        coins,
    })
}

/// A plan's parts as the API lists a payment's `instruments`.
pub(crate) fn instruments_json(plan: &Plan) -> serde_json::Value {
    let parts: Vec<serde_json::Value> = plan
        .parts
        .iter()
        .map(|p| {
            let mut v = serde_json::json!({"type": p.kind.as_str(), "amount": p.amount.minor()});
            if let Some(c) = &p.coupon_id {
                v["coupon_id"] = c.as_str().into();
            }
            if let Some(c) = &p.card_id {
                v["card_id"] = c.as_str().into();
            }
            if let Some(c) = p.coins {
                v["coins"] = c.into();
            }
            v
        })
        .collect();
    serde_json::Value::Array(parts)
}

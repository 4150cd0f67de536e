//! A fund order as stored, its kinds and its status machine.

use paycore_kernel::state::{Named, StateMachine};
use paycore_kernel::{Currency, Money};
use paycore_store::state::{Stored, Table};
use paycore_store::Row;

use crate::FundError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundKind {
    TopUp,
    Transfer,
    Withdrawal,
}
paycore_kernel::named!(FundKind { TopUp => "top_up", Transfer => "transfer",
    Withdrawal => "withdrawal" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FundStatus {
    /// Sent to the bank, the result not known yet.
    Processing,
    Succeeded,
    Failed,
}
paycore_kernel::named!(FundStatus { Processing => "processing", Succeeded => "succeeded",
    Failed => "failed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundEvent {
    Succeed,
    Fail,
}
paycore_kernel::named!(FundEvent { Succeed => "succeed", Fail => "fail" });

impl StateMachine for FundStatus {
    type Event = FundEvent;
    /// A transfer is decided in the transaction that records it.
    const INITIAL: &'static [Self] = &[
        FundStatus::Processing,
        FundStatus::Succeeded,
        FundStatus::Failed,
    ];
    const TRANSITIONS: &'static [(Self, FundEvent, Self)] = &[
        (
            FundStatus::Processing,
            FundEvent::Succeed,
            FundStatus::Succeeded,
        ),
        (FundStatus::Processing, FundEvent::Fail, FundStatus::Failed),
    ];
}

impl Stored for FundStatus {
    const TABLE: Table = Table {
        machine: "fund order",
        table: "fund_orders",
        key: "order_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "fund_order_history",
        history_key: "order_id",
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundOrder {
    pub order_id: String,
    pub kind: FundKind,
    pub member_id: String,
    pub request_no: String,
    pub amount: Money,
    pub status: FundStatus,
    pub card_id: Option<String>,
    pub payee_id: Option<String>,
    pub fail_code: Option<String>,
    pub fail_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const ORDER_COLUMNS: &str = "order_id, kind, member_id, request_no, amount, currency, \
    status, card_id, payee_id, fail_code, fail_message, created_at, updated_at";

impl FundOrder {
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, FundError> {
        let corrupt = |w: &str| FundError::Corrupt(w.to_string());
        let kind: String = r.try_get("kind")?;
        let status: String = r.try_get("status")?;
        let currency: String = r.try_get("currency")?;
        let currency = Currency::from_code(&currency).map_err(|_| corrupt("currency"))?;
        Ok(FundOrder {
            order_id: r.try_get("order_id")?,
            kind: FundKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            member_id: r.try_get("member_id")?,
            request_no: r.try_get("request_no")?,
            amount: Money::from_minor(r.try_get("amount")?, currency),
            status: FundStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            card_id: r.try_get("card_id")?,
            payee_id: r.try_get("payee_id")?,
            fail_code: r.try_get("fail_code")?,
            fail_message: r.try_get("fail_message")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// Whether a repeated request names the same order (else it is a conflict).
    pub(crate) fn same_request(
        &self,
        amount: Money,
        card: Option<&str>,
        payee: Option<&str>,
    ) -> bool {
        self.amount == amount
            && self.card_id.as_deref() == card
            && self.payee_id.as_deref() == payee
    }
}

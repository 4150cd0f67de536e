//! An agreement as stored, its period and its status machine.

use paycore_kernel::state::{Named, StateMachine};
use paycore_kernel::{Currency, Money};
use paycore_store::state::{Stored, Table};
use paycore_store::Row;

use crate::AgreementError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgreementStatus {
    /// Waiting for the member's SMS code.
    Pending,
    Active,
    Terminated,
}
paycore_kernel::named!(AgreementStatus { Pending => "pending", Active => "active",
    Terminated => "terminated" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgreementEvent {
    Confirm,
    Terminate,
}
paycore_kernel::named!(AgreementEvent { Confirm => "confirm", Terminate => "terminate" });

impl StateMachine for AgreementStatus {
    type Event = AgreementEvent;
    const INITIAL: &'static [Self] = &[AgreementStatus::Pending];
    const TRANSITIONS: &'static [(Self, AgreementEvent, Self)] = &[
        (
            AgreementStatus::Pending,
            AgreementEvent::Confirm,
            AgreementStatus::Active,
        ),
        (
            AgreementStatus::Pending,
            AgreementEvent::Terminate,
            AgreementStatus::Terminated,
        ),
        (
            AgreementStatus::Active,
            AgreementEvent::Terminate,
            AgreementStatus::Terminated,
        ),
    ];
}

impl Stored for AgreementStatus {
    const TABLE: Table = Table {
        machine: "agreement",
        table: "agreements",
        key: "agreement_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "agreement_history",
        history_key: "agreement_id",
    };
}

/// The period the agreement's amount limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}
paycore_kernel::named!(Period { Day => "DAY", Month => "MONTH" });

/// What a merchant asks to sign.
#[derive(Debug, Clone)]
pub struct NewAgreement {
    pub out_agreement_no: String,
    pub member_phone: String,
    pub card_id: Option<String>,
    /// At most this much per period.
    pub max_amount: Money,
    pub period: Period,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub agreement_id: String,
    pub merchant_id: String,
    pub out_agreement_no: String,
    pub member_id: String,
    pub card_id: Option<String>,
    pub max_amount: Money,
    pub period: Period,
    pub status: AgreementStatus,
    pub signed_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const AGREEMENT_COLUMNS: &str = "agreement_id, merchant_id, out_agreement_no, \
    member_id, card_id, max_amount, currency, period, status, signed_at, terminated_at, \
    created_at, updated_at";

impl Agreement {
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, AgreementError> {
        let corrupt = |w: &str| AgreementError::Corrupt(w.to_string());
        let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)
            .map_err(|_| corrupt("currency"))?;
        let period: String = r.try_get("period")?;
        let status: String = r.try_get("status")?;
        Ok(Agreement {
            agreement_id: r.try_get("agreement_id")?,
            merchant_id: r.try_get("merchant_id")?,
            out_agreement_no: r.try_get("out_agreement_no")?,
            member_id: r.try_get("member_id")?,
            card_id: r.try_get("card_id")?,
            max_amount: Money::from_minor(r.try_get("max_amount")?, currency),
            period: Period::parse(&period).ok_or_else(|| corrupt("period"))?,
            status: AgreementStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            signed_at: r.try_get("signed_at")?,
            terminated_at: r.try_get("terminated_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// Whether a repeated create names this agreement (else it is a conflict).
    pub(crate) fn same(&self, new: &NewAgreement, member_id: &str) -> bool {
        self.member_id == member_id
            && self.card_id == new.card_id
            && self.max_amount == new.max_amount
            && self.period == new.period
    }
}

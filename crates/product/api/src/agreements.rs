//! Agreements (`/v1/agreements`): a merchant's standing permission to debit a member, signed
//! with the member's SMS code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{Amount, CurrencyCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PeriodName {
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "MONTH")]
    Month,
}

/// `POST /v1/agreements`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgreement {
    /// The merchant's own number; the same number again is the same agreement.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub out_agreement_no: String,
    /// The phone the member registered with: the code goes there.
    pub member_phone: String,
    /// A bound card of the member's to debit (else the member's balance).
    #[serde(default)]
    pub card_id: Option<String>,
    /// At most this much per period.
    pub max_amount: Amount,
    pub currency: CurrencyCode,
    pub period: PeriodName,
}

/// `POST /v1/agreements/{id}/confirm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmAgreement {
    /// The code the member received.
    #[schema(pattern = "^[0-9]{6}$")]
    pub sms_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatusName {
    Pending,
    Active,
    Terminated,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgreementObject {
    pub id: String,
    pub out_agreement_no: String,
    pub member_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_id: Option<String>,
    pub max_amount: i64,
    pub currency: CurrencyCode,
    pub period: PeriodName,
    pub status: AgreementStatusName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

//! Limits (the quota center): what operators set.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{Amount, CurrencyCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum QuotaScopeName {
    #[serde(rename = "MEMBER")]
    Member,
    #[serde(rename = "MERCHANT")]
    Merchant,
    #[serde(rename = "CARD")]
    Card,
    #[serde(rename = "PRODUCT")]
    Product,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum QuotaPeriodName {
    #[serde(rename = "SINGLE")]
    Single,
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "MONTH")]
    Month,
    #[serde(rename = "YEAR")]
    Year,
}

/// `POST /admin/v1/quotas`: a limit, or a new amount for the same scope, subject, period and
/// currency.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuota {
    pub scope: QuotaScopeName,
    /// The member, merchant or card id, or the product (`TRANSFER`, `TOP_UP`, `WITHDRAWAL`, or
    /// a payment product).
    #[schema(min_length = 1, max_length = 64)]
    pub subject: String,
    pub period: QuotaPeriodName,
    pub amount: Amount,
    pub currency: CurrencyCode,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuotaObject {
    pub rule_id: String,
    pub scope: QuotaScopeName,
    pub subject: String,
    pub period: QuotaPeriodName,
    pub amount: i64,
    pub currency: CurrencyCode,
    pub updated_at: String,
}

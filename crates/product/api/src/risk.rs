//! Risk rules for operators (`/admin/v1/risk/rules`) and the payer's step-up (`verify`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::CurrencyCode;
use crate::members::SecretText;

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskRuleKind {
    /// The amount is at least `threshold`.
    Amount,
    /// The subject paid `max_count` times or more in the last `window_seconds`.
    Velocity,
    /// The subject's value is one of `values`.
    Blacklist,
    /// The member pays from a device their history does not have.
    NewDevice,
    /// The amount is at least `threshold`: flagged for anti-money-laundering review.
    LargeAmount,
}

/// Whose payments a velocity or blacklist rule counts or lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskSubject {
    Member,
    Card,
    Device,
    Ip,
}

/// What a rule that fires asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskAction {
    Allow,
    Challenge,
    Block,
}

/// `POST /admin/v1/risk/rules`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRiskRule {
    pub name: String,
    pub kind: RiskRuleKind,
    #[serde(default)]
    pub subject: Option<RiskSubject>,
    /// Minor units (AMOUNT, LARGE_AMOUNT).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub threshold: Option<i64>,
    #[serde(default)]
    pub currency: Option<CurrencyCode>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2678400)]
    pub window_seconds: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_count: Option<i64>,
    #[serde(default)]
    pub values: Vec<String>,
    pub action: RiskAction,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// `POST /admin/v1/risk/rules/{rule_id}/status`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskRuleStatus {
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RiskRuleObject {
    pub rule_id: String,
    pub name: String,
    pub kind: RiskRuleKind,
    pub subject: Option<RiskSubject>,
    pub threshold: Option<i64>,
    pub currency: Option<CurrencyCode>,
    pub window_seconds: Option<i64>,
    pub max_count: Option<i64>,
    pub values: Vec<String>,
    pub action: RiskAction,
    pub enabled: bool,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RiskRuleList {
    pub rules: Vec<RiskRuleObject>,
}

/// `POST /v1/members/me/payments/{payment_id}/verify`: the SMS code sent for the payment, or
/// the pay password.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPayment {
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$")]
    pub sms_code: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    #[serde(default)]
    pub pay_password: Option<SecretText>,
}

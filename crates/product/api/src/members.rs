//! The member (wallet) API: payers register, log in and manage their security settings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{CurrencyCode, NonNegative};

/// `POST /v1/members` and `POST /v1/members/login`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberCredentials {
    /// A mobile number: 11 digits (1[3-9]…), or `+` and 8 to 15 digits.
    pub phone: String,
    /// 8 to 64 characters with letters and digits.
    #[schema(min_length = 8, max_length = 64)]
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatusName {
    Active,
    Frozen,
    Closed,
}

/// `201` of `POST /v1/members`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisteredMember {
    pub member_id: String,
    /// Masked: `138****8000`.
    pub phone: String,
    pub status: MemberStatusName,
}

/// A login: the bearer token for `/v1/members/me/…`, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberLogin {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// An amount with its currency (minor units).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyAmount {
    pub amount: NonNegative,
    pub currency: CurrencyCode,
}

/// `GET /v1/members/me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberMe {
    pub member_id: String,
    /// Masked: `138****8000`.
    pub phone: String,
    pub status: MemberStatusName,
    pub real_name_verified: bool,
    pub has_pay_password: bool,
    /// Payments up to this amount need no pay password (0: every payment asks).
    pub password_free_limit: MoneyAmount,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsPurposeName {
    /// Setting or changing the pay password.
    PayPassword,
    /// Confirming a payment that asked for verification.
    Payment,
    /// Signing an agreement a merchant asked for.
    Agreement,
}

/// `POST /v1/members/me/sms`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSms {
    pub purpose: SmsPurposeName,
}

/// A code was sent to the member's phone.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SmsSent {
    pub purpose: SmsPurposeName,
    /// The phone it went to, masked.
    pub phone: String,
    /// When the code stops working (RFC 3339).
    pub expires_at: String,
}

/// `POST /v1/members/me/real-name`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RealName {
    #[schema(min_length = 2, max_length = 30)]
    pub name: String,
    /// The 18-character resident identity number.
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
}

/// `PUT /v1/members/me/pay-password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPayPassword {
    /// 6 digits, not repeated or consecutive.
    #[schema(pattern = "^[0-9]{6}$")]
    pub pay_password: String,
    /// A code sent for `pay_password`.
    #[schema(pattern = "^[0-9]{6}$")]
    pub sms_code: String,
}

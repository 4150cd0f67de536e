//! The member (wallet) API: payers register, log in and manage their security settings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{Amount, CurrencyCode, NonNegative};

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

/// A secret typed by the payer (a card number, a security code): taken only from a JSON string,
/// and never repeated — not in an error, not in a log.
#[derive(Debug, Clone)]
pub struct SecretText(pub paycore_kernel::Secret<String>);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SecretText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string of digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v.len() > 32 {
                    return Err(E::custom("too long"));
                }
                Ok(SecretText(paycore_kernel::Secret::new(v.to_string())))
            }
            // Any other JSON type is refused without echoing what it was.
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Err(E::custom("a string of digits is expected"))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Err(E::custom("a string of digits is expected"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("a string of digits is expected"))
            }
        }
        // `any`, not `str`: for a number serde_json would otherwise quote it in its error.
        d.deserialize_any(V)
    }
}

/// `POST /v1/members/me/cards`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindCard {
    /// The card number (12 to 19 digits). Sealed at once; never shown again.
    #[schema(value_type = String, pattern = "^[0-9 ]{12,23}$")]
    pub pan: SecretText,
    #[schema(min_length = 1, max_length = 64)]
    pub holder_name: String,
    /// `MM/YY`.
    #[schema(pattern = "^[0-9]{2}/[0-9]{2}$")]
    pub expiry: String,
    /// The security code, for the bank's check at binding; never stored.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{3,4}$")]
    #[serde(default)]
    pub cvv: Option<SecretText>,
    /// The mobile number the bank has for the card: the bank's code goes there.
    pub phone: String,
}

/// `POST /v1/members/me/cards/{card_id}/confirm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmCard {
    /// The code the bank texted.
    #[schema(pattern = "^[0-9]{6}$")]
    pub sms_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardStatusName {
    Pending,
    Bound,
    Failed,
    Unbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardTypeName {
    Debit,
    Credit,
}

/// A member's card: never its number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardObject {
    pub card_id: String,
    pub status: CardStatusName,
    /// First 6 and last 4 digits: `622202******0128`.
    pub masked_pan: String,
    pub brand: String,
    pub bank: String,
    pub card_type: CardTypeName,
    /// The card's phone, masked.
    pub phone: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /v1/members/me/cards`: the bound cards.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardList {
    pub cards: Vec<CardObject>,
}

/// One asset of the wallet (minor units; coins are whole).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssetBalanceObject {
    /// `CNY` (the balance) or `XPC` (the virtual coin).
    pub asset: String,
    pub available: i64,
    /// Held for payments and withdrawals in flight.
    pub pending: i64,
}

/// The member's credit line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditObject {
    pub currency: CurrencyCode,
    pub limit: i64,
    pub used: i64,
    pub available: i64,
}

/// `GET /v1/members/me/balance`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberBalance {
    pub balances: Vec<AssetBalanceObject>,
    pub credit: CreditObject,
}

/// `POST /v1/members/me/top-ups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    /// The member's own number of the request; the same number again is the same top-up.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_no: String,
    pub amount: Amount,
    pub currency: CurrencyCode,
    /// A bound card of the member's.
    pub card_id: String,
}

/// `POST /v1/members/me/transfers`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_no: String,
    /// The phone the receiving member registered with.
    pub to_phone: String,
    pub amount: Amount,
    pub currency: CurrencyCode,
    /// Required unless the amount is within the password-free limit.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    #[serde(default)]
    pub pay_password: Option<SecretText>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FundKindName {
    TopUp,
    Transfer,
    Withdrawal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FundStatusName {
    Processing,
    Succeeded,
    Failed,
}

/// A top-up, transfer or withdrawal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FundOrderObject {
    pub id: String,
    pub kind: FundKindName,
    pub request_no: String,
    pub amount: i64,
    pub currency: CurrencyCode,
    pub status: FundStatusName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_id: Option<String>,
    /// The receiving member of a transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_member_id: Option<String>,
    /// Why it failed (the bank's code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /v1/members/me/withdrawals`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_no: String,
    /// A bound card of the member's: the money goes there.
    pub card_id: String,
    pub amount: Amount,
    pub currency: CurrencyCode,
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub pay_password: SecretText,
}

/// `POST /admin/v1/members/{member_id}/status`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberStatusChange {
    /// `freeze`, `unfreeze` or `close`.
    pub event: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

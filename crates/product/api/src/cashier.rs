//! The cashier's calls of the member API: what a member can pay a payment with, paying it
//! with instruments (combination pay), and the credit line's bills and repayments; and the
//! operator's credit lines.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{Amount, CurrencyCode, NonNegative};
use crate::members::SecretText;
use crate::payments::PaymentObject;

/// One instrument of a payment (`instruments` of the pay call and of a payment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum InstrumentInput {
    /// A coupon of the member's: takes its discount off the payment.
    Coupon {
        coupon_id: String,
    },
    Balance {
        amount: Amount,
    },
    /// Coins, by the money they pay (minor units of the payment's currency).
    Coin {
        amount: Amount,
    },
    Credit {
        amount: Amount,
    },
    /// A bound card, charged by quick pay.
    Card {
        card_id: String,
        amount: Amount,
    },
}

/// `POST /v1/members/me/payments/{payment_id}/pay`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayPayment {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_no: String,
    /// They must add up to the payment's amount exactly (a coupon counts its discount).
    pub instruments: Vec<InstrumentInput>,
    /// Required unless the amount is within the password-free limit.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    #[serde(default)]
    pub pay_password: Option<SecretText>,
}

/// What paid a payment, one per instrument.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstrumentObject {
    /// `COUPON`, `BALANCE`, `COIN`, `CREDIT` or `CARD`.
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_id: Option<String>,
    /// Coins spent, for a coin part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coins: Option<i64>,
}

/// A coupon that applies to the payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponMethodObject {
    pub coupon_id: String,
    /// What it takes off this payment, minor units.
    pub discount: i64,
    #[schema(format = DateTime)]
    pub valid_until: String,
}

/// A bound card the payment can be charged to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardMethodObject {
    pub card_id: String,
    pub masked_pan: String,
    pub bank: String,
    pub brand: String,
    pub card_type: String,
}

/// A wallet asset the payment can use, with what is available.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AvailableObject {
    /// Available, minor units of the payment's currency.
    pub available: i64,
    /// Whether it alone covers the payment.
    pub sufficient: bool,
}

/// Coins, with what they are worth.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoinsObject {
    pub coins: i64,
    /// Their worth in the payment's currency, minor units.
    pub available: i64,
    pub sufficient: bool,
}

/// `GET /v1/members/me/payments/{payment_id}/methods`: only what this payment's product
/// admits and this member has.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentMethods {
    pub payment_id: String,
    pub merchant_name: String,
    pub subject: String,
    pub amount: i64,
    pub currency: CurrencyCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<AvailableObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coins: Option<CoinsObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit: Option<AvailableObject>,
    pub coupons: Vec<CouponMethodObject>,
    pub cards: Vec<CardMethodObject>,
}

/// The pay call's answer: the payment.
pub type PaidPayment = PaymentObject;

/// `POST /admin/v1/members/{member_id}/credit`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCreditLine {
    pub limit: NonNegative,
    pub currency: CurrencyCode,
}

/// A member's credit line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditLineObject {
    pub member_id: String,
    pub currency: CurrencyCode,
    pub limit: i64,
    pub used: i64,
    pub available: i64,
}

/// One month of the credit line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditBillObject {
    /// `YYYY-MM`.
    pub month: String,
    pub currency: CurrencyCode,
    pub spent: i64,
    pub given_back: i64,
    pub repaid: i64,
    /// Owed when the month closed (or now, for the current month).
    pub closing_used: i64,
    /// `YYYY-MM-DD`.
    pub due_date: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditBills {
    pub bills: Vec<CreditBillObject>,
}

/// Where a repayment's money comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RepaymentSource {
    Balance,
    Card,
}

/// `POST /v1/members/me/credit/repayments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Repay {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_no: String,
    pub amount: Amount,
    pub currency: CurrencyCode,
    pub source: RepaymentSource,
    #[serde(default)]
    pub card_id: Option<String>,
}

/// `POST /admin/v1/members/{member_id}/coins`: issue coins to a member (a reward, a promotion).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCoins {
    /// The operator's own number: the same number again issues nothing again.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_no: String,
    #[schema(minimum = 1, maximum = 1000000000)]
    pub coins: i64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The member's coins after a grant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoinsBalance {
    pub member_id: String,
    /// Coins available (XPC).
    pub coins: i64,
}

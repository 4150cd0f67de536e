//! Payments and refunds of the merchant API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{printable, Amount, CurrencyCode, ProductCode};

/// `POST /v1/payments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The merchant's own number of the order; the same number again is the same payment.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub out_trade_no: String,
    pub amount: Amount,
    pub currency: CurrencyCode,
    /// What is paid for, as the payer will see it.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub subject: String,
    /// Products served through channels today: NET_BANK, ALIPAY, WECHAT, PHONE_BILL, QUICK_PAY.
    pub product: ProductCode,
    #[serde(default, deserialize_with = "crate::fields::object_opt")]
    pub payer: Option<Payer>,
    /// Where the platform posts the signed notifications of this payment.
    #[serde(default)]
    #[schema(max_length = 512, pattern = "^https?://")]
    pub notify_url: Option<String>,
    /// Where the payer's browser goes after paying on a channel's page.
    #[serde(default)]
    #[schema(max_length = 512, pattern = "^https?://")]
    pub return_url: Option<String>,
    /// Seconds until an unpaid payment closes (default 1800).
    #[serde(default)]
    #[schema(minimum = 60, maximum = 604800)]
    pub expire_seconds: Option<i64>,
    /// Must equal `currency` for now.
    #[serde(default)]
    pub settle_currency: Option<CurrencyCode>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// Who pays, as far as the product needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    /// The payer's phone number (PHONE_BILL needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^\\+?[0-9]{5,20}$")]
    pub phone: Option<String>,
    /// The payer's member id on the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{32}$")]
    pub member_id: Option<String>,
    /// The payer's IP address (IPv4 or IPv6), for risk checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 45)]
    pub client_ip: Option<String>,
}

/// The merchant's own key-value pairs, echoed back: at most 50 keys of 1 to 64 characters,
/// values of at most 512 characters, no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(pub BTreeMap<String, String>);

impl utoipa::PartialSchema for Metadata {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
        let value = ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .max_length(Some(512));
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
            .max_properties(Some(50))
            .description(Some(
                "the merchant's own key-value pairs, echoed back: at most 50 keys of 1 to 64 \
                 characters, string values of at most 512 characters",
            ))
            .into()
    }
}

impl ToSchema for Metadata {}

impl Payer {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.phone {
            let digits = p.strip_prefix('+').unwrap_or(p);
            if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("payer.phone must be 5 to 20 digits, optionally after +".into());
            }
        }
        if let Some(m) = &self.member_id {
            if m.len() != 32 || !m.bytes().all(|b| b.is_ascii_digit()) {
                return Err("payer.member_id must be a 32-digit member id".into());
            }
        }
        if let Some(ip) = &self.client_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err("payer.client_ip must be an IPv4 or IPv6 address".into());
            }
        }
        Ok(())
    }
}

impl Metadata {
    pub fn validate(&self) -> Result<(), String> {
        if self.0.len() > 50 {
            return Err("metadata has more than 50 keys".into());
        }
        for (k, v) in &self.0 {
            if k.is_empty() || k.chars().count() > 64 || !printable(k) {
                return Err("metadata keys are 1 to 64 printable characters".into());
            }
            if v.chars().count() > 512 || !printable(v) {
                return Err(format!(
                    "metadata.{k} must be at most 512 printable characters"
                ));
            }
        }
        Ok(())
    }
}

/// What the payer must do to finish the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextActionObject {
    /// Send the payer's browser to `url` (a bank's page).
    Redirect { url: String },
    /// Show `code` as a QR code for the payer's wallet to scan.
    QrCode { code: String },
    /// Send the payer to the platform's cashier page, where they choose how to pay.
    Cashier { url: String },
    /// The payer confirms first (risk asked): `POST …/verify` with the code sent by `sms`, or
    /// the `pay_password`.
    Verify { method: String },
}

/// A payment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatusName {
    /// Waiting for the payer.
    Created,
    /// Sent to a channel, result not known yet.
    Processing,
    Succeeded,
    Failed,
    /// Ended unpaid.
    Closed,
    /// Reversed in full on its accounting day.
    Canceled,
}

/// A payment as the API shows it (also the `data` of payment notifications).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentObject {
    #[schema(pattern = "^[0-9]{32}$")]
    pub id: String,
    /// Always `payment`.
    #[schema(example = "payment")]
    pub object: &'static str,
    pub merchant_id: String,
    pub out_trade_no: String,
    pub amount: i64,
    pub currency: CurrencyCode,
    pub subject: String,
    pub product: ProductCode,
    pub status: PaymentStatusName,
    /// The channel that took (or is taking) it.
    pub channel: Option<String>,
    /// The merchant's fee for it, minor units.
    pub fee: i64,
    /// Refunded so far, minor units.
    pub refunded_amount: i64,
    pub next_action: Option<NextActionObject>,
    /// What paid it (payments paid at the cashier; refunds go back to them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruments: Option<Vec<crate::cashier::InstrumentObject>>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub payer: Payer,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub metadata: Metadata,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// `POST /v1/refunds`: name the payment by `payment_id` or by `out_trade_no`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    #[serde(default)]
    #[schema(pattern = "^[0-9]{32}$")]
    pub payment_id: Option<String>,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub out_trade_no: Option<String>,
    /// The merchant's own number of the refund; the same number again is the same refund.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub out_refund_no: String,
    pub amount: Amount,
    /// Defaults to the payment's currency (and must be it).
    #[serde(default)]
    pub currency: Option<CurrencyCode>,
    #[serde(default)]
    #[schema(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatusName {
    Processing,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundKindName {
    /// Asked for by the merchant.
    Merchant,
    /// A charge that arrived after its payment had ended unpaid, given back by the platform.
    Auto,
    /// The merchant's cancel of the whole payment.
    Cancel,
}

/// A refund as the API shows it (also the `data` of refund notifications).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundObject {
    #[schema(pattern = "^[0-9]{32}$")]
    pub id: String,
    /// Always `refund`.
    #[schema(example = "refund")]
    pub object: &'static str,
    pub merchant_id: String,
    pub out_refund_no: String,
    pub payment_id: String,
    pub amount: i64,
    pub currency: CurrencyCode,
    /// The part of the payment's fee given back to the merchant.
    pub fee_refund: i64,
    pub reason: Option<String>,
    pub kind: RefundKindName,
    pub status: RefundStatusName,
    pub failure_code: Option<String>,
    /// The payment's product and channel.
    pub product: ProductCode,
    pub channel: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

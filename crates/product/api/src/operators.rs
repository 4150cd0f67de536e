//! The operator API (`/admin/v1`): merchants, keys, contracts, the audit trail.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{CurrencyCode, NonNegative, ProductCode};
use crate::merchant::{
    ContractStatusName, CurrencyTermsObject, KeyAlgorithm, KeyStatusName, MerchantStatusName,
};

/// Know-your-business data. Every field is optional while onboarding; activation needs the
/// legal name, registration number, country and a contact e-mail.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KybFields {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub legal_name: Option<String>,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub registration_number: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub address: Option<String>,
    #[serde(default)]
    #[schema(format = Email, max_length = 256)]
    pub contact_email: Option<String>,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub contact_phone: Option<String>,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub website: Option<String>,
    /// ISO 18245 merchant category code.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{4}$")]
    pub mcc: Option<String>,
}

/// `POST /admin/v1/merchants`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchant {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    #[serde(default, deserialize_with = "crate::fields::object_opt")]
    pub kyb: Option<KybFields>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MerchantView {
    pub merchant_id: String,
    pub name: String,
    pub status: MerchantStatusName,
    pub kyb: KybFields,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MerchantEventName {
    Activate,
    Freeze,
    Unfreeze,
}

/// `POST /admin/v1/merchants/{merchant_id}/status`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    pub event: MerchantEventName,
    #[serde(default)]
    #[schema(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub reason: Option<String>,
}

/// `POST /admin/v1/merchants/{merchant_id}/keys`: a public key (RSA2 of at least 2048 bits,
/// or Ed25519) the merchant signs with, or an HMAC secret the platform makes and shows once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub algorithm: KeyAlgorithm,
    /// PEM, for RSA2 and ED25519 only.
    #[serde(default)]
    #[schema(max_length = 8192)]
    pub public_key_pem: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub algorithm: KeyAlgorithm,
    pub status: KeyStatusName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    /// The HMAC secret, in the answer that created it and never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `POST /admin/v1/merchants/{merchant_id}/products`: the contract for one product. Either
/// the terms of one currency at the top (`fee_currency`, default CNY, with `fixed_fee`,
/// `min_amount`, `max_amount`), or `currencies` listing each accepted currency's terms.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetProduct {
    pub product: ProductCode,
    #[schema(minimum = 0, maximum = 10000)]
    pub fee_rate_bps: u32,
    #[serde(default)]
    pub fixed_fee: Option<NonNegative>,
    #[serde(default)]
    pub fee_currency: Option<CurrencyCode>,
    #[serde(default)]
    pub min_amount: Option<crate::fields::Amount>,
    #[serde(default)]
    pub max_amount: Option<crate::fields::Amount>,
    #[serde(default, deserialize_with = "crate::fields::objects_opt")]
    pub currencies: Option<Vec<CurrencyTermsObject>>,
    #[serde(default)]
    pub status: Option<ContractStatusName>,
}

/// One operator call (or command line action) of the audit trail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// The operator's id; `-` when the caller could not be authenticated; `cli:<user>` for the
    /// command line.
    pub operator: String,
    /// The operator's role (empty when unauthenticated).
    pub role: String,
    /// The client's IP address (empty for the command line).
    pub client_address: String,
    /// The route template, e.g. `/admin/v1/merchants/{merchant_id}/status`.
    pub route: String,
    /// What the call acted on: the values of the route's parameters, `/`-separated.
    pub target: String,
    /// `ok`: the change the call (or command) made committed together with this row, in one
    /// transaction. Otherwise the HTTP status of the answer — a read, a refusal, a failure —
    /// or, for the command line, `error: …`.
    pub outcome: String,
    /// `METHOD /path` as called.
    pub action: String,
    /// The request body (secrets removed), at most 2 KiB.
    pub detail: String,
    #[schema(format = DateTime)]
    pub at: String,
}

/// An operator's role: `viewer` reads; `operator` runs channels, notifications, alerts and
/// error cases; `finance` runs day-end, reconciliation, adjustments and settlements; `admin`
/// manages merchants' status and keys and the operators, and may do all the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRoleName {
    Viewer,
    Operator,
    Finance,
    Admin,
}

/// `POST /admin/v1/operators`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperator {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    pub role: OperatorRoleName,
    /// The token stops working this many days from now (1 to 3650); absent: no expiry.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

/// An operator as the operator API shows it (never its token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorView {
    pub operator_id: String,
    pub name: String,
    pub role: OperatorRoleName,
    /// `active` or `disabled`.
    pub status: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A new operator, or a rotated token: the token is shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorToken {
    pub operator_id: String,
    pub token: String,
    #[serde(flatten)]
    pub operator: OperatorView,
}

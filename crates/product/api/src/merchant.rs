//! The merchant's own view: who am I, the platform's keys, balances, notifications.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{CurrencyCode, ProductCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum KeyAlgorithm {
    #[serde(rename = "RSA2")]
    Rsa2,
    #[serde(rename = "ED25519")]
    Ed25519,
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatusName {
    Active,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MerchantStatusName {
    Onboarding,
    Active,
    Frozen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatusName {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MerchantKeyRef {
    pub key_id: String,
    pub algorithm: KeyAlgorithm,
    pub status: KeyStatusName,
}

/// What the contract says for payments in one currency (minor units of it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencyTermsObject {
    pub currency: CurrencyCode,
    #[schema(minimum = 0, maximum = 1000000000000000_i64)]
    pub fixed_fee: i64,
    #[schema(minimum = 1, maximum = 1000000000000000_i64)]
    pub min_amount: Option<i64>,
    #[schema(minimum = 1, maximum = 1000000000000000_i64)]
    pub max_amount: Option<i64>,
}

/// A merchant's contract for one product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractObject {
    pub contract_id: String,
    pub merchant_id: String,
    pub product: ProductCode,
    pub fee_rate_bps: u32,
    /// The first currency's terms (the one a contract of one currency has).
    pub fixed_fee: i64,
    pub fee_currency: CurrencyCode,
    pub min_amount: Option<i64>,
    pub max_amount: Option<i64>,
    /// Every currency the contract accepts, with its fixed fee and limits.
    pub currencies: Vec<CurrencyTermsObject>,
    pub status: ContractStatusName,
    pub version: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Who am I: the merchant a request was signed as.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhoAmI {
    pub merchant_id: String,
    pub name: String,
    pub status: MerchantStatusName,
    /// The key this request was signed with.
    pub key_id: String,
    pub keys: Vec<MerchantKeyRef>,
    pub products: Vec<ContractObject>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformKeyStatus {
    /// Signs now.
    Active,
    /// Still verifies what it signed before.
    Retired,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedKey {
    pub key_id: String,
    pub algorithm: KeyAlgorithm,
    pub public_key_pem: String,
    pub status: PlatformKeyStatus,
}

/// The platform's public keys, to verify response and notification signatures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlatformKeyList {
    pub keys: Vec<PublishedKey>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceEntry {
    pub currency: CurrencyCode,
    /// Paid to the merchant, not settled yet (minor units).
    pub pending_settlement: i64,
    /// Settled to the merchant's balance.
    pub available: i64,
}

/// `GET /v1/balance`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceList {
    pub merchant_id: String,
    pub balances: Vec<BalanceEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatusName {
    Pending,
    Delivered,
    Failed,
}

/// One delivery attempt: when, what the merchant's endpoint answered, how long it took.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryEntry {
    pub attempt: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// The HTTP status, absent when no answer came (timeout, connection refused).
    pub status_code: Option<u16>,
    /// Why the attempt was not a delivery.
    pub error: Option<String>,
    pub latency_ms: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationEntry {
    /// The event id, the same as the `id` in the notification body.
    pub id: String,
    /// `payment.succeeded`, `refund.succeeded`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payment or refund the event is about.
    pub object_id: String,
    pub status: NotificationStatusName,
    pub attempts: i64,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    pub url: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Oldest first (the newest 50).
    pub deliveries: Vec<DeliveryEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationEntry>,
}

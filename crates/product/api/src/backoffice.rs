//! The operator API for channels, alerts, reports and the books.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{CurrencyCode, ProductCode};

/// An amount with its currency, as the back office shows money.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct MoneyObject {
    /// Minor units.
    pub minor: i64,
    pub currency: CurrencyCode,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AmountRangeObject {
    pub min: MoneyObject,
    pub max: MoneyObject,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeeTierObject {
    /// From this monthly volume on.
    pub from_volume: MoneyObject,
    pub rate_bps: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeeScheduleObject {
    pub rate_bps: u32,
    pub fixed_fee: MoneyObject,
    pub tiers: Vec<FeeTierObject>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerStateName {
    Closed,
    Open,
    HalfOpen,
}

/// A channel as routing sees it, with its health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelObject {
    pub channel: String,
    pub enabled: bool,
    pub products: Vec<ProductCode>,
    pub currencies: Vec<CurrencyCode>,
    pub amount_limits: Vec<AmountRangeObject>,
    pub fee: FeeScheduleObject,
    pub weight: u32,
    pub priority: i32,
    /// Merchants with a contract at this channel; empty: every merchant.
    pub merchants: Vec<String>,
    pub health: BreakerStateName,
    pub success_rate: f64,
    pub samples: u64,
    pub mean_latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelObject>,
}

/// `POST /admin/v1/channels/{channel}`: what to change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000000)]
    pub weight: Option<u32>,
    #[serde(default)]
    #[schema(minimum = -1000000, maximum = 1000000)]
    pub priority: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelBalance {
    pub channel: String,
    pub amount: i64,
    pub currency: CurrencyCode,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertObject {
    pub channel: String,
    /// bad_signature, malformed, amount_mismatch, unknown_attempt, wrong_channel,
    /// stale_success, late_success, unexpected_reversal, query_gave_up, no_connector,
    /// auto_refund_failed.
    pub kind: String,
    pub attempt_id: Option<String>,
    pub detail: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// How many messages the alert stands for: a burst of refused (forged or malformed)
    /// channel messages within a minute is one alert.
    pub count: i64,
    /// When the last message of the burst came.
    #[schema(format = DateTime)]
    pub last_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertObject>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyStatsRow {
    pub day: String,
    pub merchant_id: String,
    pub product: String,
    pub channel: String,
    pub currency: String,
    pub succeeded_count: i64,
    pub succeeded_amount: i64,
    pub fee_amount: i64,
    pub failed_count: i64,
    pub refunded_count: i64,
    pub refunded_amount: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyReport {
    pub day: String,
    pub rows: Vec<DailyStatsRow>,
}

/// `POST /admin/v1/ledger/day-end`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayEndRequest {
    /// Close the current accounting day now instead of only the days before today's date.
    #[serde(default)]
    pub now: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckObject {
    pub name: String,
    pub ok: bool,
    /// What differs, when it fails (at most 50 lines).
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayEndReportObject {
    /// Days closed by this run (yyyyMMdd), oldest first.
    pub closed: Vec<i64>,
    /// The day whose checks failed, if one did.
    pub failed: Option<i64>,
    pub current_day: i64,
    pub flows_summarized: u64,
    pub checks: Vec<CheckObject>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayEndResult {
    pub ok: bool,
    pub report: DayEndReportObject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum SideName {
    #[serde(rename = "D")]
    Debit,
    #[serde(rename = "C")]
    Credit,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialRowObject {
    pub subject: String,
    pub name: String,
    pub level: u8,
    pub normal_side: SideName,
    pub opening: MoneyObject,
    pub debits: MoneyObject,
    pub credits: MoneyObject,
    pub closing: MoneyObject,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialTotalObject {
    pub currency: String,
    pub debits: MoneyObject,
    pub credits: MoneyObject,
    pub debit_balances: MoneyObject,
    pub credit_balances: MoneyObject,
    pub balanced: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialBalanceObject {
    pub day: i64,
    /// True for a closed day (from its summaries), false for the open day (live).
    pub closed: bool,
    pub rows: Vec<TrialRowObject>,
    pub totals: Vec<TrialTotalObject>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialBalanceResult {
    pub balanced: bool,
    pub trial_balance: TrialBalanceObject,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyResult {
    pub batches: u64,
    pub vouchers: u64,
    pub days_sealed: u64,
    pub accounts: u64,
    /// What does not match (at most 100 lines); empty when the books verify.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatusName {
    Active,
    Frozen,
    Closed,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountBalance {
    pub account_no: String,
    pub subject: String,
    pub status: AccountStatusName,
    pub posted: MoneyObject,
    pub pending: MoneyObject,
    pub available: MoneyObject,
    pub unapplied: MoneyObject,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementLineObject {
    pub entry_id: i64,
    pub day: i64,
    pub voucher_no: String,
    pub tx_code: String,
    pub biz_ref: String,
    pub side: SideName,
    pub amount: MoneyObject,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Statement {
    pub account_no: String,
    pub lines: Vec<StatementLineObject>,
}

//! Channel configuration for routing (`channel_configs`), volumes and payer stickiness.

use std::collections::BTreeMap;

use paycore_kernel::product::Product;
use paycore_kernel::{Clock, Currency, Money};
use paycore_store::{Conn, Db, Row, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::cost::{FeeSchedule, FeeTier};
use super::RoutingError;

/// The smallest and largest amount a channel takes in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountRange {
    pub min: Money,
    pub max: Money,
}

/// One channel as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    pub channel: String,
    pub enabled: bool,
    #[serde(with = "crate::serde_util::products")]
    pub products: Vec<Product>,
    pub currencies: Vec<Currency>,
    /// At most one range per currency; a currency without one has no limit.
    pub amount_limits: Vec<AmountRange>,
    pub fee: FeeSchedule,
    /// Share of traffic among equally good channels; 0 takes no traffic.
    pub weight: u32,
    /// Higher is preferred before any score is looked at (rule priority).
    pub priority: i32,
    /// The merchants with a contract at this channel (sub-merchant registration); empty means
    /// every merchant.
    #[serde(default)]
    pub merchants: Vec<String>,
}

impl ChannelConfig {
    pub fn serves_merchant(&self, merchant_id: &str) -> bool {
        self.merchants.is_empty() || self.merchants.iter().any(|m| m == merchant_id)
    }

    pub fn range_for(&self, currency: Currency) -> Option<AmountRange> {
        self.amount_limits
            .iter()
            .copied()
            .find(|r| r.min.currency() == currency)
    }
}

#[derive(Serialize, Deserialize)]
struct LimitJson {
    min: i64,
    max: i64,
}

#[derive(Serialize, Deserialize)]
struct TierJson {
    from_volume: i64,
    rate_bps: u32,
}

fn corrupt(what: impl Into<String>) -> RoutingError {
    RoutingError::Store(StoreError::Corrupt(what.into()))
}

fn config_from_row(r: &AnyRow) -> Result<ChannelConfig, RoutingError> {
    let products: String = r.try_get("products")?;
    let products = products
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Product>().map_err(|e| corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let currencies: String = r.try_get("currencies")?;
    let currencies = currencies
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Currency::from_code(s).map_err(|e| corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let limits: String = r.try_get("amount_limits")?;
    let limits: BTreeMap<String, LimitJson> =
        serde_json::from_str(&limits).map_err(|e| corrupt(e.to_string()))?;
    let mut amount_limits = Vec::new();
    for (code, l) in limits {
        let c = Currency::from_code(&code).map_err(|e| corrupt(e.to_string()))?;
        amount_limits.push(AmountRange {
            min: Money::from_minor(l.min, c),
            max: Money::from_minor(l.max, c),
        });
    }
    let fee_currency: String = r.try_get("fee_currency")?;
    let fee_currency = Currency::from_code(&fee_currency).map_err(|e| corrupt(e.to_string()))?;
    let tiers: String = r.try_get("fee_tiers")?;
    let tiers: Vec<TierJson> = serde_json::from_str(&tiers).map_err(|e| corrupt(e.to_string()))?;
    let rate: i64 = r.try_get("fee_rate_bps")?;
    let weight: i64 = r.try_get("weight")?;
    let priority: i64 = r.try_get("priority")?;
    let enabled: i64 = r.try_get("enabled")?;
    let merchants: String = r.try_get("merchants")?;
    Ok(ChannelConfig {
        channel: r.try_get("channel")?,
        enabled: enabled != 0,
        products,
        currencies,
        amount_limits,
        fee: FeeSchedule {
            rate_bps: u32::try_from(rate).map_err(|_| corrupt("fee_rate_bps"))?,
            fixed_fee: Money::from_minor(r.try_get("fixed_fee")?, fee_currency),
            tiers: tiers
                .into_iter()
                .map(|t| FeeTier {
                    from_volume: Money::from_minor(t.from_volume, fee_currency),
                    rate_bps: t.rate_bps,
                })
                .collect(),
        },
        weight: u32::try_from(weight).map_err(|_| corrupt("weight"))?,
        priority: i32::try_from(priority).map_err(|_| corrupt("priority"))?,
        merchants: merchants
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

pub async fn load_all(db: &Db) -> Result<Vec<ChannelConfig>, RoutingError> {
    let rows = sqlx::query(
        "SELECT channel, enabled, products, currencies, amount_limits, fee_rate_bps, fixed_fee,
             fee_currency, fee_tiers, weight, priority, merchants
         FROM channel_configs ORDER BY channel",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(config_from_row).collect()
}

/// Inserts or replaces a channel's configuration.
pub async fn upsert(db: &Db, clock: &dyn Clock, c: &ChannelConfig) -> Result<(), RoutingError> {
    upsert_inner(db, clock, c, true).await
}

async fn upsert_inner(
    db: &Db,
    clock: &dyn Clock,
    c: &ChannelConfig,
    replace: bool,
) -> Result<(), RoutingError> {
    let products: Vec<&str> = c.products.iter().map(|p| p.as_str()).collect();
    let currencies: Vec<&str> = c.currencies.iter().map(|c| c.code()).collect();
    let limits: BTreeMap<&str, LimitJson> = c
        .amount_limits
        .iter()
        .map(|r| {
            (
                r.min.currency().code(),
                LimitJson {
                    min: r.min.minor(),
                    max: r.max.minor(),
                },
            )
        })
        .collect();
    if c.amount_limits
        .iter()
        .any(|r| r.min.currency() != r.max.currency() || r.min.minor() > r.max.minor())
    {
        return Err(RoutingError::InvalidConfig(format!(
            "{}: bad amount range",
            c.channel
        )));
    }
    if c.merchants.iter().any(|m| m.is_empty() || m.contains(',')) {
        return Err(RoutingError::InvalidConfig(format!(
            "{}: bad merchant id",
            c.channel
        )));
    }
    if c.fee
        .tiers
        .iter()
        .any(|t| t.from_volume.currency() != c.fee.fixed_fee.currency())
    {
        return Err(RoutingError::InvalidConfig(format!(
            "{}: fee tiers must be in the fee currency",
            c.channel
        )));
    }
    let tiers: Vec<TierJson> = c
        .fee
        .tiers
        .iter()
        .map(|t| TierJson {
            from_volume: t.from_volume.minor(),
            rate_bps: t.rate_bps,
        })
        .collect();
    let on_conflict = if replace {
        "ON CONFLICT (channel) DO UPDATE SET enabled = excluded.enabled,
             products = excluded.products, currencies = excluded.currencies,
             amount_limits = excluded.amount_limits, fee_rate_bps = excluded.fee_rate_bps,
             fixed_fee = excluded.fixed_fee, fee_currency = excluded.fee_currency,
             fee_tiers = excluded.fee_tiers, weight = excluded.weight,
             priority = excluded.priority, merchants = excluded.merchants,
             updated_at = excluded.updated_at"
    } else {
        "ON CONFLICT (channel) DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO channel_configs (channel, enabled, products, currencies, amount_limits,
             fee_rate_bps, fixed_fee, fee_currency, fee_tiers, weight, priority, merchants,
             updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) {on_conflict}"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&c.channel)
        .bind(i64::from(c.enabled))
        .bind(products.join(","))
        .bind(currencies.join(","))
        .bind(json(&limits)?)
        .bind(i64::from(c.fee.rate_bps))
        .bind(c.fee.fixed_fee.minor())
        .bind(c.fee.fixed_fee.currency().code())
        .bind(json(&tiers)?)
        .bind(i64::from(c.weight))
        .bind(i64::from(c.priority))
        .bind(c.merchants.join(","))
        .bind(clock.unix_millis());
    db.execute(q).await?;
    Ok(())
}

fn json<T: Serialize>(v: &T) -> Result<String, RoutingError> {
    serde_json::to_string(v).map_err(|e| corrupt(e.to_string()))
}

/// Installs channels' routing configurations: each one that is not configured yet is added;
/// an existing row (perhaps changed by an operator) is left as it is.
pub async fn install(
    db: &Db,
    clock: &dyn Clock,
    configs: &[ChannelConfig],
) -> Result<(), RoutingError> {
    for c in configs {
        upsert_inner(db, clock, c, false).await?;
    }
    Ok(())
}

pub async fn set_enabled(
    db: &Db,
    clock: &dyn Clock,
    channel: &str,
    enabled: bool,
) -> Result<(), RoutingError> {
    set_setting(db, clock, channel, "enabled", i64::from(enabled)).await
}

pub async fn set_weight(
    db: &Db,
    clock: &dyn Clock,
    channel: &str,
    weight: u32,
) -> Result<(), RoutingError> {
    set_setting(db, clock, channel, "weight", i64::from(weight)).await
}

pub async fn set_priority(
    db: &Db,
    clock: &dyn Clock,
    channel: &str,
    priority: i32,
) -> Result<(), RoutingError> {
    set_setting(db, clock, channel, "priority", i64::from(priority)).await
}

/// One operator setting of a channel; `column` is one of this module's names, never input.
async fn set_setting(
    db: &Db,
    clock: &dyn Clock,
    channel: &str,
    column: &'static str,
    value: i64,
) -> Result<(), RoutingError> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE channel_configs SET {column} = $1, updated_at = $2 WHERE channel = $3"
    )))
    .bind(value)
    .bind(clock.unix_millis())
    .bind(channel);
    let done = db.execute(done).await?;
    if done.rows_affected() == 0 {
        return Err(RoutingError::UnknownChannel(channel.to_string()));
    }
    Ok(())
}

/// yyyyMM of a time.
pub fn month_of(t: time::OffsetDateTime) -> i64 {
    i64::from(t.year()) * 100 + i64::from(u8::from(t.month()))
}

/// This month's volume of each channel in `currency`.
pub async fn volumes(
    db: &Db,
    month: i64,
    currency: Currency,
) -> Result<BTreeMap<String, Money>, RoutingError> {
    let rows = sqlx::query(
        "SELECT channel, volume FROM channel_volumes WHERE month = $1 AND currency = $2",
    )
    .bind(month)
    .bind(currency.code())
    .fetch_all(db.reader())
    .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        out.insert(
            r.try_get::<String, _>("channel")?,
            Money::from_minor(r.try_get("volume")?, currency),
        );
    }
    Ok(out)
}

pub async fn add_volume(
    conn: &mut dyn Conn,
    month: i64,
    channel: &str,
    amount: Money,
) -> Result<(), RoutingError> {
    conn.execute(
        "INSERT INTO channel_volumes (channel, month, currency, volume, txns)
         VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (channel, month, currency) DO UPDATE
             SET volume = channel_volumes.volume + excluded.volume,
                 txns = channel_volumes.txns + 1",
        &[
            channel.into(),
            month.into(),
            amount.currency().code().into(),
            amount.minor().into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn affinity(db: &Db, payer_key: &str) -> Result<Option<String>, RoutingError> {
    let row = sqlx::query("SELECT channel FROM channel_payer_affinity WHERE payer_key = $1")
        .bind(payer_key)
        .fetch_optional(db.reader())
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("channel")?),
        None => None,
    })
}

pub async fn set_affinity(
    conn: &mut dyn Conn,
    clock: &dyn Clock,
    payer_key: &str,
    channel: &str,
) -> Result<(), RoutingError> {
    conn.execute(
        "INSERT INTO channel_payer_affinity (payer_key, channel, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (payer_key) DO UPDATE SET channel = excluded.channel,
             updated_at = excluded.updated_at",
        &[payer_key.into(), channel.into(), clock.unix_millis().into()],
    )
    .await?;
    Ok(())
}

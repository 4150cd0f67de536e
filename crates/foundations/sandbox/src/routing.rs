//! The sandbox channels' routing configuration: what each takes (products, currencies, amount
//! limits) and what it costs.

use paycore_channels::routing::{AmountRange, ChannelConfig, FeeSchedule, FeeTier, RoutingError};
use paycore_kernel::{Clock, Currency, Money};
use paycore_store::Db;

use crate::Kind;

/// The default configuration of a sandbox channel.
pub fn sandbox_channel_config(kind: Kind) -> ChannelConfig {
    let cny = |m: i64| Money::from_minor(m, Currency::CNY);
    let max = match kind {
        Kind::Carrier => 50_000,
        _ => 5_000_000,
    };
    let mut amount_limits = vec![AmountRange {
        min: cny(1),
        max: cny(max),
    }];
    if kind == Kind::QuickPay {
        let usd = |m: i64| Money::from_minor(m, Currency::USD);
        amount_limits.push(AmountRange {
            min: usd(1),
            max: usd(1_000_000),
        });
    }
    let tiers = match kind {
        // The quick-pay bank is cheaper past 1,000,000.00 CNY a month.
        Kind::QuickPay => vec![FeeTier {
            from_volume: cny(100_000_000),
            rate_bps: 20,
        }],
        _ => Vec::new(),
    };
    ChannelConfig {
        channel: kind.code().to_string(),
        enabled: true,
        products: vec![kind.product()],
        currencies: kind.currencies(),
        amount_limits,
        fee: FeeSchedule {
            rate_bps: kind.fee_bps(),
            fixed_fee: Money::zero(Currency::CNY),
            tiers,
        },
        weight: 100,
        priority: 0,
        merchants: Vec::new(),
    }
}

/// Installs the sandbox channels' routing configuration (switched on). Idempotent: an existing
/// row (perhaps changed by an operator) is left as it is.
pub async fn install_routing(db: &Db, clock: &dyn Clock) -> Result<(), RoutingError> {
    let configs: Vec<ChannelConfig> = Kind::ALL.into_iter().map(sandbox_channel_config).collect();
    paycore_channels::routing::install(db, clock, &configs).await
}

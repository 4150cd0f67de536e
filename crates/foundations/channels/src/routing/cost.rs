//! What a payment costs on a channel: a rate (lowered by monthly volume tiers) plus a fixed fee.

use paycore_kernel::{Money, MoneyError, Rounding};
use serde::{Deserialize, Serialize};

/// From `from_volume` of monthly volume on, the rate is `rate_bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTier {
    pub from_volume: Money,
    pub rate_bps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    pub rate_bps: u32,
    /// Charged only on payments in its own currency.
    pub fixed_fee: Money,
    pub tiers: Vec<FeeTier>,
}

impl FeeSchedule {
    /// The rate that applies at `monthly_volume` (the best tier reached, else the base rate).
    pub fn rate_at(&self, monthly_volume: Money) -> u32 {
        self.tiers
            .iter()
            .filter(|t| t.from_volume.currency() == monthly_volume.currency())
            .filter(|t| t.from_volume.minor() <= monthly_volume.minor())
            .max_by_key(|t| t.from_volume.minor())
            .map(|t| t.rate_bps)
            .unwrap_or(self.rate_bps)
    }

    /// The channel's fee on `amount` given this month's volume so far.
    pub fn fee(&self, amount: Money, monthly_volume: Money) -> Result<Money, MoneyError> {
        let rate = self.rate_at(monthly_volume);
        let fee = amount.percent_bps(rate, Rounding::HalfUp)?;
        if self.fixed_fee.currency() == amount.currency() {
            fee.checked_add(self.fixed_fee)
        } else {
            Ok(fee)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycore_kernel::Currency;

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::CNY)
    }

    #[test]
    fn tiers_lower_the_rate_as_volume_grows() {
        let s = FeeSchedule {
            rate_bps: 60,
            fixed_fee: cny(10),
            tiers: vec![
                FeeTier {
                    from_volume: cny(1_000_000),
                    rate_bps: 40,
                },
                FeeTier {
                    from_volume: cny(10_000_000),
                    rate_bps: 25,
                },
            ],
        };
        assert_eq!(s.fee(cny(10_000), cny(0)).unwrap(), cny(70));
        assert_eq!(s.fee(cny(10_000), cny(1_000_000)).unwrap(), cny(50));
        assert_eq!(s.fee(cny(10_000), cny(50_000_000)).unwrap(), cny(35));
        // A fixed fee in another currency does not apply.
        let usd = Money::from_minor(10_000, Currency::USD);
        assert_eq!(s.fee(usd, Money::zero(Currency::USD)).unwrap().minor(), 60);
    }
}

//! Product center (S10): the payment products a merchant can contract, and fee plans.

use paycore_kernel::{Money, MoneyError, Rounding};

pub use paycore_kernel::product::{Product, UnknownProduct};

/// What a merchant pays per payment in one currency: a rate in basis points plus a fixed part
/// in that currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePlan {
    pub rate_bps: u32,
    pub fixed: Money,
}

impl FeePlan {
    /// The fee for one payment: rate rounded half-up to the minor unit, plus the fixed part,
    /// never more than the amount itself. A payment in another currency than the plan's is an
    /// error: the contract names a plan per currency.
    pub fn fee(&self, amount: Money) -> Result<Money, MoneyError> {
        let fee = amount
            .percent_bps(self.rate_bps, Rounding::HalfUp)?
            .checked_add(self.fixed)?;
        if fee.cmp_same(amount)?.is_gt() {
            return Ok(amount);
        }
        Ok(fee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycore_kernel::Currency;

    #[test]
    fn fee_is_rate_plus_fixed_in_same_currency() {
        let cny = Currency::from_code("CNY").unwrap();
        let usd = Currency::from_code("USD").unwrap();
        let plan = FeePlan {
            rate_bps: 60,
            fixed: Money::from_minor(10, cny),
        };
        // 0.6% of 50_000 fen = 300 fen, plus 10.
        assert_eq!(
            plan.fee(Money::from_minor(50_000, cny)).unwrap().minor(),
            310
        );
        // 0.6% of 125 = 0.75 → 1 (half-up), plus 10.
        assert_eq!(plan.fee(Money::from_minor(125, cny)).unwrap().minor(), 11);
        // A plan is for its own currency only.
        assert!(plan.fee(Money::from_minor(50_000, usd)).is_err());
        // Never above the amount.
        assert_eq!(plan.fee(Money::from_minor(5, cny)).unwrap().minor(), 5);
    }
}

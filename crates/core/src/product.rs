//! Product center (S10): the payment products a merchant can contract, and fee plans.

use paycore_kernel::{Money, MoneyError, Rounding};

pub use paycore_kernel::product::{Product, UnknownProduct};

/// What a merchant pays per payment: a rate in basis points plus a fixed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePlan {
    pub rate_bps: u32,
    /// Charged only on payments in its own currency (a fixed fee has no meaning across currencies).
    pub fixed: Money,
}

impl FeePlan {
    /// The fee for one payment: rate rounded half-up to the minor unit, plus the fixed part,
    /// never more than the amount itself.
    pub fn fee(&self, amount: Money) -> Result<Money, MoneyError> {
        let mut fee = amount.percent_bps(self.rate_bps, Rounding::HalfUp)?;
        if self.fixed.currency() == amount.currency() {
            fee = fee.checked_add(self.fixed)?;
        }
        if fee.minor() > amount.minor() {
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
        // Fixed part only applies to its own currency.
        assert_eq!(
            plan.fee(Money::from_minor(50_000, usd)).unwrap().minor(),
            300
        );
        // Never above the amount.
        assert_eq!(plan.fee(Money::from_minor(5, cny)).unwrap().minor(), 5);
    }
}

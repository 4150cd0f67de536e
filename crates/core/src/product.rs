//! Product center (S10): the payment products a merchant can contract, and fee plans.

use std::fmt;
use std::str::FromStr;

use paycore_kernel::{Money, MoneyError, Rounding};

/// The products of `api.md`; names are the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    QuickPay,
    NetBank,
    Agreement,
    Alipay,
    Wechat,
    ForeignCard,
    PhoneBill,
    VirtualCoin,
    Balance,
    Credit,
    Cashier,
}

impl Product {
    pub const ALL: [Product; 11] = [
        Product::QuickPay,
        Product::NetBank,
        Product::Agreement,
        Product::Alipay,
        Product::Wechat,
        Product::ForeignCard,
        Product::PhoneBill,
        Product::VirtualCoin,
        Product::Balance,
        Product::Credit,
        Product::Cashier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Product::QuickPay => "QUICK_PAY",
            Product::NetBank => "NET_BANK",
            Product::Agreement => "AGREEMENT",
            Product::Alipay => "ALIPAY",
            Product::Wechat => "WECHAT",
            Product::ForeignCard => "FOREIGN_CARD",
            Product::PhoneBill => "PHONE_BILL",
            Product::VirtualCoin => "VIRTUAL_COIN",
            Product::Balance => "BALANCE",
            Product::Credit => "CREDIT",
            Product::Cashier => "CASHIER",
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown product {0:?}")]
pub struct UnknownProduct(pub String);

impl FromStr for Product {
    type Err = UnknownProduct;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Product::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProduct(s.to_string()))
    }
}

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
    fn names_round_trip() {
        for p in Product::ALL {
            assert_eq!(p.as_str().parse::<Product>(), Ok(p));
        }
        assert!("quick_pay".parse::<Product>().is_err());
    }

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

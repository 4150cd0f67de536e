//! The payment products of the open API (`product` field): a vocabulary shared by every
//! layer. What a merchant may use and at what fee is the product center's business (core).

use std::fmt;
use std::str::FromStr;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Product::ALL {
            assert_eq!(p.as_str().parse::<Product>(), Ok(p));
        }
        assert!("quick_pay".parse::<Product>().is_err());
    }
}

//! From the payer's instruments to a plan's parts: every instrument named once, amounts
//! positive, the coupon's discount computed by marketing, coins converted at the configured
//! rate, and the parts adding up to the payment's amount exactly.

use paycore_kernel::crypto::sha256_hex;
use paycore_kernel::product::Product;
use paycore_kernel::{Currency, Money};

use crate::model::{Instrument, Part, PartKind};
use crate::{Cashier, CashierError};

/// The instruments a product admits: a wallet product narrowed to its own instrument (a coupon
/// may come with it); the cashier admits them all.
pub(crate) fn admitted(product: Product) -> &'static [PartKind] {
    match product {
        Product::Balance => &[PartKind::Balance, PartKind::Coupon],
        Product::VirtualCoin => &[PartKind::Coin, PartKind::Coupon],
        Product::Credit => &[PartKind::Credit, PartKind::Coupon],
        Product::QuickPay => &[PartKind::Card, PartKind::Coupon],
        _ => &[
            PartKind::Coupon,
            PartKind::Balance,
            PartKind::Coin,
            PartKind::Credit,
            PartKind::Card,
        ],
    }
}

fn kind_of(i: &Instrument) -> PartKind {
    match i {
        Instrument::Coupon { .. } => PartKind::Coupon,
        Instrument::Balance { .. } => PartKind::Balance,
        Instrument::Coin { .. } => PartKind::Coin,
        Instrument::Credit { .. } => PartKind::Credit,
        Instrument::Card { .. } => PartKind::Card,
    }
}

/// What the payer's request is, for idempotency: the same `request_no` with the same
/// instruments for the same payment is the same request.
pub(crate) fn request_hash(payment_id: &str, instruments: &[Instrument]) -> String {
    let canonical = serde_json::json!([payment_id, instruments]);
    sha256_hex(canonical.to_string().as_bytes())
}

/// The payment a plan is for, as the cashier needs it.
pub(crate) struct Bill<'a> {
    pub merchant_id: &'a str,
    pub product: Product,
    pub amount: Money,
}

impl Cashier {
    /// The parts of `instruments` for `bill`, checked; refused with what is wrong.
    pub(crate) async fn parts(
        &self,
        member_id: &str,
        bill: &Bill<'_>,
        instruments: &[Instrument],
    ) -> Result<Vec<Part>, CashierError> {
        let bad = |m: &str| Err(CashierError::Invalid(m.to_string()));
        if bill.amount.currency() != Currency::CNY {
            return bad("the wallet pays payments in CNY");
        }
        if instruments.is_empty() || instruments.len() > 5 {
            return bad("name 1 to 5 instruments");
        }
        let mut parts: Vec<Part> = Vec::with_capacity(instruments.len());
        for (seq, i) in instruments.iter().enumerate() {
            let kind = kind_of(i);
            if !admitted(bill.product).contains(&kind) {
                return Err(CashierError::Invalid(format!(
                    "a {} payment is not paid by {}",
                    bill.product,
                    kind.as_str()
                )));
            }
            if parts.iter().any(|p| p.kind == kind) {
                return Err(CashierError::Invalid(format!(
                    "{} is named twice",
                    kind.as_str()
                )));
            }
            parts.push(self.part(member_id, bill, seq as i64, i).await?);
        }
        let mut total = Money::zero(bill.amount.currency());
        for p in &parts {
            total = total.checked_add(p.amount)?;
        }
        if total != bill.amount {
            return Err(CashierError::Invalid(format!(
                "the instruments add up to {}, the payment is {}",
                total.minor(),
                bill.amount.minor()
            )));
        }
        Ok(parts)
    }

    async fn part(
        &self,
        member_id: &str,
        bill: &Bill<'_>,
        seq: i64,
        i: &Instrument,
    ) -> Result<Part, CashierError> {
        let currency = bill.amount.currency();
        let mut part = Part {
            seq,
            kind: kind_of(i),
            amount: Money::zero(currency),
            refunded: Money::zero(currency),
            coupon_id: None,
            card_id: None,
            coins: None,
        };
        let amount = match i {
            Instrument::Coupon { coupon_id } => {
                let coupon = self.0.marketing.coupon(member_id, coupon_id).await?;
                let off = coupon
                    .discount(bill.amount, bill.merchant_id, self.now())
                    .map_err(|e| {
                        CashierError::Invalid(format!("the coupon does not apply: {e}"))
                    })?;
                part.coupon_id = Some(coupon_id.clone());
                off.minor()
            }
            Instrument::Balance { amount } | Instrument::Credit { amount } => *amount,
            Instrument::Coin { amount } => {
                part.coins = Some(self.coins_for(*amount)?);
                *amount
            }
            Instrument::Card { card_id, amount } => {
                part.card_id = Some(card_id.clone());
                *amount
            }
        };
        if amount <= 0 {
            return Err(CashierError::Invalid(format!(
                "the {} part must be a positive amount",
                part.kind.as_str()
            )));
        }
        part.amount = Money::from_minor(amount, currency);
        Ok(part)
    }

    /// The coins that pay `fen` at the configured rate; a part that is not a whole number of
    /// coins is refused rather than rounded (nobody pays or gets a fraction of a coin).
    pub(crate) fn coins_for(&self, fen: i64) -> Result<i64, CashierError> {
        let rate = self.0.coins_per_yuan;
        let scaled = fen
            .checked_mul(rate)
            .ok_or_else(|| CashierError::Invalid("the coin part is too large".into()))?;
        if scaled % 100 != 0 {
            return Err(CashierError::Invalid(format!(
                "at {rate} coins per yuan the coin part must be a whole number of coins"
            )));
        }
        Ok(scaled / 100)
    }
}

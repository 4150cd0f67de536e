//! What a member can pay a payment with now: only instruments its product admits, each with
//! what it has available — the balance and whether it covers the payment, coins and what they
//! are worth, the credit available, coupons that apply with their discount, bound cards.

use paycore_acquiring::{Acquiring, Payment};
use paycore_kernel::{Currency, Money};
use paycore_ledger::accounts::account_no;
use paycore_ledger::LedgerError;

use crate::model::PartKind;
use crate::plan::admitted;
use crate::{Cashier, CashierError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponMethod {
    pub coupon_id: String,
    /// What it takes off this payment.
    pub discount: Money,
    pub valid_until: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMethod {
    pub card_id: String,
    pub masked_pan: String,
    pub bank: String,
    pub brand: String,
    pub card_type: String,
}

/// The payment and what this member can pay it with.
#[derive(Debug, Clone)]
pub struct Methods {
    pub payment: Payment,
    pub balance: Option<Money>,
    /// Coins held and what they are worth in the payment's currency.
    pub coins: Option<(i64, Money)>,
    pub credit: Option<Money>,
    pub coupons: Vec<CouponMethod>,
    pub cards: Vec<CardMethod>,
}

impl Cashier {
    /// The methods a member can use for a payment waiting at the cashier.
    pub async fn methods(
        &self,
        acquiring: &Acquiring,
        member_id: &str,
        payment_id: &str,
    ) -> Result<Methods, CashierError> {
        let payment = self.payable(acquiring, member_id, payment_id).await?;
        let ok = admitted(payment.product);
        let has = |k: PartKind| ok.contains(&k);
        let mut m = Methods {
            balance: None,
            coins: None,
            credit: None,
            coupons: Vec::new(),
            cards: Vec::new(),
            payment,
        };
        if has(PartKind::Balance) {
            m.balance = Some(self.available("224103", member_id, Currency::CNY).await?);
        }
        if has(PartKind::Coin) {
            let coins = self
                .available("224104", member_id, Currency::XPC)
                .await?
                .minor();
            // Worth: whole fen only (a coin part must be whole coins).
            let fen = coins.saturating_mul(100) / self.0.coins_per_yuan.max(1);
            m.coins = Some((coins, Money::from_minor(fen, Currency::CNY)));
        }
        if has(PartKind::Credit) {
            m.credit = Some(
                self.0
                    .credit
                    .line(member_id)
                    .await
                    .map_err(crate::CashierError::from)?
                    .available(),
            );
        }
        if has(PartKind::Coupon) {
            m.coupons = self.coupons_for(member_id, &m.payment).await?;
        }
        if has(PartKind::Card) && self.0.bank.is_some() {
            m.cards = self
                .0
                .cards
                .bound(member_id)
                .await?
                .into_iter()
                .map(|c| CardMethod {
                    card_id: c.card_id,
                    masked_pan: c.masked_pan,
                    bank: c.bank,
                    brand: c.brand,
                    card_type: c.card_type,
                })
                .collect();
        }
        Ok(m)
    }

    async fn coupons_for(
        &self,
        member_id: &str,
        payment: &Payment,
    ) -> Result<Vec<CouponMethod>, CashierError> {
        let now = self.now();
        let mut out = Vec::new();
        for c in self.0.marketing.coupons_of(member_id).await? {
            // A coupon that would pay the whole payment leaves nothing for an instrument;
            // it still applies (the payment is then paid by the coupon alone).
            if let Ok(discount) = c.discount(payment.amount, &payment.merchant_id, now) {
                out.push(CouponMethod {
                    coupon_id: c.coupon_id.clone(),
                    discount,
                    valid_until: c.valid_until,
                });
            }
        }
        Ok(out)
    }

    async fn available(
        &self,
        subject: &str,
        member_id: &str,
        currency: Currency,
    ) -> Result<Money, CashierError> {
        let no = account_no(subject, member_id, currency.code(), 0);
        match self.0.ledger.balance(&no).await {
            Ok(b) => Ok(b.available),
            Err(LedgerError::AccountNotFound(_)) => Ok(Money::zero(currency)),
            Err(e) => Err(e.into()),
        }
    }
}

//! The payer's side of a node, wired: the card vault, the wallet's fund products, agreements
//! coupons, limits, credit lines and the cashier, over the platform's database and the quick-pay bank among the channels.

use std::sync::Arc;

use crate::Platform;

/// The payer-side subsystems a gateway serves.
pub struct PayerSide {
    pub cards: paycore_card::Cards,
    pub funds: paycore_fund::Funds,
    pub agreements: paycore_agreement::Agreements,
    pub marketing: paycore_marketing::Marketing,
    pub quotas: paycore_quota::Quotas,
    pub cashier: paycore_cashier::Cashier,
}

impl Platform {
    /// Cards are bound, and wallets topped up and paid out, through the quick-pay bank (the
    /// sandbox's, in sandbox mode; none otherwise, and those calls say so).
    pub(crate) fn payer_side(
        &self,
        connectors: &[Arc<dyn paycore_channels::Connector>],
        base_url: &str,
    ) -> PayerSide {
        let bank = connectors
            .iter()
            .find(|c| c.code() == paycore_sandbox::codes::QUICKPAY)
            .cloned();
        let cards = paycore_card::Cards::new(
            self.db.clone(),
            self.ids.clone(),
            self.vault.clone(),
            self.clock.clone(),
            bank.clone(),
        );
        let agreements = paycore_agreement::Agreements::new(
            self.db.clone(),
            self.ids.clone(),
            self.clock.clone(),
            self.merchants.clone(),
            self.members.clone(),
            cards.clone(),
        );
        // Day, month and year limits count in China Standard Time.
        let quotas = paycore_quota::Quotas::new(
            self.db.clone(),
            self.ids.clone(),
            self.clock.clone(),
            time::macros::offset!(+8),
        );
        let funds = paycore_fund::Funds::new(paycore_fund::Parts {
            db: self.db.clone(),
            ids: self.ids.clone(),
            clock: self.clock.clone(),
            ledger: self.ledger.clone(),
            members: self.members.clone(),
            cards: cards.clone(),
            quotas: quotas.clone(),
            bank: bank.clone(),
            platform_base_url: base_url.trim_end_matches('/').to_string(),
        });
        let marketing = paycore_marketing::Marketing::new(
            self.db.clone(),
            self.ids.clone(),
            self.clock.clone(),
        );
        let credit = paycore_credit::Credit::new(
            self.db.clone(),
            self.clock.clone(),
            time::macros::offset!(+8),
        );
        let cashier = paycore_cashier::Cashier::new(paycore_cashier::Parts {
            db: self.db.clone(),
            ids: self.ids.clone(),
            clock: self.clock.clone(),
            ledger: self.ledger.clone(),
            members: self.members.clone(),
            cards: cards.clone(),
            marketing: marketing.clone(),
            quotas: quotas.clone(),
            credit,
            risk: paycore_risk::Risk::new(self.db.clone(), self.ids.clone(), self.clock.clone()),
            bank: bank.clone(),
            platform_base_url: base_url.trim_end_matches('/').to_string(),
            coins_per_yuan: 100,
        });
        PayerSide {
            cards,
            funds,
            agreements,
            marketing,
            quotas,
            cashier,
        }
    }
}

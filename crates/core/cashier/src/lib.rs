//! The cashier (收银台, S5) and the wallet's instruments (S6): a payment the payer pays from
//! the platform's own accounts — balance (P8), coins (P7), credit (P9), a coupon (S14), a bound
//! card by quick pay (P1) — alone or combined (P11), all or nothing.
//!
//! To acquiring this is one more channel, `wallet`: a wallet payment is created like any other
//! and waits (`next_action: cashier`) until the payer chooses instruments. The payer's choice
//! is a *plan* for the payment's attempt; the plan takes every wallet part in one transaction
//! (coupon used, limits consumed, vouchers posted into the wallet channel's clearing account),
//! then the card part at the bank. A card refused gives every part back; a card result not
//! known leaves the plan `unknown` for the query-back. Acquiring then learns the result from
//! the wallet channel exactly as from a bank — its answer, its query — and books the payment
//! (channel receivable `wallet` → merchant), so refunds, cancels, expiry and late successes are
//! acquiring's one engine. Refunds come back to the wallet channel, which returns them to the
//! parts in a declared order ([`PartKind::REFUND_ORDER`]), never more to one than it paid.
//!
//! # Modules
//! `model` → `plan` (instruments to parts) → `take` (the wallet parts, and their way back) →
//! `card` (the bank part) → `refund` → `channel` (the connector) → `methods` → `pay` (the
//! payer's call, with acquiring and risk) → `verify` (step-up) → `repay`.

mod card;
mod channel;
mod coins;
mod methods;
mod model;
mod pay;
mod plan;
mod refund;
mod repay;
mod rows;
mod take;
mod verify;

pub use channel::WALLET_CHANNEL;
pub use methods::{CardMethod, CouponMethod, Methods};
pub use model::{Instrument, Part, PartKind, Plan, PlanStatus};
pub use pay::{PayOutcome, PayRequest};
pub use verify::Verification;

use std::sync::Arc;

use paycore_acquiring::AcquiringError;
use paycore_card::{CardError, Cards};
use paycore_channels::Connector;
use paycore_credit::{Credit, CreditError};
use paycore_kernel::id::IdError;
use paycore_kernel::{Clock, IdGenerator, MoneyError};
use paycore_ledger::{Ledger, LedgerError};
use paycore_marketing::{Marketing, MarketingError};
use paycore_member::{MemberError, Members};
use paycore_quota::{QuotaError, Quotas};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::state::TransitionError;
use paycore_store::{Db, StoreError};

/// The cashier's tables.
pub const SCHEMA: Schema = Schema {
    component: "cashier",
    migrations: &[
        Migration {
            version: 1,
            name: "cashier",
            sql: include_str!("../migrations/0001_cashier.sql"),
        },
        Migration {
            version: 2,
            name: "challenged requests",
            sql: include_str!("../migrations/0002_challenges.sql"),
        },
    ],
};

#[derive(Debug, thiserror::Error)]
pub enum CashierError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("request_no was used for a different request")]
    IdempotencyConflict,
    /// The balance, the coins or the credit line is not enough: nothing was taken.
    #[error("{0}")]
    Insufficient(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidState(String),
    /// Risk blocked the payment (the rules that fired): nothing was taken.
    #[error("the payment was refused by risk rules: {0}")]
    RiskRejected(String),
    /// The bank refused the card part: every part was given back.
    #[error("{0}")]
    Declined(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("stored cashier data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Acquiring(#[from] AcquiringError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Risk(#[from] paycore_risk::RiskError),
}

impl From<sqlx::Error> for CashierError {
    fn from(e: sqlx::Error) -> Self {
        CashierError::Store(e.into())
    }
}

impl From<TransitionError> for CashierError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => CashierError::Store(s),
            other => CashierError::InvalidState(other.to_string()),
        }
    }
}

impl From<QuotaError> for CashierError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::LimitExceeded(m) => CashierError::LimitExceeded(m),
            QuotaError::Invalid(m) => CashierError::Invalid(m),
            QuotaError::Store(s) => CashierError::Store(s),
            other => CashierError::Corrupt(other.to_string()),
        }
    }
}

impl From<CreditError> for CashierError {
    fn from(e: CreditError) -> Self {
        match e {
            CreditError::Insufficient => {
                CashierError::Insufficient("the credit available is not enough".into())
            }
            CreditError::Invalid(m) => CashierError::Invalid(m),
            CreditError::Store(s) => CashierError::Store(s),
            other => CashierError::Corrupt(other.to_string()),
        }
    }
}

impl From<MarketingError> for CashierError {
    fn from(e: MarketingError) -> Self {
        match e {
            MarketingError::NotFound => CashierError::Invalid("no such coupon".into()),
            MarketingError::InvalidState(m) | MarketingError::Invalid(m) => {
                CashierError::Invalid(format!("the coupon does not apply: {m}"))
            }
            MarketingError::Store(s) => CashierError::Store(s),
            other => CashierError::Corrupt(other.to_string()),
        }
    }
}

/// What the cashier works with.
pub struct Parts {
    pub db: Db,
    pub ids: Arc<IdGenerator>,
    pub clock: Arc<dyn Clock>,
    pub ledger: Ledger,
    pub members: Members,
    pub cards: Cards,
    pub marketing: Marketing,
    pub quotas: Quotas,
    pub credit: Credit,
    /// The risk step: every payment is judged before anything is taken.
    pub risk: paycore_risk::Risk,
    /// The bank that charges bound cards (none: card parts are unavailable).
    pub bank: Option<Arc<dyn Connector>>,
    /// `{platform}`: the cashier page is `{platform}/cashier/{payment_id}`.
    pub platform_base_url: String,
    /// Coins per 1.00 CNY (100: a coin is worth one fen).
    pub coins_per_yuan: i64,
}

/// The cashier over one database, and the members whose accounts are known to be open
/// (opening is idempotent; this saves its round trips). Cheap to clone.
#[derive(Clone)]
pub struct Cashier(
    Arc<Parts>,
    Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
);

impl Cashier {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts), Arc::default())
    }

    fn now(&self) -> i64 {
        self.0.clock.unix_millis()
    }

    /// The cashier page of a payment.
    pub fn cashier_url(&self, payment_id: &str) -> String {
        paycore_acquiring::cashier_url(&self.0.platform_base_url, payment_id)
    }

    /// The wallet channel acquiring routes wallet payments to.
    pub fn channel(&self) -> Arc<dyn Connector> {
        Arc::new(channel::WalletChannel(self.clone()))
    }

    pub fn credit(&self) -> &Credit {
        &self.0.credit
    }

    pub fn risk(&self) -> &paycore_risk::Risk {
        &self.0.risk
    }
}

/// A voucher number for a movement named by the member's own numbers (up to 64 characters
/// each): the ledger takes at most 64, so the names are hashed — the same names, the same
/// number, so the movement posts once.
pub(crate) fn voucher_no(kind: &str, names: &[&str]) -> String {
    let joined = names.join("\u{1f}");
    let hash = paycore_kernel::crypto::sha256_hex(joined.as_bytes());
    format!("{kind}.{}", &hash[..48])
}

#[cfg(test)]
mod tests {
    #[test]
    fn voucher_numbers_fit_the_ledger_and_are_stable() {
        let long = "x".repeat(64);
        let a = super::voucher_no("coins", &["20261204111011586019910000000001", &long]);
        assert!(a.len() <= 64, "{a}");
        assert_eq!(
            a,
            super::voucher_no("coins", &["20261204111011586019910000000001", &long])
        );
        assert_ne!(
            a,
            super::voucher_no(
                "coins",
                &["2026120411101158601991000000000", &format!("1{long}")]
            )
        );
    }
}

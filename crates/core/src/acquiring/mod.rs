//! Acquiring (S2) and the payment engine for channel instruments (S6): the 7 steps of a payment
//! (validate → route → create order → risk → call channel → update order → publish message),
//! refunds, cancel (撤销), close, and the query-back of unknown results (补单).
//!
//! Whatever reports a channel's result — its synchronous answer, its async notification, the
//! payer's browser return, or our query — goes through one transition function
//! ([`Acquiring::apply_payment_result`]); whichever comes first wins and the rest are no-ops.
//! A state change, its vouchers and its events commit in one database transaction.

mod flow;
mod jobs;
mod model;
mod refund;
mod reports;

pub use flow::{ChannelResult, NewPayment, ResultSource};
pub use jobs::QueryBackSchedule;
pub use model::{
    Attempt, AttemptStatus, NextAction, Payment, PaymentEvent, PaymentStatus, Refund, RefundStatus,
};
pub use refund::{FeeRefundPolicy, NewRefund};
pub use reports::{payment_json, refund_json, MerchantBalance};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use paycore_channels::routing::Router as ChannelRouter;
use paycore_channels::ChannelRegistry;
use paycore_kernel::id::IdError;
use paycore_kernel::state::IllegalTransition;
use paycore_kernel::{Clock, IdGenerator, MoneyError};
use paycore_ledger::{Ledger, LedgerError};
use paycore_store::{Db, StoreError};

use crate::merchant::{MerchantError, Merchants};

#[derive(Debug, thiserror::Error)]
pub enum AcquiringError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("the merchant has no enabled contract for {0}")]
    ProductNotEnabled(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("the same merchant number was used with different fields")]
    IdempotencyConflict,
    #[error("{0}")]
    InvalidState(String),
    #[error("refund amount exceeds the refundable amount ({refundable} left)")]
    ExceedsRefundable { refundable: i64 },
    #[error("{0}")]
    InsufficientBalance(String),
    #[error("risk rejected the payment: {0}")]
    RiskRejected(String),
    #[error("no channel can take this payment now: {0}")]
    ChannelUnavailable(String),
    #[error("channel message refused: {0}")]
    ChannelMessage(String),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl From<sqlx::Error> for AcquiringError {
    fn from(e: sqlx::Error) -> Self {
        AcquiringError::Store(e.into())
    }
}

/// The risk step (B1 step 5). The wallet issue fills it; until then everything passes.
pub trait RiskCheck: Send + Sync {
    fn assess(&self, payment: &Payment) -> Result<(), String>;
}

pub struct AllowAll;

impl RiskCheck for AllowAll {
    fn assess(&self, _: &Payment) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Clone)]
pub struct AcquiringConfig {
    /// Where channels send notifications and browsers come back: `{base}/channels/{channel}/…`.
    pub platform_base_url: String,
    /// Unpaid payments close after this many seconds unless the merchant says otherwise.
    pub default_expire_seconds: i64,
    pub query_back: QueryBackSchedule,
    pub fee_refund: FeeRefundPolicy,
}

impl Default for AcquiringConfig {
    fn default() -> Self {
        Self {
            platform_base_url: "http://127.0.0.1:8080".into(),
            default_expire_seconds: 1800,
            query_back: QueryBackSchedule::default(),
            fee_refund: FeeRefundPolicy::Proportional,
        }
    }
}

/// The acquiring service. Cheap to clone.
#[derive(Clone)]
pub struct Acquiring {
    pub(crate) db: Db,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<IdGenerator>,
    pub(crate) merchants: Merchants,
    pub(crate) ledger: Ledger,
    pub(crate) channels: ChannelRegistry,
    pub(crate) router: Arc<ChannelRouter>,
    pub(crate) risk: Arc<dyn RiskCheck>,
    pub(crate) config: Arc<AcquiringConfig>,
    /// Ledger accounts known to be open (opening is idempotent; this saves the round trips).
    pub(crate) opened: Arc<Mutex<HashSet<String>>>,
}

impl Acquiring {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        ids: Arc<IdGenerator>,
        merchants: Merchants,
        ledger: Ledger,
        channels: ChannelRegistry,
        router: Arc<ChannelRouter>,
        config: AcquiringConfig,
    ) -> Self {
        Self {
            db,
            clock,
            ids,
            merchants,
            ledger,
            channels,
            router,
            risk: Arc::new(AllowAll),
            config: Arc::new(config),
            opened: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub fn with_risk(mut self, risk: Arc<dyn RiskCheck>) -> Self {
        self.risk = risk;
        self
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn channels(&self) -> &ChannelRegistry {
        &self.channels
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.unix_millis()
    }
}

//! Acquiring (收单, S2) and the payment engine for channel instruments (S6): the 7 steps of a
//! payment (validate → route → create order → risk → call channel → update order → publish),
//! refunds, cancel (撤销), close, and the query-back of unknown results (补单).
//!
//! Whatever reports a channel's result — its synchronous answer, its async notification, the
//! payer's browser return, or our query — goes through one transition function per object
//! ([`Acquiring::apply_payment_result`], [`Acquiring::apply_refund_result`]); whichever comes
//! first wins and the rest are no-ops. A state change, its vouchers and its events commit in one
//! database transaction, and every status moves through the store's state-machine executor.
//!
//! Money leaves a payment only against a reservation on its row: refunds and cancels reserve
//! their amount by compare-and-set (`refunding_amount`) before the channel is asked, and the
//! merchant's pending settlement that pays them back is held in the ledger in the same
//! transaction. A cancel is a refund of kind `cancel` for the whole amount.
//!
//! # Modules
//! Each module uses only the ones listed before it:
//! `model`, `machines`, `error` → `rows` (loading and inserting rows) → `alerts` → `posting`
//! (vouchers) → `publish` (status moves with their events) → `channel` (step 5, calling a
//! connector) → `refund` → `apply` (a payment attempt's result) → `create` (the 7 steps) →
//! `close`, `cancel` → `inbound` (channel messages) → `query_back` (补单) → `jobs` → `bill`;
//! `wallet` (what the cashier needs).

mod alerts;
mod apply;
mod bill;
mod bursts;
mod cancel;
mod channel;
mod close;
mod create;
mod error;
mod inbound;
mod jobs;
mod machines;
mod model;
mod posting;
mod publish;
mod query_back;
mod refund;
mod rows;
mod wallet;

pub use alerts::{Alert, AlertKind};
pub use bill::MerchantBalance;
pub use channel::ChannelResult;
pub use create::{cashier_url, NewPayment, CHANNEL_PRODUCTS, WALLET_CHANNEL, WALLET_PRODUCTS};
pub use error::AcquiringError;
pub use jobs::JobKind;
pub use machines::{
    AttemptEvent, AttemptStatus, PaymentEvent, PaymentStatus, RefundEvent, RefundStatus,
};
pub use model::{Attempt, AttemptKind, NextAction, Payment, Refund, RefundKind, ResultSource};
pub use posting::Voucher;
pub use query_back::QueryBackSchedule;
pub use refund::{FeeRefundPolicy, NewRefund, RefundResult};
pub use wallet::WalletSuccess;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use paycore_channels::routing::Router as ChannelRouter;
use paycore_channels::ChannelRegistry;
use paycore_kernel::{Clock, IdGenerator};
use paycore_ledger::Ledger;
use paycore_merchant::Merchants;
use paycore_store::migrate::{Migration, Schema};
use paycore_store::Db;

/// Acquiring's tables.
pub const SCHEMA: Schema = Schema {
    component: "acquiring",
    migrations: &[
        Migration {
            version: 1,
            name: "acquiring",
            sql: include_str!("../migrations/0001_acquiring.sql"),
        },
        Migration {
            version: 2,
            name: "status histories and refund reservations",
            sql: include_str!("../migrations/0002_histories_reservations.sql"),
        },
        Migration {
            version: 3,
            name: "alert counts",
            sql: include_str!("../migrations/0003_alert_counts.sql"),
        },
        Migration {
            version: 4,
            name: "payment instruments",
            sql: include_str!("../migrations/0004_instruments.sql"),
        },
    ],
};

/// The risk step (B1 step 4). The wallet issue fills it; until then everything passes.
pub trait RiskCheck: Send + Sync {
    fn assess(&self, payment: &Payment) -> Result<(), String>;
}

pub struct AllowAll;

impl RiskCheck for AllowAll {
    fn assess(&self, _: &Payment) -> Result<(), String> {
        Ok(())
    }
}

/// What paid a wallet payment, read in the transaction that books its success (the wallet
/// channel's plans are the cashier's): its instruments as JSON, by the channel's transaction id.
pub trait PaidWith: Send + Sync {
    fn paid_with<'a>(
        &'a self,
        conn: &'a mut dyn paycore_store::Conn,
        channel_txn_id: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Option<serde_json::Value>, AcquiringError>>
                + Send
                + 'a,
        >,
    >;
}

/// How payments and refunds look to merchants: the `data` of their notifications and events.
/// The product layer's API types decide it, so the merchant contract is defined in one place.
pub trait MerchantViews: Send + Sync {
    fn payment(&self, p: &Payment) -> serde_json::Value;
    /// A refund, with the payment it belongs to (refund events name its product and channel).
    fn refund(&self, r: &Refund, p: &Payment) -> serde_json::Value;
}

#[derive(Clone)]
pub struct AcquiringConfig {
    /// Where channels send notifications and browsers come back: `{base}/channels/{channel}/…`.
    pub platform_base_url: String,
    /// Unpaid payments close after this many seconds unless the merchant says otherwise.
    pub default_expire_seconds: i64,
    pub query_back: QueryBackSchedule,
    pub fee_refund: FeeRefundPolicy,
    /// Which addresses a payment's `notify_url` may point to (the notifier's own policy).
    pub outbound: paycore_notify::OutboundPolicy,
}

impl Default for AcquiringConfig {
    fn default() -> Self {
        Self {
            platform_base_url: "http://127.0.0.1:8080".into(),
            default_expire_seconds: 1800,
            query_back: QueryBackSchedule::default(),
            fee_refund: FeeRefundPolicy::Proportional,
            outbound: paycore_notify::OutboundPolicy::default(),
        }
    }
}

/// What acquiring works with.
pub struct Parts {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<IdGenerator>,
    pub merchants: Merchants,
    pub ledger: Ledger,
    pub channels: ChannelRegistry,
    pub router: Arc<ChannelRouter>,
    pub views: Arc<dyn MerchantViews>,
    pub config: AcquiringConfig,
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
    pub(crate) paid_with: Option<Arc<dyn PaidWith>>,
    pub(crate) views: Arc<dyn MerchantViews>,
    pub(crate) config: Arc<AcquiringConfig>,
    /// Ledger accounts known to be open (opening is idempotent; this saves the round trips).
    pub(crate) opened: Arc<Mutex<HashSet<String>>>,
    /// Set when the platform stops: nobody waits for a channel's answer any more.
    pub(crate) stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Running bursts of refused channel messages.
    pub(crate) bursts: Arc<bursts::Bursts>,
}

impl Acquiring {
    pub fn new(p: Parts) -> Self {
        Self {
            db: p.db,
            clock: p.clock,
            ids: p.ids,
            merchants: p.merchants,
            ledger: p.ledger,
            channels: p.channels,
            router: p.router,
            risk: Arc::new(AllowAll),
            paid_with: None,
            views: p.views,
            config: Arc::new(p.config),
            opened: Arc::new(Mutex::new(HashSet::new())),
            bursts: Arc::default(),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// For a clean stop: channel calls in flight stop being waited for. A payment's call then
    /// answers as unknown and a refund's as pending — what a timeout answers — so the request
    /// ends with an honest `processing`, and the query-back settles it after the restart.
    pub fn stop_waiting(&self) {
        self.stopping.send_replace(true);
    }

    pub fn with_risk(mut self, risk: Arc<dyn RiskCheck>) -> Self {
        self.risk = risk;
        self
    }

    /// Who tells what paid a wallet payment (the cashier).
    pub fn with_paid_with(mut self, paid_with: Arc<dyn PaidWith>) -> Self {
        self.paid_with = Some(paid_with);
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

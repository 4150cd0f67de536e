//! Sandbox channels (沙箱渠道): real HTTP counterparts of a net-bank, two wallets, a carrier and a
//! quick-pay bank, served under `/sandbox` by paycore itself or by a process of their own
//! ([`serve_standalone`], with [`ChannelCredentials`] for the platform). Each speaks its own wire format,
//! signs with its own key, keeps its own books (`sandbox_*` tables), sends async notifications
//! with retries, produces daily settlement files, and can be told to misbehave.
//!
//! Wiring: [`install_routing`] (the channels' routing rows, idempotent), build a
//! [`SandboxState`], merge [`sandbox_router`] into the server (its routes carry the full
//! `/sandbox/...` paths), and register [`sandbox_connectors`] in the platform's
//! `paycore_channels::ChannelRegistry`. The platform must serve `POST /channels/{channel}/notify` (and the
//! net-bank's return URL) and hand what it receives to `Connector::parse_notification`.

pub mod behaviour;
pub mod books;
mod cards;
pub mod connector;
mod controls;
pub mod credentials;
pub mod identity;
pub mod kind;
pub mod notifier;
mod pages;
mod payouts;
mod routing;
pub mod server;
pub mod settlement;
pub mod sms;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paycore_kernel::crypto::Vault;
use paycore_kernel::Clock;
use paycore_store::migrate::{Migration, Schema};
use paycore_store::Db;

pub use behaviour::{Behaviour, SettlementDifferences};
pub use books::SandboxError;
pub use connector::{sandbox_connectors, SandboxConnector, SandboxConnectorConfig};
pub use credentials::{ChannelCredential, ChannelCredentials};
pub use kind::Kind;
pub use routing::{install_routing, sandbox_channel_config};
pub use server::{sandbox_router, serve_standalone};
pub use settlement::{parse_settlement_csv, SettlementLine};

/// Channel names of the sandbox channels (the `code()` of their connectors).
pub mod codes {
    pub const NETBANK: &str = "sandbox-netbank";
    pub const ALIPAY: &str = "sandbox-alipay";
    pub const WECHAT: &str = "sandbox-wechat";
    pub const CARRIER: &str = "sandbox-carrier";
    pub const QUICKPAY: &str = "sandbox-quickpay";
    /// Every sandbox channel, in a fixed order.
    pub const ALL: [&str; 5] = [NETBANK, ALIPAY, WECHAT, CARRIER, QUICKPAY];
}

/// The sandbox channels' own tables.
pub const SCHEMA: Schema = Schema {
    component: "sandbox",
    migrations: &[
        Migration {
            version: 1,
            name: "sandbox",
            sql: include_str!("../migrations/0001_sandbox.sql"),
        },
        Migration {
            version: 2,
            name: "status histories",
            sql: include_str!("../migrations/0002_histories.sql"),
        },
        Migration {
            version: 3,
            name: "card agreements",
            sql: include_str!("../migrations/0003_card_agreements.sql"),
        },
        Migration {
            version: 4,
            name: "payouts",
            sql: include_str!("../migrations/0004_payouts.sql"),
        },
    ],
};

use behaviour::RateCounters;
use wire::ChannelKeys;

/// Everything the sandbox server needs. Cheap to clone.
#[derive(Clone)]
pub struct SandboxState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Seals the channels' keys at rest.
    vault: Vault,
    base_url: String,
    http: reqwest::Client,
    counters: RateCounters,
    kick: tokio::sync::Notify,
    keys: Mutex<HashMap<Kind, ChannelKeys>>,
    notifier_started: AtomicBool,
    /// Turns true when the sandbox stops (its notification sender ends).
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SandboxState({})", self.inner.base_url)
    }
}

/// How long the sandbox waits for the platform to answer a notification.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

impl SandboxState {
    /// `base_url` is where this server is reachable (e.g. `http://127.0.0.1:8080`), without the
    /// `/sandbox` suffix: page URLs are `{base_url}/sandbox/...`.
    /// `vault` seals the channels' keys at rest.
    pub fn new(db: Db, clock: Arc<dyn Clock>, vault: Vault, base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(NOTIFY_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self::with_http_client(db, clock, vault, base_url, http)
    }

    /// Like [`SandboxState::new`] with the client used to send notifications.
    pub fn with_http_client(
        db: Db,
        clock: Arc<dyn Clock>,
        vault: Vault,
        base_url: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                vault,
                base_url: base_url.into().trim_end_matches('/').to_string(),
                http,
                counters: RateCounters::default(),
                kick: tokio::sync::Notify::new(),
                keys: Mutex::new(HashMap::new()),
                notifier_started: AtomicBool::new(false),
                stop: tokio::sync::watch::channel(false).0,
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn counters(&self) -> &RateCounters {
        &self.inner.counters
    }

    /// Wakes the notification sender (something was queued).
    pub(crate) fn kick(&self) {
        self.inner.kick.notify_one();
    }

    pub(crate) async fn kicked(&self) {
        self.inner.kick.notified().await
    }

    /// The channel's full key material (created on first use).
    pub(crate) async fn keys(&self, kind: Kind) -> Result<ChannelKeys, SandboxError> {
        if let Some(k) = self
            .inner
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&kind)
        {
            return Ok(k.clone());
        }
        let k = books::ensure_keys(self.db(), self.clock(), &self.inner.vault, kind).await?;
        self.inner
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind, k.clone());
        Ok(k)
    }

    /// Starts the notification sender once (a background task on the current runtime).
    /// [`sandbox_router`] calls this; calling it again does nothing.
    pub fn start_notifier(&self) {
        if self.inner.notifier_started.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(notifier::run(self.clone(), self.inner.stop.subscribe()));
            }
            Err(_) => {
                // No runtime yet: let a later call start it.
                self.inner.notifier_started.store(false, Ordering::SeqCst);
                tracing::warn!(target: "detail", "sandbox notifier not started: no tokio runtime");
            }
        }
    }

    /// Stops the notification sender (after the delivery in flight).
    pub fn stop(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Sends what is due now (tests and `paycore sandbox` may drive it by hand).
    pub async fn deliver_due_notifications(&self) -> Result<usize, SandboxError> {
        notifier::deliver_due(self).await
    }
}

/// The sandbox's endpoints, for the platform's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    server::openapi()
}

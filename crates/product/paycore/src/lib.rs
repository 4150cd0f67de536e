//! The paycore program: settings, wiring of the layers, and the start of the server.
//! `main.rs` is the command line on top of this; tests start servers through it too.

pub mod bench_api;
pub mod bench_wallet;
pub mod custody;
pub mod demo;
pub mod keys_cmd;
pub mod ledger_cmd;
pub mod logs;
pub mod member_services;
pub mod merchant_cmd;
pub mod mode;
pub mod operator_cmd;
pub mod payer;
pub mod sandbox_cmd;
pub mod serve;
pub mod settings;
pub mod testing;

use std::path::Path;

pub use custody::write_private;
use std::sync::Arc;

use anyhow::Context;
use paycore_acquiring::{Acquiring, AcquiringConfig};
use paycore_channels::routing::Router as ChannelRouter;
use paycore_channels::ChannelRegistry;
use paycore_gateway::auth::{NonceStore, RateLimits};
use paycore_gateway::signing::PlatformKeys;
use paycore_gateway::{AppState, Gateway, GatewayConfig};
use paycore_kernel::crypto::Vault;
use paycore_kernel::{Clock, IdGenerator, IdLayout};
use paycore_merchant::{MerchantStatus, Merchants};
use paycore_notify::{Notifier, NotifyConfig};
use paycore_operators::Operators;
use paycore_sandbox::SandboxState;
use paycore_store::migrate::Schema;
use paycore_store::sequence::DbSequenceSource;
use paycore_store::Db;

/// Every subsystem's tables, in the order their migrations run: each after the ones it
/// depends on.
pub const SCHEMA: [&Schema; 19] = [
    &paycore_store::migrate::SCHEMA,
    &paycore_ledger::SCHEMA,
    &paycore_channels::SCHEMA,
    &paycore_sandbox::SCHEMA,
    &paycore_merchant::SCHEMA,
    &paycore_member::SCHEMA,
    &paycore_card::SCHEMA,
    &paycore_fund::SCHEMA,
    &paycore_agreement::SCHEMA,
    &paycore_marketing::SCHEMA,
    &paycore_quota::SCHEMA,
    &paycore_credit::SCHEMA,
    &paycore_risk::SCHEMA,
    &paycore_notify::SCHEMA,
    &paycore_acquiring::SCHEMA,
    &paycore_cashier::SCHEMA,
    &paycore_reports::SCHEMA,
    &paycore_operators::SCHEMA,
    &paycore_gateway::SCHEMA,
];

/// The platform's modules over one database: what every subcommand works with.
#[derive(Clone)]
pub struct Platform {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<IdGenerator>,
    pub vault: Vault,
    pub merchants: Merchants,
    pub members: paycore_member::Members,
    pub ledger: paycore_ledger::Ledger,
    pub channel_router: Arc<ChannelRouter>,
    /// Settings of the payment flow (its `platform_base_url` is set by `gateway`).
    pub acquiring_config: AcquiringConfig,
    /// How long a call to a channel may take; a money-moving call that times out has an
    /// unknown result and is queried back.
    pub channel_timeout: std::time::Duration,
    pub sandbox: bool,
    /// Where merchants' notifications may go: public addresses, loopback too in sandbox mode,
    /// and the hosts the operator names.
    pub outbound: paycore_notify::OutboundPolicy,
    /// In sandbox mode, a sandbox running as a process of its own (`paycore sandbox`) to call
    /// instead of serving the sandbox channels in this server.
    pub sandbox_channels: Option<paycore_sandbox::ChannelCredentials>,
}

impl Platform {
    /// Opens the database (creating and migrating it as needed), settles the mode against the
    /// one the database records (see [`mode`]) and wires the modules.
    pub async fn open(
        target: &settings::Target,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Platform> {
        Self::open_checked(target, clock, |_| Ok(())).await
    }

    /// [`Platform::open`], refusing a mode that `check` refuses before a new database records it.
    pub async fn open_checked(
        target: &settings::Target,
        clock: Arc<dyn Clock>,
        check: impl FnOnce(settings::Mode) -> anyhow::Result<()>,
    ) -> anyhow::Result<Platform> {
        if target.database_url.is_none() {
            custody::private_dir(&target.data_dir)?;
        }
        let db = Db::open(&target.data_dir, target.database_url.as_deref())
            .await
            .context("opening the database")?;
        paycore_store::migrate::run(&db, &SCHEMA)
            .await
            .context("migrating the database")?;
        let mode = mode::settle(&db, target.mode, clock.unix_millis(), check).await?;
        Self::with_db(db, &target.data_dir, clock, mode == settings::Mode::Sandbox)
    }

    pub fn with_db(
        db: Db,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        sandbox: bool,
    ) -> anyhow::Result<Platform> {
        let vault = custody::vault(data_dir)?;
        let ids = Arc::new(IdGenerator::new(
            IdLayout::default(),
            Arc::new(DbSequenceSource::new(db.clone())),
            clock.clone(),
        ));
        let initial = if sandbox {
            MerchantStatus::Active
        } else {
            MerchantStatus::Onboarding
        };
        let merchants = Merchants::new(
            db.clone(),
            ids.clone(),
            vault.clone(),
            clock.clone(),
            initial,
        );
        let ledger = paycore_ledger::Ledger::new(db.clone(), clock.clone());
        let channel_router = Arc::new(ChannelRouter::new(db.clone(), clock.clone()));
        let members = member_services::members(&db, ids.clone(), &vault, clock.clone(), sandbox);
        Ok(Platform {
            members,
            channel_router,
            acquiring_config: AcquiringConfig::default(),
            channel_timeout: std::time::Duration::from_secs(10),
            db,
            clock,
            ids,
            vault,
            merchants,
            ledger,
            sandbox,
            outbound: paycore_notify::OutboundPolicy {
                allow_loopback: sandbox,
                allowed_hosts: Vec::new(),
            },
            sandbox_channels: None,
        })
    }

    /// The gateway's state: platform keys loaded (or created), operators registered, the
    /// channels connected (in sandbox mode: the sandbox channels, served by this server at
    /// `base_url`), the payment flow and the notifier wired.
    pub async fn gateway(
        &self,
        config: GatewayConfig,
        admin_token: Option<&str>,
        base_url: &str,
    ) -> anyhow::Result<(AppState, Option<String>)> {
        let platform = PlatformKeys::load_or_create(&self.db, &self.vault, self.clock.as_ref())
            .await
            .context("platform signing keys")?;
        let operators = Operators::new(self.db.clone());
        let now = self.clock.unix_millis();
        let generated = match admin_token {
            Some(t) => {
                operators
                    .set_first_token(t, now)
                    .await
                    .context("PAYCORE_ADMIN_TOKEN")?;
                None
            }
            None => operators
                .bootstrap(now)
                .await
                .context("creating the first operator")?,
        };
        let (sandbox, connectors) = self.sandbox_connectors(base_url).await?;
        let payer = self.payer_side(&connectors, base_url);
        let mut connectors = connectors;
        connectors.push(payer.cashier.channel());
        let acquiring = Acquiring::new(paycore_acquiring::Parts {
            db: self.db.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            merchants: self.merchants.clone(),
            ledger: self.ledger.clone(),
            channels: ChannelRegistry::from_connectors(connectors),
            router: self.channel_router.clone(),
            views: Arc::new(paycore_gateway::views::ApiViews),
            config: AcquiringConfig {
                platform_base_url: base_url.trim_end_matches('/').to_string(),
                outbound: self.outbound.clone(),
                ..self.acquiring_config.clone()
            },
        })
        .with_paid_with(Arc::new(payer.cashier.clone()));
        let signer = paycore_gateway::signing::NotificationSigner {
            keys: platform.clone(),
            clock: self.clock.clone(),
        };
        let notifier = Notifier::new(
            self.db.clone(),
            self.clock.clone(),
            Arc::new(signer),
            NotifyConfig {
                outbound: self.outbound.clone(),
                ..NotifyConfig::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("notifier: {e}"))?;
        let openapi = Arc::new(paycore_gateway::openapi::document(sandbox.is_some()));
        let state = AppState::new(Gateway {
            auth_failures: Default::default(),
            openapi,
            db: self.db.clone(),
            merchants: self.merchants.clone(),
            members: self.members.clone(),
            cards: payer.cards,
            funds: payer.funds,
            agreements: payer.agreements,
            marketing: payer.marketing,
            quotas: payer.quotas,
            cashier: payer.cashier,
            acquiring,
            notifier,
            channel_router: self.channel_router.clone(),
            sandbox,
            platform,
            nonces: NonceStore::new(self.db.clone()),
            rate_limits: RateLimits::new(config.rate_per_second, config.rate_burst),
            address_limits: RateLimits::new(
                config.address_rate_per_second,
                config.address_rate_per_second.saturating_mul(2),
            ),
            operators,
            clock: self.clock.clone(),
            config,
        });
        Ok((state, generated))
    }
}

impl Platform {
    /// The channels of sandbox mode: those of a remote sandbox when one is named, else the
    /// sandbox served by this server at `base_url` (with its state). None outside sandbox mode.
    async fn sandbox_connectors(
        &self,
        base_url: &str,
    ) -> anyhow::Result<(
        Option<SandboxState>,
        Vec<Arc<dyn paycore_channels::Connector>>,
    )> {
        if !self.sandbox {
            return Ok((None, Vec::new()));
        }
        paycore_sandbox::install_routing(&self.db, self.clock.as_ref())
            .await
            .context("installing the sandbox channels")?;
        let config = paycore_sandbox::SandboxConnectorConfig {
            timeout: self.channel_timeout,
        };
        if let Some(remote) = &self.sandbox_channels {
            let connectors = remote
                .connectors(&config)
                .context("connecting the remote sandbox channels")?;
            return Ok((None, connectors));
        }
        let connectors = paycore_sandbox::sandbox_connectors(
            base_url,
            &self.db,
            self.clock.as_ref(),
            &self.vault,
            &config,
        )
        .await
        .context("connecting the sandbox channels")?;
        let state = SandboxState::new(
            self.db.clone(),
            self.clock.clone(),
            self.vault.clone(),
            base_url,
        );
        Ok((Some(state), connectors))
    }
}

/// The background work of a serving node: gateway upkeep, merchant notifications, top-up
/// query-back, coupon expiry and unconfirmed cards and agreements ended, the acquiring jobs (query-back, expiry, automatic refunds), the outbox
/// subscribers, and the ledger's hot-account summarizer and hold expiry. All stop when `shutdown` fires.
pub fn spawn_workers(
    state: &AppState,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let owner = format!(
        "node-{}-{}",
        std::process::id(),
        paycore_kernel::crypto::random_token(8).unwrap_or_default()
    );
    let acquiring = state.acquiring.clone();
    let jobs_stop = shutdown.clone();
    let bus = paycore_store::bus::Bus::new(
        state.db.clone(),
        state.clock.clone(),
        vec![Arc::new(paycore_reports::PaymentStats)],
    );
    let bus_stop = stopped(shutdown.clone());
    let ledger = state.acquiring.ledger().clone();
    let mut ledger_stop = shutdown.clone();
    let funds = state.funds.clone();
    let mut funds_stop = shutdown.clone();
    let (marketing, cards, agreements) = (
        state.marketing.clone(),
        state.cards.clone(),
        state.agreements.clone(),
    );
    let mut coupons_stop = shutdown.clone();
    vec![
        // The payer side's housekeeping: coupons past their time expired, cards and agreements
        // never confirmed (their codes long dead) ended.
        tokio::spawn(async move {
            loop {
                if let Err(e) = marketing.expire_due().await {
                    tracing::warn!(target: "detail", error = %e, "expiring coupons failed");
                }
                if let Err(e) = cards.fail_unconfirmed(10 * 60_000).await {
                    tracing::warn!(target: "detail", error = %e, "ending unconfirmed cards failed");
                }
                if let Err(e) = agreements.terminate_unconfirmed(30 * 60_000).await {
                    tracing::warn!(target: "detail", error = %e, "ending unconfirmed agreements failed");
                }
                tokio::select! {
                    _ = coupons_stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                }
            }
        }),
        // Top-ups whose result the bank did not give: asked again until it is known.
        tokio::spawn(async move {
            loop {
                if let Err(e) = funds.query_back(10_000).await {
                    tracing::warn!(target: "detail", error = %e, "top-up query-back failed");
                }
                tokio::select! {
                    _ = funds_stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
            }
        }),
        // Hot accounts' buffered flows into their balances, and holds past their time released.
        tokio::spawn(async move {
            let every = std::time::Duration::from_millis(ledger.config().summary_interval_ms);
            loop {
                if let Err(e) = ledger.summarize(ledger.config().summary_batch).await {
                    tracing::warn!(target: "detail", error = %e, "summarizing hot accounts failed");
                }
                if let Err(e) = ledger.expire_holds().await {
                    tracing::warn!(target: "detail", error = %e, "expiring holds failed");
                }
                tokio::select! {
                    _ = ledger_stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        }),
        tokio::spawn(async move {
            bus.run(std::time::Duration::from_millis(500), bus_stop)
                .await
        }),
        paycore_gateway::spawn_upkeep(state.clone(), shutdown.clone()),
        state.notifier.spawn(stopped(shutdown.clone())),
        tokio::spawn(async move {
            acquiring
                .run_jobs(owner, std::time::Duration::from_millis(500), jobs_stop)
                .await
        }),
    ]
}

//! A real server on a loopback port, for tests: the same wiring as `paycore serve`, over a
//! fresh database of the engine the test run selects (see `paycore_store::testing`).

use std::net::SocketAddr;
use std::sync::Arc;

use paycore_gateway::{AppState, GatewayConfig, TlsFiles};
use paycore_kernel::{Clock, SystemClock};
use paycore_store::testing::TestDb;

use crate::Platform;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub addr: SocketAddr,
    pub base_url: String,
    pub platform: Platform,
    pub state: AppState,
    pub db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    stop_workers: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    task: AbortOnDrop,
}

pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub gateway: GatewayConfig,
    pub tls: Option<TlsFiles>,
    pub sandbox: bool,
    /// A sandbox of its own to call (see `paycore sandbox`) instead of the in-process one.
    pub sandbox_channels: Option<paycore_sandbox::ChannelCredentials>,
    /// Run the background workers (notifications, query-back, expiry); tests that drive the
    /// jobs themselves turn them off.
    pub workers: bool,
    pub acquiring: paycore_acquiring::AcquiringConfig,
    pub channel_timeout: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            gateway: GatewayConfig::default(),
            tls: None,
            sandbox: true,
            sandbox_channels: None,
            workers: true,
            acquiring: Default::default(),
            channel_timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl Options {
    /// The defaults without the throttle of failed operator authentication, for tests that
    /// send bad operator tokens on purpose.
    pub fn without_auth_throttle() -> Self {
        Self {
            gateway: GatewayConfig {
                operator_auth_failures: 0,
                ..GatewayConfig::default()
            },
            ..Self::default()
        }
    }
}

impl TestServer {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> anyhow::Result<Self> {
        Self::start_on(
            paycore_store::testing::migrated_with(&crate::SCHEMA[1..]).await?,
            opts,
        )
        .await
    }

    /// Starts on an existing database (a restart: stop one server, start another on its db).
    pub async fn start_on(db: TestDb, opts: Options) -> anyhow::Result<Self> {
        // Logs go to the test's captured output, shown when it fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,error=error")),
            )
            .with_test_writer()
            .try_init();
        let mut platform = Platform::with_db(db.db.clone(), &db.dir, opts.clock, opts.sandbox)?;
        platform.acquiring_config = opts.acquiring;
        platform.channel_timeout = opts.channel_timeout;
        platform.sandbox_channels = opts.sandbox_channels;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        let (state, _) = platform
            .gateway(opts.gateway, Some(ADMIN_TOKEN), &base_url)
            .await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let workers = if opts.workers {
            crate::spawn_workers(&state, stop_rx)
        } else {
            Vec::new()
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(paycore_gateway::serve(
            listener,
            state.clone(),
            opts.tls,
            async {
                let _ = rx.await;
            },
        ));
        Ok(Self {
            addr,
            base_url,
            stop_workers: stop_tx,
            workers,
            platform,
            state,
            db,
            shutdown: Some(tx),
            task: AbortOnDrop(Some(task)),
        })
    }

    /// Stops the server and hands back its database.
    pub async fn stop(mut self) -> TestDb {
        let _ = self.stop_workers.send(true);
        for w in self.workers.drain(..) {
            w.abort();
            let _ = w.await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.0.take() {
            // Idle keep-alive connections may hold a graceful shutdown; don't wait forever.
            let abort = t.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(5), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.db
    }
}

/// Aborts the server task when the test drops the server without stopping it.
struct AbortOnDrop(Option<tokio::task::JoinHandle<std::io::Result<()>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

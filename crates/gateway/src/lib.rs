//! Product layer: the HTTP fronts of paycore.
//!
//! - `/v1`: the merchant API, signed requests and signed responses ([`auth`], [`signing`]).
//! - `/admin/v1`: the operator API ([`admin`]).
//! - `/healthz`, `/readyz`, `/metrics`, `/openapi.json` ([`service`]).

pub mod admin;
pub mod auth;
pub mod error;
pub mod extract;
pub mod ledger_api;
pub mod merchant_api;
pub mod notify_api;
pub mod observe;
pub mod operations_api;
pub mod payment_api;
pub mod service;
pub mod signing;
mod tls;

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use paycore_channels::routing::Router as ChannelRouter;
use paycore_channels::sandbox::SandboxState;
use paycore_core::acquiring::Acquiring;
use paycore_core::merchant::Merchants;
use paycore_core::notify::Notifier;
use paycore_kernel::Clock;
use paycore_store::Db;

use crate::admin::Operators;
use crate::auth::{NonceStore, RateLimits};
use crate::error::{ApiError, ErrorCode};
use crate::signing::PlatformKeys;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub max_body_bytes: usize,
    pub timestamp_window_secs: i64,
    /// Requests per second per merchant (0: unlimited) and the burst above it.
    pub rate_per_second: u32,
    pub rate_burst: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            timestamp_window_secs: 300,
            rate_per_second: 1000,
            rate_burst: 2000,
        }
    }
}

pub struct Gateway {
    pub db: Db,
    pub merchants: Merchants,
    pub platform: Arc<PlatformKeys>,
    pub nonces: NonceStore,
    pub rate_limits: RateLimits,
    pub operators: Operators,
    pub clock: Arc<dyn Clock>,
    pub config: GatewayConfig,
    pub acquiring: Acquiring,
    pub notifier: Notifier,
    pub channel_router: Arc<ChannelRouter>,
    /// The sandbox channels' own server, in sandbox mode.
    pub sandbox: Option<SandboxState>,
}

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Gateway>);

impl AppState {
    pub fn new(g: Gateway) -> Self {
        Self(Arc::new(g))
    }
}

impl Deref for AppState {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.0
    }
}

/// RFC 3339 from unix milliseconds (the API's timestamps).
pub fn rfc3339(unix_millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

pub fn router(app: AppState) -> Router {
    use axum::middleware::from_fn_with_state;
    // Install the metrics recorder before the first request is counted.
    observe::prometheus();
    use axum::routing::post;
    let v1_signed = Router::new()
        .route("/v1/merchant", get(merchant_api::whoami))
        .route(
            "/v1/payments",
            post(payment_api::create_payment).get(payment_api::find_payment),
        )
        .route("/v1/payments/{id}", get(payment_api::get_payment))
        .route("/v1/payments/{id}/close", post(payment_api::close_payment))
        .route(
            "/v1/payments/{id}/cancel",
            post(payment_api::cancel_payment),
        )
        .route(
            "/v1/refunds",
            post(payment_api::create_refund).get(payment_api::find_refund),
        )
        .route("/v1/refunds/{id}", get(payment_api::get_refund))
        .route("/v1/bills/{day}", get(payment_api::bill))
        .route("/v1/balance", get(payment_api::balance))
        .route("/v1/notifications", get(notify_api::list_notifications))
        .route(
            "/v1/notifications/{id}/resend",
            post(notify_api::resend_notification),
        )
        .route("/v1/{*rest}", axum::routing::any(not_found))
        .layer(from_fn_with_state(app.clone(), auth::authenticate));
    let v1 = Router::new()
        .route("/v1/platform/keys", get(merchant_api::platform_keys))
        .merge(v1_signed)
        .layer(from_fn_with_state(app.clone(), signing::sign_responses));
    let root = Router::new()
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(service::metrics))
        .route("/openapi.json", get(service::openapi))
        .route(
            "/channels/{channel}/notify",
            post(payment_api::channel_notify),
        )
        .route(
            "/channels/{channel}/return",
            get(payment_api::channel_return),
        )
        .merge(admin::routes(app.clone()))
        .merge(operations_api::routes(app.clone()))
        .merge(ledger_api::routes(app.clone()))
        .merge(v1);
    let mut root: Router = root.with_state(app.clone());
    if let Some(sandbox) = &app.sandbox {
        root = root.merge(paycore_channels::sandbox::sandbox_router(sandbox.clone()));
    }
    root.fallback(not_found)
        .layer(from_fn_with_state(app.clone(), durable_responses))
        .layer(axum::middleware::from_fn(observe::layer))
}

/// No answer leaves before what it reports is on disk: the embedded database syncs commits in
/// groups, and every request joins the next group sync before its response is sent.
async fn durable_responses(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let resp = next.run(req).await;
    match app.db.durable().await {
        Ok(()) => resp,
        Err(e) => axum::response::IntoResponse::into_response(ApiError::internal(&e)),
    }
}

/// Background upkeep of the gateway: forgets expired nonces and idle rate-limit buckets.
pub fn spawn_upkeep(app: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match app.nonces.purge(app.clock.unix_seconds()).await {
                Ok(n) if n > 0 => {
                    tracing::debug!(target: "detail", purged = n, "expired nonces purged")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(target: "detail", error = %e, "nonce purge failed"),
            }
            app.rate_limits.forget_idle();
        }
    })
}

pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves until `shutdown` resolves, over TLS when files are given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(app);
    match tls {
        None => {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
        Some(files) => tls::serve(listener, router, &files, shutdown).await,
    }
}

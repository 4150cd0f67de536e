//! Product layer: the HTTP fronts of paycore.
//!
//! - `/v1`: the merchant API, signed requests and signed responses ([`auth`], [`signing`]).
//! - `/admin/v1`: the operator API ([`admin`]).
//! - `/channels/{channel}/…`: the channels' callbacks ([`callbacks`]).
//! - `/healthz`, `/readyz`, `/metrics`, `/openapi.json` ([`service`], [`openapi`]).
//!
//! Request and response bodies are the types of `paycore-api`; [`views`] turns records into
//! them. Every refusal is the API's JSON error ([`error`], [`extract`]).

pub mod admin;
pub mod agreement_api;
pub mod auth;
pub mod callbacks;
pub mod card_api;
pub mod cashier_api;
mod cashier_page;
pub mod error;
pub mod extract;
pub mod input;
mod limits;
pub mod member_api;
pub mod merchant_api;
pub mod notify_api;
pub mod observe;
pub mod openapi;
pub mod payment_api;
pub mod server;
pub mod service;
pub mod signing;
mod tls;
pub mod views;
pub mod wallet_api;

pub use server::ConnectionLimits;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use paycore_acquiring::Acquiring;
use paycore_api::ErrorCode;
use paycore_channels::routing::Router as ChannelRouter;
use paycore_kernel::Clock;
use paycore_merchant::Merchants;
use paycore_notify::Notifier;
use paycore_operators::Operators;
use paycore_sandbox::SandboxState;
use paycore_store::migrate::{Migration, Schema};
use paycore_store::Db;

use crate::auth::{NonceStore, RateLimits};
use crate::error::ApiError;
use crate::signing::PlatformKeys;

/// The gateway's tables: platform signing keys and seen nonces.
pub const SCHEMA: Schema = Schema {
    component: "gateway",
    migrations: &[Migration {
        version: 1,
        name: "gateway",
        sql: include_str!("../migrations/0001_gateway.sql"),
    }],
};

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub max_body_bytes: usize,
    pub timestamp_window_secs: i64,
    /// Requests per second per merchant (0: unlimited) and the burst above it.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// Requests per second per client address, before authentication (0: unlimited), with a
    /// burst of twice that. Health checks are not counted.
    pub address_rate_per_second: u32,
    /// A request body must arrive whole within this.
    pub body_read_timeout: Duration,
    /// A request must be answered within this.
    pub request_timeout: Duration,
    pub connections: ConnectionLimits,
    /// Serve `/metrics` with the API; off when it has a listener of its own
    /// ([`serve_metrics`]), so that it need not face the internet.
    pub metrics_on_api: bool,
    /// Failed operator authentications allowed per client address per minute; beyond,
    /// `RATE_LIMITED` until the minute is over (0: no limit).
    pub operator_auth_failures: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            timestamp_window_secs: 300,
            rate_per_second: 1000,
            rate_burst: 2000,
            address_rate_per_second: 5000,
            body_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            connections: ConnectionLimits::default(),
            metrics_on_api: true,
            operator_auth_failures: 10,
        }
    }
}

pub struct Gateway {
    pub db: Db,
    pub merchants: Merchants,
    pub members: paycore_member::Members,
    pub cards: paycore_card::Cards,
    pub funds: paycore_fund::Funds,
    pub agreements: paycore_agreement::Agreements,
    pub marketing: paycore_marketing::Marketing,
    pub quotas: paycore_quota::Quotas,
    pub cashier: paycore_cashier::Cashier,
    pub platform: Arc<PlatformKeys>,
    pub nonces: NonceStore,
    pub rate_limits: RateLimits,
    /// Requests per client address (see [`GatewayConfig::address_rate_per_second`]).
    pub address_limits: RateLimits,
    pub operators: Operators,
    /// Failed operator authentications by client address (throttled).
    pub auth_failures: admin::guard::AuthFailures,
    pub clock: Arc<dyn Clock>,
    pub config: GatewayConfig,
    pub acquiring: Acquiring,
    pub notifier: Notifier,
    pub channel_router: Arc<ChannelRouter>,
    /// The sandbox channels' own server, in sandbox mode.
    pub sandbox: Option<SandboxState>,
    /// The OpenAPI document this server serves.
    pub openapi: Arc<serde_json::Value>,
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

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

/// The member (wallet) API: registration and login open, the rest behind the member's token.
fn members_router(app: AppState) -> Router<AppState> {
    use axum::middleware::from_fn_with_state;
    use axum::routing::{post, put};
    let me = Router::new()
        .route("/v1/members/logout", post(member_api::logout))
        .route("/v1/members/me", get(member_api::me))
        .route("/v1/members/me/sms", post(member_api::send_sms))
        .route("/v1/members/me/real-name", post(member_api::real_name))
        .route("/v1/members/me/pay-password", put(member_api::pay_password))
        .route(
            "/v1/members/me/password-free-limit",
            put(member_api::password_free_limit),
        )
        .route(
            "/v1/members/me/cards",
            post(card_api::bind_card).get(card_api::list_cards),
        )
        .route(
            "/v1/members/me/cards/{card_id}",
            axum::routing::delete(card_api::unbind_card),
        )
        .route(
            "/v1/members/me/cards/{card_id}/confirm",
            post(card_api::confirm_card),
        )
        .route("/v1/members/me/balance", get(wallet_api::balance))
        .route("/v1/members/me/top-ups", post(wallet_api::top_up))
        .route("/v1/members/me/transfers", post(wallet_api::transfer))
        .route("/v1/members/me/withdrawals", post(wallet_api::withdraw))
        .route("/v1/members/me/coupons", get(wallet_api::coupons))
        .route(
            "/v1/members/me/payments/{payment_id}/methods",
            get(cashier_api::methods),
        )
        .route(
            "/v1/members/me/payments/{payment_id}/pay",
            post(cashier_api::pay),
        )
        .route(
            "/v1/members/me/payments/{payment_id}/verify",
            post(cashier_api::verify),
        )
        .route(
            "/v1/members/me/credit/bills",
            get(cashier_api::credit_bills),
        )
        .route("/v1/members/me/credit/repayments", post(cashier_api::repay))
        .layer(from_fn_with_state(app.clone(), member_api::authenticate));
    Router::new()
        .route("/v1/members", post(member_api::register))
        .route("/v1/members/login", post(member_api::login))
        .merge(me)
        .layer(from_fn_with_state(app, input::refuse_nul))
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
        .route(
            "/v1/agreements",
            post(agreement_api::create_agreement).get(agreement_api::find_agreement),
        )
        .route("/v1/agreements/{id}", get(agreement_api::get_agreement))
        .route(
            "/v1/agreements/{id}/confirm",
            post(agreement_api::confirm_agreement),
        )
        .route(
            "/v1/agreements/{id}/terminate",
            post(agreement_api::terminate_agreement),
        )
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
        .route("/v1/balance", get(payment_api::merchant_balance))
        .route("/v1/notifications", get(notify_api::list_notifications))
        .route(
            "/v1/notifications/{id}/resend",
            post(notify_api::resend_notification),
        )
        .route("/v1/{*rest}", axum::routing::any(not_found))
        .layer(from_fn_with_state(app.clone(), auth::authenticate))
        .layer(from_fn_with_state(app.clone(), input::refuse_nul));
    let v1 = Router::new()
        .route("/v1/platform/keys", get(merchant_api::platform_keys))
        .merge(members_router(app.clone()))
        .merge(v1_signed)
        .layer(from_fn_with_state(app.clone(), signing::sign_responses));
    let root = Router::new()
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/openapi.json", get(service::openapi))
        .route(
            "/channels/{channel}/notify",
            post(callbacks::channel_notify),
        )
        .route("/channels/{channel}/return", get(callbacks::channel_return))
        .merge(cashier_page::routes())
        .merge(admin::routes(app.clone()));
    let root = if app.config.metrics_on_api {
        root.route("/metrics", get(service::metrics))
    } else {
        root
    };
    let mut root: Router = root.with_state(app.clone());
    if let Some(sandbox) = &app.sandbox {
        root = root.merge(paycore_sandbox::sandbox_router(sandbox.clone()));
    }
    // /v1 checks its input inside the response signature, so that the refusal is signed too.
    let root = root
        .layer(from_fn_with_state(app.clone(), input::refuse_nul))
        .merge(v1.with_state(app.clone()));
    root.fallback(not_found)
        .layer(axum::middleware::from_fn(json_method_not_allowed))
        .layer(from_fn_with_state(app.clone(), durable_responses))
        .layer(from_fn_with_state(app.clone(), limits::limits))
        .layer(axum::middleware::from_fn(observe::layer))
}

/// A known path with a method it does not have: the API's JSON error, not an empty 405.
async fn json_method_not_allowed(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED
        && resp.extensions().get::<ErrorCode>().is_none()
    {
        let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
        let mut json = axum::response::IntoResponse::into_response(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed here"),
        ));
        if let Some(allow) = allow {
            json.headers_mut().insert(axum::http::header::ALLOW, allow);
        }
        return json;
    }
    resp
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

/// Background upkeep of the gateway: forgets expired nonces and idle rate-limit buckets, until
/// `stop` turns true.
pub fn spawn_upkeep(
    app: AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            match app.nonces.purge(app.clock.unix_seconds()).await {
                Ok(n) if n > 0 => {
                    tracing::debug!(target: "detail", purged = n, "expired nonces purged")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(target: "detail", error = %e, "nonce purge failed"),
            }
            app.rate_limits.forget_idle();
            app.address_limits.forget_idle();
        }
    })
}

pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serves `/metrics` alone on a listener of its own (an internal address) until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = app.config.connections.clone();
    let router = Router::new()
        .route("/metrics", get(service::metrics))
        .fallback(not_found)
        .with_state(app);
    server::serve(listener, router, None, limits, shutdown).await
}

/// Serves until `shutdown` resolves, over TLS when files are given, within the configured
/// connection limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = app.config.connections.clone();
    let acceptor = tls.as_ref().map(tls::acceptor).transpose()?;
    server::serve(listener, router(app), acceptor, limits, shutdown).await
}

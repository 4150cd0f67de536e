//! Foundations layer: the channel gateway (渠道网关).
//!
//! - [`connector`]: the one trait every channel implements, its requests and outcomes, and the
//!   [`ChannelRegistry`] (name → connector).
//! - [`sandbox`]: the sandbox channels (net-bank, Alipay-like and WeChat-like wallets, carrier,
//!   quick-pay), served over real HTTP under `/sandbox`, and their platform-side connectors.
//! - [`routing`]: channel routing (渠道路由): eligibility, then priority, cost, success rate,
//!   health (circuit breaker), weights and stickiness.
//!
//! # Wiring (sandbox mode)
//!
//! ```text
//! install_sandbox_channels(&db, clock)                  // routing rows, idempotent
//! let state = SandboxState::new(db, clock, base_url);   // base_url = this server, no /sandbox
//! app = app.merge(sandbox_router(state));               // full /sandbox/... paths; starts the
//!                                                       // notification sender
//! let registry = ChannelRegistry::from_connectors(
//!     sandbox_connectors(base_url, &db, clock, &SandboxConnectorConfig::default()).await?);
//! let router = routing::Router::new(db, clock);
//! ```
//!
//! The platform serves `POST /channels/{channel}/notify` (the `notify_url` of every
//! [`PayRequest`], see [`notify_url`]) and the net-bank's `return_url`; both hand headers, body
//! and raw query to [`Connector::parse_notification`] and answer the returned
//! [`NotificationAck`] (any non-2xx makes the channel send again).

pub mod connector;
pub mod routing;
pub mod sandbox;
mod serde_util;

pub use connector::{
    codes, notify_url, CancelOutcome, CancelRequest, Capabilities, ChannelError,
    ChannelNotification, ChannelRegistry, Connector, InboundNotification, Interaction, NextAction,
    NotificationAck, NotificationKind, NotifiedResult, PayOutcome, PayRequest, PayerInfo,
    QueryOutcome, QueryRequest, RefundOutcome, RefundQueryOutcome, RefundQueryRequest,
    RefundRequest, CHANNEL_UNAVAILABLE,
};
pub use routing::{
    install_sandbox_channels, ChannelView, RouteContext, RouteDecision, Router, RoutingError,
    Strategy,
};
pub use sandbox::{sandbox_connectors, sandbox_router, SandboxState};

//! Foundations layer: the channel gateway (渠道网关).
//!
//! - [`connector`]: the one trait every channel implements, its requests and outcomes, and the
//!   [`ChannelRegistry`] (name → connector).
//! - [`routing`]: channel routing (渠道路由): eligibility, then priority, cost, success rate,
//!   health (circuit breaker), weights and stickiness.
//!
//! The platform serves `POST /channels/{channel}/notify` (the `notify_url` of every
//! [`PayRequest`], see [`notify_url`]) and the net-bank's `return_url`; both hand headers, body
//! and raw query to [`Connector::parse_notification`] and answer the returned
//! [`NotificationAck`] (any non-2xx makes the channel send again).

pub mod connector;
pub mod routing;
mod serde_util;

pub use connector::{
    notify_url, AgreementOutcome, AgreementSignRequest, AgreementUnsignRequest, CancelOutcome,
    CancelRequest, Capabilities, CardForBank, ChannelError, ChannelNotification, ChannelRegistry,
    Charge, Connector, InboundNotification, Interaction, NextAction, NotificationAck,
    NotificationKind, NotifiedResult, PayOutcome, PayRequest, PayerInfo, QueryOutcome,
    QueryRequest, RefundOutcome, RefundQueryOutcome, RefundQueryRequest, RefundRequest,
    CHANNEL_UNAVAILABLE,
};
pub use routing::{ChannelView, RouteContext, RouteDecision, Router, RoutingError, Strategy};

use paycore_store::migrate::{Migration, Schema};

/// The routing tables.
pub const SCHEMA: Schema = Schema {
    component: "channels",
    migrations: &[Migration {
        version: 1,
        name: "routing",
        sql: include_str!("../migrations/0001_routing.sql"),
    }],
};

//! Limits every request meets before anything else reads it: a request rate per client
//! address (before authentication, so that unsigned floods cost no work), the body read whole
//! within a size limit and a deadline, and a deadline on the whole request. A request past a
//! deadline is answered `408` with `Connection: close`: the connection is closed.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paycore_api::ErrorCode;

use crate::error::ApiError;
use crate::AppState;

/// Health checks are answered whatever the address: a load balancer polls them from one place.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

pub async fn limits(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if !exempt(req.uri().path()) {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        if let Some(ip) = ip {
            if !app.address_limits.allow(&ip) {
                metrics::counter!("paycore_address_rate_limited_total").increment(1);
                return ApiError::new(
                    ErrorCode::RateLimited,
                    "too many requests from this address",
                )
                .into_response();
            }
        }
    }
    let (parts, body) = req.into_parts();
    let limit = app.config.max_body_bytes;
    let read = tokio::time::timeout(
        app.config.body_read_timeout,
        axum::body::to_bytes(body, limit),
    );
    let bytes = match read.await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is larger than {limit} bytes"),
            )
            .into_response()
        }
        Err(_) => return closed("the request body did not arrive in time"),
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout(app.config.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        // What the request had started goes on as after a crash: a channel call left unknown
        // is settled by the query-back.
        Err(_) => closed("the request took too long"),
    }
}

fn closed(why: &'static str) -> Response {
    metrics::counter!("paycore_requests_timed_out_total").increment(1);
    tracing::info!(target: "detail", reason = why, "request cut");
    let mut resp = (StatusCode::REQUEST_TIMEOUT, why).into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

//! Every request gets an id, a span carrying it (so every log line of the request has it),
//! an interface digest line (`digest.api`) and metrics by route and code.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use paycore_api::ErrorCode;

pub const REQUEST_ID_HEADER: &str = "paycore-request-id";

pub use paycore_kernel::request::current_request_id;

/// Set by the authentication layer on the response, for the digest line.
#[derive(Clone, Debug)]
pub struct MerchantTag(pub String);

/// The process-wide Prometheus recorder (a process has one recorder, however many servers).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; the handle still renders ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

fn new_request_id() -> String {
    paycore_kernel::crypto::random_token(20).unwrap_or_else(|_| "unavailable".into())
}

pub async fn layer(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = new_request_id();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp =
        paycore_kernel::request::scope(id.clone(), next.run(req).instrument(span.clone())).await;
    let latency = started.elapsed();
    let status = resp.status();
    let code = resp
        .extensions()
        .get::<ErrorCode>()
        .map(|c| c.as_str())
        .unwrap_or(if status.is_success() { "OK" } else { "ERROR" });
    let merchant = resp
        .extensions()
        .get::<MerchantTag>()
        .map(|m| m.0.clone())
        .unwrap_or_else(|| "-".into());
    let _enter = span.enter();
    tracing::info!(
        target: "digest.api",
        interface = %format!("{method} {route}"),
        success = status.is_success(),
        code,
        latency_ms = latency.as_secs_f64() * 1000.0,
        merchant = %merchant,
    );
    let labels = [
        ("route", route),
        ("method", method),
        ("status", status.as_u16().to_string()),
        ("code", code.to_string()),
    ];
    metrics::counter!("paycore_http_requests_total", &labels).increment(1);
    metrics::histogram!("paycore_http_request_duration_seconds", &labels)
        .record(latency.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

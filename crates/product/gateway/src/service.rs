//! Service endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use paycore_api::service::{Health, Readiness};

use crate::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, body = Readiness), (status = 503, description = "the database does not answer", body = Readiness)))]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    match app.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready".into(),
                database: app.db.engine().as_str().into(),
            }),
        ),
        Err(e) => {
            tracing::warn!(target: "detail", error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "unavailable".into(),
                    database: "unreachable".into(),
                }),
            )
        }
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let (open, idle) = app.db.pool_stats();
    metrics::gauge!("paycore_db_pool_connections").set(f64::from(open));
    metrics::gauge!("paycore_db_pool_idle_connections").set(f64::from(idle));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::observe::prometheus().render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
pub async fn openapi(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(app.openapi.as_ref().clone())
}

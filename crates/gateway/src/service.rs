//! Service endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers.
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match app.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ready", "database": app.db.engine().as_str()})),
        ),
        Err(e) => {
            tracing::warn!(target: "detail", error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable", "database": "unreachable"})),
            )
        }
    }
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let (open, idle) = app.db.pool_stats();
    metrics::gauge!("paycore_db_pool_connections").set(f64::from(open));
    metrics::gauge!("paycore_db_pool_idle_connections").set(f64::from(idle));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::observe::prometheus().render(),
    )
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "paycore_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "PAYCORE-<ALG> merchant_id=\"…\",key_id=\"…\",timestamp=\"…\",nonce=\"…\",signature=\"…\" \
                 over METHOD\\nPATH_AND_QUERY\\ntimestamp\\nnonce\\nBODY\\n (see api.md)",
            ))),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "paycore", description = "The paycore open API: merchant API under /v1, operator API under /admin/v1."),
    paths(
        crate::merchant_api::whoami,
        crate::merchant_api::platform_keys,
        crate::payment_api::create_payment,
        crate::payment_api::get_payment,
        crate::payment_api::find_payment,
        crate::payment_api::close_payment,
        crate::payment_api::cancel_payment,
        crate::payment_api::create_refund,
        crate::payment_api::get_refund,
        crate::payment_api::find_refund,
        crate::payment_api::bill,
        crate::payment_api::balance,
        crate::notify_api::list_notifications,
        crate::notify_api::resend_notification,
        crate::operations_api::list_channels,
        crate::operations_api::change_channel,
        crate::operations_api::channel_balance,
        crate::operations_api::alerts,
        crate::operations_api::daily_report,
        crate::ledger_api::day_end,
        crate::ledger_api::trial_balance,
        crate::ledger_api::verify,
        crate::ledger_api::balance,
        crate::ledger_api::statement,
        crate::admin::create_merchant,
        crate::admin::list_merchants,
        crate::admin::get_merchant,
        crate::admin::update_kyb,
        crate::admin::change_status,
        crate::admin::add_key,
        crate::admin::list_keys,
        crate::admin::revoke_key,
        crate::admin::set_product,
        crate::admin::list_products,
        crate::admin::audit,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&Security)
)]
pub struct ApiDoc;

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

//! The operator API (`/admin/v1`), behind one guard: merchants, channels, alerts, reports and
//! the books.

pub mod channels;
pub mod guard;
pub mod ledger;
pub mod merchants;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn routes(app: AppState) -> Router<AppState> {
    use merchants::*;
    Router::new()
        .route(
            "/admin/v1/merchants",
            post(create_merchant).get(list_merchants),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}",
            get(get_merchant).patch(update_kyb),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/status",
            post(change_status),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/keys",
            post(add_key).get(list_keys),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/keys/{key_id}/revoke",
            post(revoke_key),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/products",
            post(set_product).get(list_products),
        )
        .route("/admin/v1/audit", get(audit))
        .route("/admin/v1/channels", get(channels::list_channels))
        .route(
            "/admin/v1/channels/{channel}",
            post(channels::change_channel),
        )
        .route(
            "/admin/v1/channels/{channel}/balance",
            get(channels::channel_balance),
        )
        .route("/admin/v1/alerts", get(channels::alerts))
        .route("/admin/v1/reports/daily", get(channels::daily_report))
        .route("/admin/v1/ledger/day-end", post(ledger::day_end))
        .route("/admin/v1/ledger/trial-balance", get(ledger::trial_balance))
        .route("/admin/v1/ledger/verify", get(ledger::verify))
        .route(
            "/admin/v1/ledger/accounts/{account_no}",
            get(ledger::account_balance),
        )
        .route(
            "/admin/v1/ledger/accounts/{account_no}/statement",
            get(ledger::statement),
        )
        .layer(axum::middleware::from_fn_with_state(app, guard::guard))
}

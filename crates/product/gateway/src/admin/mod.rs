//! The operator API (`/admin/v1`), behind one guard: merchants, operators, channels, alerts,
//! reports and the books. [`ROUTES`] declares what each route needs; the guard refuses a role
//! without it, and a route missing from the table for everyone.

pub mod channels;
pub mod guard;
pub mod ledger;
pub mod marketing;
pub mod members;
pub mod merchants;
pub mod operators;
pub mod quotas;
pub mod risk;

use axum::routing::{get, post};
use axum::Router;
use paycore_operators::Permission::{self, Admin, Finance, Operate, Read};

use crate::AppState;

/// Every operator route, with the permission it needs (see [`paycore_operators::Role::may`]).
pub const ROUTES: &[(&str, &str, Permission)] = &[
    ("POST", "/admin/v1/merchants", Operate),
    ("GET", "/admin/v1/merchants", Read),
    ("GET", "/admin/v1/merchants/{merchant_id}", Read),
    ("PATCH", "/admin/v1/merchants/{merchant_id}", Operate),
    ("POST", "/admin/v1/merchants/{merchant_id}/status", Admin),
    ("POST", "/admin/v1/merchants/{merchant_id}/keys", Admin),
    ("GET", "/admin/v1/merchants/{merchant_id}/keys", Read),
    (
        "POST",
        "/admin/v1/merchants/{merchant_id}/keys/{key_id}/revoke",
        Admin,
    ),
    (
        "POST",
        "/admin/v1/merchants/{merchant_id}/products",
        Operate,
    ),
    ("GET", "/admin/v1/merchants/{merchant_id}/products", Read),
    ("GET", "/admin/v1/operators", Admin),
    ("POST", "/admin/v1/operators", Admin),
    ("POST", "/admin/v1/operators/{operator_id}/disable", Admin),
    ("POST", "/admin/v1/operators/{operator_id}/rotate", Admin),
    ("GET", "/admin/v1/audit", Admin),
    ("GET", "/admin/v1/channels", Read),
    ("POST", "/admin/v1/channels/{channel}", Operate),
    ("GET", "/admin/v1/channels/{channel}/balance", Read),
    ("GET", "/admin/v1/alerts", Read),
    ("GET", "/admin/v1/reports/daily", Read),
    ("POST", "/admin/v1/ledger/day-end", Finance),
    ("POST", "/admin/v1/coupon-templates", Finance),
    ("POST", "/admin/v1/coupons", Finance),
    ("POST", "/admin/v1/quotas", Operate),
    ("GET", "/admin/v1/members/{member_id}", Read),
    ("POST", "/admin/v1/members/{member_id}/status", Admin),
    ("POST", "/admin/v1/members/{member_id}/credit", Finance),
    ("POST", "/admin/v1/members/{member_id}/coins", Finance),
    ("GET", "/admin/v1/risk/rules", Read),
    ("POST", "/admin/v1/risk/rules", Operate),
    ("POST", "/admin/v1/risk/rules/{rule_id}/status", Operate),
    ("GET", "/admin/v1/quotas", Read),
    ("GET", "/admin/v1/ledger/trial-balance", Read),
    ("GET", "/admin/v1/ledger/verify", Read),
    ("GET", "/admin/v1/ledger/accounts/{account_no}", Read),
    (
        "GET",
        "/admin/v1/ledger/accounts/{account_no}/statement",
        Read,
    ),
];

/// What `method route` needs, if the table declares it (`HEAD` needs what `GET` needs).
pub fn permission(method: &str, route: &str) -> Option<Permission> {
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, p)| *p)
}

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
        .route(
            "/admin/v1/operators",
            post(operators::create_operator).get(operators::list_operators),
        )
        .route(
            "/admin/v1/operators/{operator_id}/disable",
            post(operators::disable_operator),
        )
        .route(
            "/admin/v1/operators/{operator_id}/rotate",
            post(operators::rotate_operator),
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
        .route(
            "/admin/v1/coupon-templates",
            post(marketing::create_coupon_template),
        )
        .route("/admin/v1/coupons", post(marketing::issue_coupon))
        .route("/admin/v1/members/{member_id}", get(members::get_member))
        .route(
            "/admin/v1/members/{member_id}/status",
            post(members::change_member_status),
        )
        .route(
            "/admin/v1/members/{member_id}/credit",
            post(members::set_credit_line),
        )
        .route(
            "/admin/v1/members/{member_id}/coins",
            post(members::grant_coins),
        )
        .route(
            "/admin/v1/risk/rules",
            post(risk::create_risk_rule).get(risk::list_risk_rules),
        )
        .route(
            "/admin/v1/risk/rules/{rule_id}/status",
            post(risk::set_risk_rule_status),
        )
        .route(
            "/admin/v1/quotas",
            post(quotas::set_quota).get(quotas::list_quotas),
        )
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

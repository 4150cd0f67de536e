//! Operator calls for the books (`/admin/v1/ledger…`): day-end, the trial balance, verifying
//! the voucher chains, account balances and statements. The CLI twins are `paycore ledger …`.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use paycore_ledger::LedgerError;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::JsonBody;
use crate::AppState;

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::AccountNotFound(a) => {
            ApiError::new(ErrorCode::NotFound, format!("no account {a}"))
        }
        other => ApiError::internal(&other),
    }
}

fn day_number(day: &str) -> ApiResult<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d =
        time::Date::parse(day, &fmt).map_err(|_| ApiError::invalid("day must be YYYY-MM-DD"))?;
    Ok(i64::from(d.year()) * 10_000 + i64::from(u8::from(d.month())) * 100 + i64::from(d.day()))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayEnd {
    /// Close the current accounting day now instead of only the days before today's date.
    #[serde(default)]
    pub now: bool,
}

/// Day-end (日切): checks and closes accounting days, writes the summaries, switches the day.
/// Idempotent and resumable; a failed check stops it, and the answer (409) says what differs.
#[utoipa::path(post, path = "/admin/v1/ledger/day-end", tag = "ledger", request_body = DayEnd,
    responses((status = 200, body = Object), (status = 409, body = Object)), security(("operator" = [])))]
pub async fn day_end(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<DayEnd>,
) -> ApiResult<Response> {
    let ledger = app.acquiring.ledger();
    let report = if req.now {
        ledger.day_end_now().await
    } else {
        ledger.day_end().await
    }
    .map_err(ledger_error)?;
    let status = if report.ok() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::CONFLICT
    };
    Ok((status, Json(json!({ "ok": report.ok(), "report": report }))).into_response())
}

#[derive(Deserialize)]
pub struct TrialQuery {
    pub day: Option<String>,
    /// json (default) | text
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/ledger/trial-balance", tag = "ledger",
    params(("day" = Option<String>, Query), ("format" = Option<String>, Query)),
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn trial_balance(
    State(app): State<AppState>,
    Query(q): Query<TrialQuery>,
) -> ApiResult<Response> {
    let day = q.day.as_deref().map(day_number).transpose()?;
    let tb = app
        .acquiring
        .ledger()
        .trial_balance(day)
        .await
        .map_err(ledger_error)?;
    Ok(match q.format.as_deref() {
        Some("text") => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            tb.to_text(),
        )
            .into_response(),
        None | Some("json") => {
            Json(json!({ "balanced": tb.balanced(), "trial_balance": tb })).into_response()
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unknown format {other:?} (json, text)"
            )))
        }
    })
}

/// Checks every voucher chain: any altered or deleted voucher is reported.
#[utoipa::path(get, path = "/admin/v1/ledger/verify", tag = "ledger", responses((status = 200, body = Object)),
    security(("operator" = [])))]
pub async fn verify(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    let report = app
        .acquiring
        .ledger()
        .verify()
        .await
        .map_err(ledger_error)?;
    Ok(Json(json!(report)))
}

#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{account_no}", tag = "ledger",
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn balance(
    State(app): State<AppState>,
    Path(account_no): Path<String>,
) -> ApiResult<Json<Value>> {
    let b = app
        .acquiring
        .ledger()
        .balance(&account_no)
        .await
        .map_err(ledger_error)?;
    Ok(Json(json!(b)))
}

#[derive(Deserialize)]
pub struct StatementQuery {
    pub day: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{account_no}/statement", tag = "ledger",
    params(("day" = Option<String>, Query), ("after" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn statement(
    State(app): State<AppState>,
    Path(account_no): Path<String>,
    Query(q): Query<StatementQuery>,
) -> ApiResult<Json<Value>> {
    let day = q.day.as_deref().map(day_number).transpose()?;
    let lines = app
        .acquiring
        .ledger()
        .statement(
            &account_no,
            day,
            q.after.unwrap_or(0),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await
        .map_err(ledger_error)?;
    Ok(Json(json!({ "account_no": account_no, "lines": lines })))
}

pub fn routes(app: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/v1/ledger/day-end", post(day_end))
        .route("/admin/v1/ledger/trial-balance", get(trial_balance))
        .route("/admin/v1/ledger/verify", get(verify))
        .route("/admin/v1/ledger/accounts/{account_no}", get(balance))
        .route(
            "/admin/v1/ledger/accounts/{account_no}/statement",
            get(statement),
        )
        .layer(axum::middleware::from_fn_with_state(
            app,
            crate::admin::guard,
        ))
}

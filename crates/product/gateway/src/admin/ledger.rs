//! Operator calls for the books (`/admin/v1/ledger…`): day-end, the trial balance, verifying
//! the voucher chains, account balances and statements. The CLI twins are `paycore ledger …`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paycore_api::backoffice::{
    AccountBalance, AccountStatusName, CheckObject, DayEndReportObject, DayEndRequest,
    DayEndResult, SideName, Statement, StatementLineObject, TrialBalanceObject, TrialBalanceResult,
    TrialRowObject, TrialTotalObject, VerifyResult,
};
use paycore_api::fields::day_number;
use paycore_api::ErrorCode;
use paycore_ledger::{AccountStatus, LedgerError, Side, TrialBalance};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::views::money;
use crate::AppState;

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::AccountNotFound(a) => {
            ApiError::new(ErrorCode::NotFound, format!("no account {a}"))
        }
        e @ LedgerError::NoSuchDay(_) => ApiError::new(ErrorCode::NotFound, e.to_string()),
        other => ApiError::internal(&other),
    }
}

fn day(d: &Option<String>) -> ApiResult<Option<i64>> {
    d.as_deref()
        .map(|d| day_number(d).ok_or_else(|| ApiError::invalid("day must be YYYY-MM-DD")))
        .transpose()
}

fn side(s: Side) -> SideName {
    match s {
        Side::Debit => SideName::Debit,
        Side::Credit => SideName::Credit,
    }
}

/// Day-end (日切): checks and closes accounting days, writes the summaries, switches the day.
/// Idempotent and resumable; a failed check stops it, and the answer (409) says what differs.
#[utoipa::path(post, path = "/admin/v1/ledger/day-end", tag = "ledger", request_body = DayEndRequest,
    responses((status = 200, description = "the days closed", body = DayEndResult),
              (status = 409, description = "a check failed: the report says what differs", body = DayEndResult)),
    security(("operator" = [])))]
pub async fn day_end(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<DayEndRequest>,
) -> ApiResult<Response> {
    let ledger = app.acquiring.ledger();
    let report = if req.now {
        ledger.day_end_now().await
    } else {
        ledger.day_end().await
    }
    .map_err(ledger_error)?;
    let ok = report.ok();
    let body = DayEndResult {
        ok,
        report: DayEndReportObject {
            closed: report.closed,
            failed: report.failed,
            current_day: report.current_day,
            flows_summarized: report.flows_summarized as u64,
            checks: report
                .checks
                .into_iter()
                .map(|c| CheckObject {
                    name: c.name,
                    ok: c.ok,
                    differences: c.differences,
                })
                .collect(),
        },
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
pub struct TrialQuery {
    pub day: Option<String>,
    pub format: Option<String>,
}

fn trial(tb: TrialBalance) -> TrialBalanceResult {
    TrialBalanceResult {
        balanced: tb.balanced(),
        trial_balance: TrialBalanceObject {
            day: tb.day,
            closed: tb.closed,
            rows: tb
                .rows
                .into_iter()
                .map(|r| TrialRowObject {
                    subject: r.subject,
                    name: r.name,
                    level: r.level,
                    normal_side: side(r.normal_side),
                    opening: money(r.opening),
                    debits: money(r.debits),
                    credits: money(r.credits),
                    closing: money(r.closing),
                })
                .collect(),
            totals: tb
                .totals
                .into_iter()
                .map(|t| TrialTotalObject {
                    currency: t.currency,
                    debits: money(t.debits),
                    credits: money(t.credits),
                    debit_balances: money(t.debit_balances),
                    credit_balances: money(t.credit_balances),
                    balanced: t.balanced,
                })
                .collect(),
        },
    }
}

/// The trial balance of the open day (live) or of a closed day, as JSON or text.
#[utoipa::path(get, path = "/admin/v1/ledger/trial-balance", tag = "ledger",
    params(("day" = Option<String>, Query, description = "YYYY-MM-DD; the open day when absent", format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
           ("format" = Option<String>, Query, description = "json (default) or text", example = "json", pattern = "^(json|text)$")),
    responses((status = 200, description = "the trial balance; as text with format=text",
               content((TrialBalanceResult = "application/json"), (String = "text/plain")))),
    security(("operator" = [])))]
pub async fn trial_balance(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<TrialQuery>,
) -> ApiResult<Response> {
    let day = day(&q.day)?;
    if !matches!(q.format.as_deref(), None | Some("json") | Some("text")) {
        return Err(ApiError::invalid("format must be json or text"));
    }
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
        _ => Json(trial(tb)).into_response(),
    })
}

/// Checks every voucher chain: any altered or deleted voucher is reported.
#[utoipa::path(get, path = "/admin/v1/ledger/verify", tag = "ledger",
    responses((status = 200, body = VerifyResult)), security(("operator" = [])))]
pub async fn verify(State(app): State<AppState>) -> ApiResult<Json<VerifyResult>> {
    let r = app
        .acquiring
        .ledger()
        .verify()
        .await
        .map_err(ledger_error)?;
    Ok(Json(VerifyResult {
        batches: r.batches as u64,
        vouchers: r.vouchers as u64,
        days_sealed: r.days_sealed as u64,
        accounts: r.accounts as u64,
        problems: r.problems,
    }))
}

/// An account's balances.
#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{account_no}", tag = "ledger",
    params(("account_no" = String, Path, description = "subject:owner:currency")),
    responses((status = 200, body = AccountBalance)), security(("operator" = [])))]
pub async fn account_balance(
    State(app): State<AppState>,
    ApiPath(account_no): ApiPath<String>,
) -> ApiResult<Json<AccountBalance>> {
    let b = app
        .acquiring
        .ledger()
        .balance(&account_no)
        .await
        .map_err(ledger_error)?;
    Ok(Json(AccountBalance {
        account_no: b.account_no,
        subject: b.subject,
        status: match b.status {
            AccountStatus::Active => AccountStatusName::Active,
            AccountStatus::Frozen => AccountStatusName::Frozen,
            AccountStatus::Closed => AccountStatusName::Closed,
        },
        posted: money(b.posted),
        pending: money(b.pending),
        available: money(b.available),
        unapplied: money(b.unapplied),
        version: b.version,
    }))
}

#[derive(Deserialize)]
pub struct StatementQuery {
    pub day: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// An account's entries, paged by entry id.
#[utoipa::path(get, path = "/admin/v1/ledger/accounts/{account_no}/statement", tag = "ledger",
    params(("account_no" = String, Path, description = "subject:owner:currency"),
           ("day" = Option<String>, Query, description = "YYYY-MM-DD", format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
           ("after" = Option<i64>, Query, description = "the last entry id of the previous page"),
           ("limit" = Option<i64>, Query, description = "1 to 1000 (default 100)", minimum = 1, maximum = 1000)),
    responses((status = 200, body = Statement)), security(("operator" = [])))]
pub async fn statement(
    State(app): State<AppState>,
    ApiPath(account_no): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatementQuery>,
) -> ApiResult<Json<Statement>> {
    let day = day(&q.day)?;
    let lines = app
        .acquiring
        .ledger()
        .statement(
            &account_no,
            day,
            q.after.unwrap_or(0),
            crate::extract::page_limit(q.limit, 100, 1000)?,
        )
        .await
        .map_err(ledger_error)?;
    Ok(Json(Statement {
        account_no,
        lines: lines
            .into_iter()
            .map(|l| StatementLineObject {
                entry_id: l.entry_id,
                day: l.day,
                voucher_no: l.voucher_no,
                tx_code: l.tx_code,
                biz_ref: l.biz_ref,
                side: side(l.side),
                amount: money(l.amount),
            })
            .collect(),
    }))
}

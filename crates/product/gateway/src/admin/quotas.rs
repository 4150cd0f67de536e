//! Limits (the quota center): set and list.

use axum::extract::State;
use axum::{Extension, Json};
use paycore_api::fields::{rfc3339, CurrencyCode};
use paycore_api::quota::{QuotaObject, QuotaPeriodName, QuotaScopeName, SetQuota};
use paycore_kernel::Money;
use paycore_operators::Operator;
use paycore_quota::{Period, QuotaError, Rule, Scope};

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::AppState;

fn view(r: &Rule) -> QuotaObject {
    QuotaObject {
        rule_id: r.rule_id.clone(),
        scope: match r.scope {
            Scope::Member => QuotaScopeName::Member,
            Scope::Merchant => QuotaScopeName::Merchant,
            Scope::Card => QuotaScopeName::Card,
            Scope::Product => QuotaScopeName::Product,
        },
        subject: r.subject.clone(),
        period: match r.period {
            Period::Single => QuotaPeriodName::Single,
            Period::Day => QuotaPeriodName::Day,
            Period::Month => QuotaPeriodName::Month,
            Period::Year => QuotaPeriodName::Year,
        },
        amount: r.limit.minor(),
        currency: CurrencyCode(r.limit.currency()),
        updated_at: rfc3339(r.updated_at),
    }
}

/// Set a limit (or a new amount for the same scope, subject, period and currency).
#[utoipa::path(post, path = "/admin/v1/quotas", tag = "operators", request_body = SetQuota,
    responses((status = 200, body = QuotaObject)), security(("operator" = [])))]
pub async fn set_quota(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    JsonBody(req): JsonBody<SetQuota>,
) -> ApiResult<Json<QuotaObject>> {
    let scope = match req.scope {
        QuotaScopeName::Member => Scope::Member,
        QuotaScopeName::Merchant => Scope::Merchant,
        QuotaScopeName::Card => Scope::Card,
        QuotaScopeName::Product => Scope::Product,
    };
    let period = match req.period {
        QuotaPeriodName::Single => Period::Single,
        QuotaPeriodName::Day => Period::Day,
        QuotaPeriodName::Month => Period::Month,
        QuotaPeriodName::Year => Period::Year,
    };
    let limit = Money::from_minor(req.amount.0, req.currency.0);
    let actor = format!("operator:{}", op.operator_id);
    let r = app
        .quotas
        .set(scope, &req.subject, period, limit, &actor)
        .await?;
    Ok(Json(view(&r)))
}

/// Every limit.
#[utoipa::path(get, path = "/admin/v1/quotas", tag = "operators",
    responses((status = 200, body = [QuotaObject])), security(("operator" = [])))]
pub async fn list_quotas(State(app): State<AppState>) -> ApiResult<Json<Vec<QuotaObject>>> {
    Ok(Json(app.quotas.rules().await?.iter().map(view).collect()))
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Invalid(m) => ApiError::invalid(m),
            QuotaError::LimitExceeded(m) => ApiError::new(paycore_api::ErrorCode::LimitExceeded, m),
            other => ApiError::internal(&other),
        }
    }
}

//! Risk rules for operators: list, add, switch on or off. Every payment at the cashier is
//! judged by the enabled rules; the decisions are stored with the rules that fired.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::fields::{rfc3339, CurrencyCode};
use paycore_api::risk::{
    CreateRiskRule, RiskAction, RiskRuleKind, RiskRuleList, RiskRuleObject, RiskRuleStatus,
    RiskSubject,
};
use paycore_api::ErrorCode;
use paycore_kernel::{Currency, Money};
use paycore_operators::Operator;
use paycore_risk::{Action, NewRule, RiskError, Rule, RuleKind, Subject};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, JsonBody};
use crate::AppState;

fn kind_name(k: RuleKind) -> RiskRuleKind {
    match k {
        RuleKind::Amount => RiskRuleKind::Amount,
        RuleKind::Velocity => RiskRuleKind::Velocity,
        RuleKind::Blacklist => RiskRuleKind::Blacklist,
        RuleKind::NewDevice => RiskRuleKind::NewDevice,
        RuleKind::LargeAmount => RiskRuleKind::LargeAmount,
    }
}

fn subject_name(s: Subject) -> RiskSubject {
    match s {
        Subject::Member => RiskSubject::Member,
        Subject::Card => RiskSubject::Card,
        Subject::Device => RiskSubject::Device,
        Subject::Ip => RiskSubject::Ip,
    }
}

fn action_name(a: Action) -> RiskAction {
    match a {
        Action::Allow => RiskAction::Allow,
        Action::Challenge => RiskAction::Challenge,
        Action::Block => RiskAction::Block,
    }
}

fn view(r: &Rule) -> RiskRuleObject {
    RiskRuleObject {
        rule_id: r.rule_id.clone(),
        name: r.name.clone(),
        kind: kind_name(r.kind),
        subject: r.subject.map(subject_name),
        threshold: r.threshold.map(|t| t.minor()),
        currency: r.threshold.map(|t| CurrencyCode(t.currency())),
        window_seconds: r.window_seconds,
        max_count: r.max_count,
        values: r.values.clone(),
        action: action_name(r.action),
        enabled: r.enabled,
        updated_at: rfc3339(r.updated_at),
    }
}

fn new_rule(req: CreateRiskRule) -> NewRule {
    let currency = req.currency.map_or(Currency::CNY, |c| c.0);
    NewRule {
        name: req.name,
        kind: match req.kind {
            RiskRuleKind::Amount => RuleKind::Amount,
            RiskRuleKind::Velocity => RuleKind::Velocity,
            RiskRuleKind::Blacklist => RuleKind::Blacklist,
            RiskRuleKind::NewDevice => RuleKind::NewDevice,
            RiskRuleKind::LargeAmount => RuleKind::LargeAmount,
        },
        subject: req.subject.map(|s| match s {
            RiskSubject::Member => Subject::Member,
            RiskSubject::Card => Subject::Card,
            RiskSubject::Device => Subject::Device,
            RiskSubject::Ip => Subject::Ip,
        }),
        threshold: req.threshold.map(|t| Money::from_minor(t, currency)),
        window_seconds: req.window_seconds,
        max_count: req.max_count,
        values: req.values,
        action: match req.action {
            RiskAction::Allow => Action::Allow,
            RiskAction::Challenge => Action::Challenge,
            RiskAction::Block => Action::Block,
        },
        enabled: req.enabled,
    }
}

/// The risk rules, oldest first.
#[utoipa::path(get, path = "/admin/v1/risk/rules", tag = "operators",
    responses((status = 200, body = RiskRuleList)), security(("operator" = [])))]
pub async fn list_risk_rules(State(app): State<AppState>) -> ApiResult<Json<RiskRuleList>> {
    let rules = app.cashier.risk().rules().await?;
    Ok(Json(RiskRuleList {
        rules: rules.iter().map(view).collect(),
    }))
}

/// Add a risk rule: what it looks at, and its action when it fires.
#[utoipa::path(post, path = "/admin/v1/risk/rules", tag = "operators",
    request_body = CreateRiskRule,
    responses((status = 201, body = RiskRuleObject)), security(("operator" = [])))]
pub async fn create_risk_rule(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    JsonBody(req): JsonBody<CreateRiskRule>,
) -> ApiResult<(StatusCode, Json<RiskRuleObject>)> {
    let actor = format!("operator:{}", op.operator_id);
    let rule = app.cashier.risk().add_rule(new_rule(req), &actor).await?;
    Ok((StatusCode::CREATED, Json(view(&rule))))
}

/// Switch a risk rule on or off.
#[utoipa::path(post, path = "/admin/v1/risk/rules/{rule_id}/status", tag = "operators",
    params(("rule_id" = String, Path)), request_body = RiskRuleStatus,
    responses((status = 200, body = RiskRuleObject)), security(("operator" = [])))]
pub async fn set_risk_rule_status(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    ApiPath(rule_id): ApiPath<String>,
    JsonBody(req): JsonBody<RiskRuleStatus>,
) -> ApiResult<Json<RiskRuleObject>> {
    let actor = format!("operator:{}", op.operator_id);
    let rule = app
        .cashier
        .risk()
        .set_enabled(&rule_id, req.enabled, &actor)
        .await?;
    Ok(Json(view(&rule)))
}

impl From<RiskError> for ApiError {
    fn from(e: RiskError) -> Self {
        match e {
            RiskError::Invalid(m) => ApiError::new(ErrorCode::InvalidRequest, m),
            RiskError::NotFound => ApiError::not_found(),
            other => ApiError::internal(&other),
        }
    }
}

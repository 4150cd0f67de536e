//! Members for operators: read one, freeze, unfreeze, close.

use axum::extract::State;
use axum::{Extension, Json};
use paycore_api::members::{MemberMe, MemberStatusChange};
use paycore_member::MemberEvent;
use paycore_operators::Operator;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, JsonBody};
use crate::AppState;

/// A member as operators see it (the same view as the member's own).
#[utoipa::path(get, path = "/admin/v1/members/{member_id}", tag = "operators",
    params(("member_id" = String, Path)),
    responses((status = 200, body = MemberMe)), security(("operator" = [])))]
pub async fn get_member(
    State(app): State<AppState>,
    ApiPath(member_id): ApiPath<String>,
) -> ApiResult<Json<MemberMe>> {
    Ok(Json(crate::member_api::me_view(
        &app.members.get(&member_id).await?,
    )?))
}

/// Freeze, unfreeze or close a member. Closing needs an empty wallet.
#[utoipa::path(post, path = "/admin/v1/members/{member_id}/status", tag = "operators",
    params(("member_id" = String, Path)), request_body = MemberStatusChange,
    responses((status = 200, body = MemberMe)), security(("operator" = [])))]
pub async fn change_member_status(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    ApiPath(member_id): ApiPath<String>,
    JsonBody(req): JsonBody<MemberStatusChange>,
) -> ApiResult<Json<MemberMe>> {
    let event = MemberEvent::parse_field(&req.event)?;
    if event == MemberEvent::Close {
        let w = app.funds.wallet(&member_id).await?;
        let empty = [
            w.balance.available,
            w.balance.pending,
            w.coins.available,
            w.coins.pending,
        ]
        .iter()
        .all(|m| m.is_zero());
        if !empty {
            return Err(ApiError::new(
                paycore_api::ErrorCode::InvalidState,
                "the member's wallet is not empty: it must be paid out before closing",
            ));
        }
    }
    let actor = format!("operator:{}", op.operator_id);
    let m = app
        .members
        .transition(&member_id, event, &actor, req.reason.as_deref())
        .await?;
    Ok(Json(crate::member_api::me_view(&m)?))
}

/// Grant or change a member's credit line (a limit below what is used now is refused).
#[utoipa::path(post, path = "/admin/v1/members/{member_id}/credit", tag = "operators",
    params(("member_id" = String, Path)), request_body = paycore_api::cashier::SetCreditLine,
    responses((status = 200, body = paycore_api::cashier::CreditLineObject)),
    security(("operator" = [])))]
pub async fn set_credit_line(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    ApiPath(member_id): ApiPath<String>,
    JsonBody(req): JsonBody<paycore_api::cashier::SetCreditLine>,
) -> ApiResult<Json<paycore_api::cashier::CreditLineObject>> {
    app.members.get(&member_id).await?.require_active_member()?;
    let limit = paycore_kernel::Money::from_minor(req.limit.0, req.currency.0);
    let actor = format!("operator:{}", op.operator_id);
    let line = app
        .cashier
        .credit()
        .set_limit(&member_id, limit, &actor)
        .await?;
    Ok(Json(crate::cashier_api::line_view(&line)))
}

/// Issue coins to a member (finance): the same `request_no` again issues nothing again.
#[utoipa::path(post, path = "/admin/v1/members/{member_id}/coins", tag = "operators",
    params(("member_id" = String, Path)), request_body = paycore_api::cashier::GrantCoins,
    responses((status = 200, body = paycore_api::cashier::CoinsBalance)),
    security(("operator" = [])))]
pub async fn grant_coins(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    ApiPath(member_id): ApiPath<String>,
    JsonBody(req): JsonBody<paycore_api::cashier::GrantCoins>,
) -> ApiResult<Json<paycore_api::cashier::CoinsBalance>> {
    let coins = app
        .cashier
        .grant_coins(&member_id, &req.request_no, req.coins)
        .await?;
    tracing::info!(target: "digest.biz", biz = "coins", member = %member_id, coins = req.coins,
        operator = %op.operator_id, reason = req.reason.as_deref().unwrap_or(""));
    Ok(Json(paycore_api::cashier::CoinsBalance {
        member_id,
        coins,
    }))
}

//! The member's wallet: balances, top-ups from a bound card, transfers to other members,
//! withdrawals to a bound card.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::fields::{rfc3339, CurrencyCode};
use paycore_api::marketing::{CouponList, CouponObject, CouponStatusName};
use paycore_api::members::{
    AssetBalanceObject, CreditObject, FundKindName, FundOrderObject, FundStatusName, MemberBalance,
    TopUp, Transfer, Withdraw,
};
use paycore_api::ErrorCode;
use paycore_fund::{FundError, FundKind, FundOrder, FundStatus, TransferRequest, WithdrawRequest};
use paycore_kernel::Money;
use paycore_member::MemberSession;

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::AppState;

fn view(o: &FundOrder) -> FundOrderObject {
    FundOrderObject {
        id: o.order_id.clone(),
        kind: match o.kind {
            FundKind::TopUp => FundKindName::TopUp,
            FundKind::Transfer => FundKindName::Transfer,
            FundKind::Withdrawal => FundKindName::Withdrawal,
        },
        request_no: o.request_no.clone(),
        amount: o.amount.minor(),
        currency: CurrencyCode(o.amount.currency()),
        status: match o.status {
            FundStatus::Processing => FundStatusName::Processing,
            FundStatus::Succeeded => FundStatusName::Succeeded,
            FundStatus::Failed => FundStatusName::Failed,
        },
        card_id: o.card_id.clone(),
        to_member_id: o.payee_id.clone(),
        fail_code: o.fail_code.clone(),
        fail_message: o.fail_message.clone(),
        created_at: rfc3339(o.created_at),
        updated_at: rfc3339(o.updated_at),
    }
}

fn created(is_new: bool, o: &FundOrder) -> (StatusCode, Json<FundOrderObject>) {
    let status = if is_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(view(o)))
}

/// The wallet's balances: CNY and coins (XPC), and the credit line.
#[utoipa::path(get, path = "/v1/members/me/balance", tag = "members",
    responses((status = 200, body = MemberBalance)), security(("member_token" = [])))]
pub async fn balance(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
) -> ApiResult<Json<MemberBalance>> {
    let w = app.funds.wallet(&s.member_id).await?;
    let line = app.cashier.credit().line(&s.member_id).await?;
    let asset = |code: &str, b: &paycore_fund::AssetBalance| AssetBalanceObject {
        asset: code.into(),
        available: b.available.minor(),
        pending: b.pending.minor(),
    };
    Ok(Json(MemberBalance {
        balances: vec![asset("CNY", &w.balance), asset("XPC", &w.coins)],
        credit: CreditObject {
            currency: CurrencyCode(line.limit.currency()),
            limit: line.limit.minor(),
            used: line.used.minor(),
            available: line.available().minor(),
        },
    }))
}

/// Top up the wallet from a bound card.
#[utoipa::path(post, path = "/v1/members/me/top-ups", tag = "members", request_body = TopUp,
    responses((status = 201, body = FundOrderObject),
              (status = 200, description = "the same request_no again: the same top-up", body = FundOrderObject)),
    security(("member_token" = [])))]
pub async fn top_up(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<TopUp>,
) -> ApiResult<(StatusCode, Json<FundOrderObject>)> {
    let amount = Money::from_minor(req.amount.0, req.currency.0);
    let (o, is_new) = app
        .funds
        .top_up(&s.member_id, &req.request_no, amount, &req.card_id)
        .await?;
    Ok(created(is_new, &o))
}

/// Transfer to another member, by the phone they registered with.
#[utoipa::path(post, path = "/v1/members/me/transfers", tag = "members", request_body = Transfer,
    responses((status = 201, body = FundOrderObject),
              (status = 200, description = "the same request_no again: the same transfer", body = FundOrderObject)),
    security(("member_token" = [])))]
pub async fn transfer(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<Transfer>,
) -> ApiResult<(StatusCode, Json<FundOrderObject>)> {
    let t = TransferRequest {
        request_no: req.request_no,
        to_phone: req.to_phone,
        amount: Money::from_minor(req.amount.0, req.currency.0),
        pay_password: req.pay_password.map(|p| p.0.into_inner()),
    };
    let (o, is_new) = app.funds.transfer(&s.member_id, t).await?;
    Ok(created(is_new, &o))
}

/// Withdraw to a bound card: `processing`, then `succeeded`, or `failed` with the amount back.
#[utoipa::path(post, path = "/v1/members/me/withdrawals", tag = "members", request_body = Withdraw,
    responses((status = 201, body = FundOrderObject),
              (status = 200, description = "the same request_no again: the same withdrawal", body = FundOrderObject)),
    security(("member_token" = [])))]
pub async fn withdraw(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<Withdraw>,
) -> ApiResult<(StatusCode, Json<FundOrderObject>)> {
    let w = WithdrawRequest {
        request_no: req.request_no,
        card_id: req.card_id,
        amount: Money::from_minor(req.amount.0, req.currency.0),
        pay_password: req.pay_password.0.into_inner(),
    };
    let (o, is_new) = app.funds.withdraw(&s.member_id, w).await?;
    Ok(created(is_new, &o))
}

/// A coupon as the member and operators see it.
pub(crate) fn coupon_view(c: &paycore_marketing::Coupon) -> CouponObject {
    use paycore_marketing::CouponStatus;
    let t = &c.template;
    CouponObject {
        coupon_id: c.coupon_id.clone(),
        template_id: t.template_id.clone(),
        member_id: c.member_id.clone(),
        kind: crate::admin::marketing::kind_name(t.kind),
        value: t.value,
        cap: t.cap,
        threshold: t.threshold,
        currency: CurrencyCode(t.currency),
        merchant_id: t.merchant_id.clone(),
        status: match c.status {
            CouponStatus::Available => CouponStatusName::Available,
            CouponStatus::Used => CouponStatusName::Used,
            CouponStatus::Expired => CouponStatusName::Expired,
        },
        valid_from: rfc3339(c.valid_from),
        valid_until: rfc3339(c.valid_until),
        payment_id: c.payment_id.clone(),
    }
}

/// The member's coupons, newest first, with their status.
#[utoipa::path(get, path = "/v1/members/me/coupons", tag = "members",
    responses((status = 200, body = CouponList)), security(("member_token" = [])))]
pub async fn coupons(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
) -> ApiResult<Json<CouponList>> {
    let list = app.marketing.coupons_of(&s.member_id).await?;
    Ok(Json(CouponList {
        coupons: list.iter().map(coupon_view).collect(),
    }))
}

impl From<FundError> for ApiError {
    fn from(e: FundError) -> Self {
        let message = e.to_string();
        let code = match e {
            FundError::Member(m) => return m.into(),
            FundError::Card(c) => return c.into(),
            FundError::Invalid(_) | FundError::Money(_) => ErrorCode::InvalidRequest,
            FundError::NotFound => return ApiError::not_found(),
            FundError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            FundError::InsufficientBalance => ErrorCode::InsufficientBalance,
            FundError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            FundError::InvalidState(_) => ErrorCode::InvalidState,
            FundError::Unavailable(_) => ErrorCode::ChannelUnavailable,
            other => return ApiError::internal(&other),
        };
        ApiError::new(code, message)
    }
}

//! Coupon templates and issuing coupons to members (operators with the finance permission:
//! coupons are money).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::marketing::{
    CouponKindName, CouponObject, CouponTemplateObject, CreateCouponTemplate, IssueCoupon,
};
use paycore_marketing::{CouponKind, NewTemplate, Template};
use paycore_operators::Operator;

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::AppState;

pub(crate) fn kind_name(k: CouponKind) -> CouponKindName {
    match k {
        CouponKind::Fixed => CouponKindName::Fixed,
        CouponKind::Percent => CouponKindName::Percent,
    }
}

fn template_view(t: &Template) -> CouponTemplateObject {
    CouponTemplateObject {
        template_id: t.template_id.clone(),
        kind: kind_name(t.kind),
        value: t.value,
        cap: t.cap,
        threshold: t.threshold,
        currency: paycore_api::fields::CurrencyCode(t.currency),
        valid_days: t.valid_days,
        merchant_id: t.merchant_id.clone(),
        created_at: paycore_api::fields::rfc3339(t.created_at),
    }
}

/// Create a coupon template.
#[utoipa::path(post, path = "/admin/v1/coupon-templates", tag = "operators",
    request_body = CreateCouponTemplate, responses((status = 201, body = CouponTemplateObject)),
    security(("operator" = [])))]
pub async fn create_coupon_template(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    JsonBody(req): JsonBody<CreateCouponTemplate>,
) -> ApiResult<(StatusCode, Json<CouponTemplateObject>)> {
    if let Some(m) = &req.merchant_id {
        app.merchants
            .get(m)
            .await
            .map_err(|_| ApiError::invalid("no such merchant_id"))?;
    }
    let new = NewTemplate {
        kind: match req.kind {
            CouponKindName::Fixed => CouponKind::Fixed,
            CouponKindName::Percent => CouponKind::Percent,
        },
        value: req.value,
        cap: req.cap,
        threshold: req.threshold,
        currency: req.currency.0,
        valid_days: req.valid_days,
        merchant_id: req.merchant_id,
    };
    let actor = format!("operator:{}", op.operator_id);
    let t = app.marketing.create_template(&new, &actor).await?;
    Ok((StatusCode::CREATED, Json(template_view(&t))))
}

/// Issue a coupon of a template to a member.
#[utoipa::path(post, path = "/admin/v1/coupons", tag = "operators", request_body = IssueCoupon,
    responses((status = 201, body = CouponObject)), security(("operator" = [])))]
pub async fn issue_coupon(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    JsonBody(req): JsonBody<IssueCoupon>,
) -> ApiResult<(StatusCode, Json<CouponObject>)> {
    app.members
        .get(&req.member_id)
        .await
        .map_err(|_| ApiError::invalid("no such member_id"))?;
    let actor = format!("operator:{}", op.operator_id);
    let c = app
        .marketing
        .issue(&req.template_id, &req.member_id, &actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::wallet_api::coupon_view(&c)),
    ))
}

impl From<paycore_marketing::MarketingError> for ApiError {
    fn from(e: paycore_marketing::MarketingError) -> Self {
        use paycore_marketing::MarketingError as E;
        match e {
            E::Invalid(m) => ApiError::invalid(m),
            E::NotFound => ApiError::not_found(),
            E::InvalidState(m) => ApiError::new(paycore_api::ErrorCode::InvalidState, m),
            other => ApiError::internal(&other),
        }
    }
}

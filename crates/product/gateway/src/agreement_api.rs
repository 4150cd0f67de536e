//! `/v1/agreements`: sign (with the member's SMS code), terminate and query agreements.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_agreement::{Agreement, AgreementError, AgreementStatus, NewAgreement, Period};
use paycore_api::agreements::{
    AgreementObject, AgreementStatusName, ConfirmAgreement, CreateAgreement, PeriodName,
};
use paycore_api::fields::{rfc3339, CurrencyCode};
use paycore_api::ErrorCode;
use paycore_kernel::Money;
use serde::Deserialize;

use crate::auth::AuthedMerchant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::AppState;

fn view(a: &Agreement) -> AgreementObject {
    AgreementObject {
        id: a.agreement_id.clone(),
        out_agreement_no: a.out_agreement_no.clone(),
        member_id: a.member_id.clone(),
        card_id: a.card_id.clone(),
        max_amount: a.max_amount.minor(),
        currency: CurrencyCode(a.max_amount.currency()),
        period: match a.period {
            Period::Day => PeriodName::Day,
            Period::Month => PeriodName::Month,
        },
        status: match a.status {
            AgreementStatus::Pending => AgreementStatusName::Pending,
            AgreementStatus::Active => AgreementStatusName::Active,
            AgreementStatus::Terminated => AgreementStatusName::Terminated,
        },
        signed_at: a.signed_at.map(rfc3339),
        terminated_at: a.terminated_at.map(rfc3339),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
    }
}

/// Ask to sign an agreement: `pending`, and the member is texted a code.
#[utoipa::path(post, path = "/v1/agreements", tag = "agreements", request_body = CreateAgreement,
    responses((status = 201, body = AgreementObject),
              (status = 200, description = "the same request again: the existing agreement", body = AgreementObject)),
    security(("paycore_signature" = [])))]
pub async fn create_agreement(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    JsonBody(req): JsonBody<CreateAgreement>,
) -> ApiResult<(StatusCode, Json<AgreementObject>)> {
    let new = NewAgreement {
        out_agreement_no: req.out_agreement_no,
        member_phone: req.member_phone,
        card_id: req.card_id,
        max_amount: Money::from_minor(req.max_amount.0, req.currency.0),
        period: match req.period {
            PeriodName::Day => Period::Day,
            PeriodName::Month => Period::Month,
        },
    };
    let (a, is_new) = app.agreements.create(&me.merchant_id, new).await?;
    let status = if is_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&a))))
}

/// Confirm with the member's code: `active`.
#[utoipa::path(post, path = "/v1/agreements/{id}/confirm", tag = "agreements",
    params(("id" = String, Path)), request_body = ConfirmAgreement,
    responses((status = 200, body = AgreementObject)), security(("paycore_signature" = [])))]
pub async fn confirm_agreement(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<ConfirmAgreement>,
) -> ApiResult<Json<AgreementObject>> {
    let a = app
        .agreements
        .confirm(&me.merchant_id, &id, &req.sms_code)
        .await?;
    Ok(Json(view(&a)))
}

/// End the agreement: it debits nothing from now on.
#[utoipa::path(post, path = "/v1/agreements/{id}/terminate", tag = "agreements",
    params(("id" = String, Path)),
    responses((status = 200, body = AgreementObject)), security(("paycore_signature" = [])))]
pub async fn terminate_agreement(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AgreementObject>> {
    Ok(Json(view(
        &app.agreements.terminate(&me.merchant_id, &id).await?,
    )))
}

/// Query an agreement by its id.
#[utoipa::path(get, path = "/v1/agreements/{id}", tag = "agreements",
    params(("id" = String, Path)),
    responses((status = 200, body = AgreementObject)), security(("paycore_signature" = [])))]
pub async fn get_agreement(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AgreementObject>> {
    Ok(Json(view(&app.agreements.get(&me.merchant_id, &id).await?)))
}

#[derive(Deserialize)]
pub struct ByOutNo {
    pub out_agreement_no: Option<String>,
}

/// Query an agreement by the merchant's own number.
#[utoipa::path(get, path = "/v1/agreements", tag = "agreements",
    params(("out_agreement_no" = String, Query)),
    responses((status = 200, body = AgreementObject)), security(("paycore_signature" = [])))]
pub async fn find_agreement(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiQuery(q): ApiQuery<ByOutNo>,
) -> ApiResult<Json<AgreementObject>> {
    let no = q
        .out_agreement_no
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("out_agreement_no is required"))?;
    let a = app
        .agreements
        .by_out_no(&me.merchant_id, &no)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(view(&a)))
}

impl From<AgreementError> for ApiError {
    fn from(e: AgreementError) -> Self {
        let message = e.to_string();
        let code = match e {
            AgreementError::Member(m) => return m.into(),
            AgreementError::Merchant(m) => return m.into(),
            AgreementError::Card(c) => return c.into(),
            AgreementError::Invalid(_) => ErrorCode::InvalidRequest,
            AgreementError::NotFound => return ApiError::not_found(),
            AgreementError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            AgreementError::ProductNotEnabled(_) => ErrorCode::ProductNotEnabled,
            AgreementError::InvalidState(_) => ErrorCode::InvalidState,
            other => return ApiError::internal(&other),
        };
        ApiError::new(code, message)
    }
}

//! Payments and refunds of the merchant API (`/v1/payments`, `/v1/refunds`), and the
//! merchant's bill and balance.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use paycore_acquiring::{NewPayment, NewRefund, ResultSource};
use paycore_api::fields::{day_number, printable, CurrencyCode};
use paycore_api::merchant::{BalanceEntry, BalanceList};
use paycore_api::payments::{CreatePayment, CreateRefund, PaymentObject, RefundObject};
use paycore_kernel::{Currency, Money};
use serde::Deserialize;

use crate::auth::AuthedMerchant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::views;
use crate::AppState;

fn created<T>(is_new: bool, body: T) -> (StatusCode, Json<T>) {
    let status = if is_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(body))
}

fn new_payment(merchant_id: &str, req: CreatePayment) -> ApiResult<NewPayment> {
    let currency = req.currency.0;
    if req.settle_currency.is_some_and(|s| s.0 != currency) {
        return Err(ApiError::invalid(
            "settle_currency must equal currency: settlement in another currency is not \
             available yet",
        ));
    }
    if !printable(&req.subject) {
        return Err(ApiError::invalid(
            "subject must not contain control characters",
        ));
    }
    let payer = req.payer.unwrap_or_default();
    payer.validate().map_err(ApiError::invalid)?;
    let metadata = req.metadata.unwrap_or_default();
    metadata.validate().map_err(ApiError::invalid)?;
    let to_json = |v: serde_json::Result<serde_json::Value>| v.map_err(|e| ApiError::internal(&e));
    Ok(NewPayment {
        merchant_id: merchant_id.to_string(),
        out_trade_no: req.out_trade_no,
        amount: Money::from_minor(req.amount.0, currency),
        subject: req.subject,
        product: req.product.0,
        payer: to_json(serde_json::to_value(&payer))?,
        notify_url: req.notify_url,
        return_url: req.return_url,
        expire_seconds: req.expire_seconds,
        metadata: to_json(serde_json::to_value(&metadata))?,
    })
}

/// Create (and where possible execute) a payment.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = CreatePayment,
    responses((status = 201, description = "created (and executed where possible)", body = PaymentObject),
              (status = 200, description = "the same request again: the existing payment", body = PaymentObject)),
    security(("paycore_signature" = [])))]
pub async fn create_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    JsonBody(req): JsonBody<CreatePayment>,
) -> ApiResult<(StatusCode, Json<PaymentObject>)> {
    let new = new_payment(&me.merchant_id, req)?;
    let (payment, is_new) = app.acquiring.create_payment(new).await?;
    Ok(created(is_new, views::payment(&payment)))
}

/// Query a payment by its id.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "the payment's id")),
    responses((status = 200, body = PaymentObject)), security(("paycore_signature" = [])))]
pub async fn get_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PaymentObject>> {
    let p = app.acquiring.payment(&me.merchant_id, &id).await?;
    Ok(Json(views::payment(&p)))
}

#[derive(Deserialize)]
pub struct ByTradeNo {
    pub out_trade_no: Option<String>,
}

/// Query a payment by the merchant's own number.
#[utoipa::path(get, path = "/v1/payments", tag = "payments",
    params(("out_trade_no" = String, Query, description = "the merchant's number of the payment")),
    responses((status = 200, body = PaymentObject)), security(("paycore_signature" = [])))]
pub async fn find_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiQuery(q): ApiQuery<ByTradeNo>,
) -> ApiResult<Json<PaymentObject>> {
    let no = q
        .out_trade_no
        .ok_or_else(|| ApiError::invalid("out_trade_no is required"))?;
    let p = app
        .acquiring
        .payment_by_out_trade_no(&me.merchant_id, &no)
        .await?;
    Ok(Json(views::payment(&p)))
}

/// Close an unpaid payment.
#[utoipa::path(post, path = "/v1/payments/{id}/close", tag = "payments",
    params(("id" = String, Path, description = "the payment's id")),
    responses((status = 200, body = PaymentObject)), security(("paycore_signature" = [])))]
pub async fn close_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PaymentObject>> {
    let p = app
        .acquiring
        .close_payment(&me.merchant_id, &id, ResultSource::Api)
        .await?;
    Ok(Json(views::payment(&p)))
}

/// Cancel (撤销) a successful payment on its accounting day, in full. When the channel has not
/// confirmed it yet the answer is 503 `CHANNEL_UNAVAILABLE`: the cancel goes on, the
/// `payment.canceled` event follows, and asking again is safe.
#[utoipa::path(post, path = "/v1/payments/{id}/cancel", tag = "payments",
    params(("id" = String, Path, description = "the payment's id")),
    responses((status = 200, body = PaymentObject)), security(("paycore_signature" = [])))]
pub async fn cancel_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PaymentObject>> {
    let p = app.acquiring.cancel_payment(&me.merchant_id, &id).await?;
    Ok(Json(views::payment(&p)))
}

/// Refund a payment (partially, several times, never above what was paid).
#[utoipa::path(post, path = "/v1/refunds", tag = "refunds", request_body = CreateRefund,
    responses((status = 201, description = "created and sent to the channel", body = RefundObject),
              (status = 200, description = "the same request again: the existing refund", body = RefundObject)),
    security(("paycore_signature" = [])))]
pub async fn create_refund(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    JsonBody(req): JsonBody<CreateRefund>,
) -> ApiResult<(StatusCode, Json<RefundObject>)> {
    let payment = match (&req.payment_id, &req.out_trade_no) {
        (Some(id), _) => app.acquiring.payment(&me.merchant_id, id).await?,
        (None, Some(no)) => {
            app.acquiring
                .payment_by_out_trade_no(&me.merchant_id, no)
                .await?
        }
        (None, None) => return Err(ApiError::invalid("payment_id or out_trade_no is required")),
    };
    let currency = req.currency.map_or(payment.amount.currency(), |c| c.0);
    let (refund, is_new) = app
        .acquiring
        .create_refund(NewRefund {
            merchant_id: me.merchant_id.clone(),
            payment_id: Some(payment.payment_id.clone()),
            out_trade_no: None,
            out_refund_no: req.out_refund_no,
            amount: Money::from_minor(req.amount.0, currency),
            reason: req.reason,
        })
        .await?;
    Ok(created(is_new, views::refund(&refund, &payment)))
}

async fn refund_view(app: &AppState, r: paycore_acquiring::Refund) -> ApiResult<RefundObject> {
    let p = app.acquiring.payment(&r.merchant_id, &r.payment_id).await?;
    Ok(views::refund(&r, &p))
}

/// Query a refund by its id.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "refunds",
    params(("id" = String, Path, description = "the refund's id")),
    responses((status = 200, body = RefundObject)), security(("paycore_signature" = [])))]
pub async fn get_refund(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RefundObject>> {
    let r = app.acquiring.refund(&me.merchant_id, &id).await?;
    Ok(Json(refund_view(&app, r).await?))
}

#[derive(Deserialize)]
pub struct ByRefundNo {
    pub out_refund_no: Option<String>,
}

/// Query a refund by the merchant's own number.
#[utoipa::path(get, path = "/v1/refunds", tag = "refunds",
    params(("out_refund_no" = String, Query, description = "the merchant's number of the refund")),
    responses((status = 200, body = RefundObject)), security(("paycore_signature" = [])))]
pub async fn find_refund(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiQuery(q): ApiQuery<ByRefundNo>,
) -> ApiResult<Json<RefundObject>> {
    let no = q
        .out_refund_no
        .ok_or_else(|| ApiError::invalid("out_refund_no is required"))?;
    let r = app
        .acquiring
        .refund_by_out_refund_no(&me.merchant_id, &no)
        .await?;
    Ok(Json(refund_view(&app, r).await?))
}

/// The merchant's statement for an accounting day (M10), CSV: a header, a line per payment,
/// fee, refund, cancel, late charge and automatic refund, then a totals line per currency.
#[utoipa::path(get, path = "/v1/bills/{day}", tag = "merchants",
    params(("day" = String, Path, description = "the accounting day, YYYY-MM-DD", format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")),
    responses((status = 200, description = "the bill", content_type = "text/csv", body = String)),
    security(("paycore_signature" = [])))]
pub async fn bill(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(day): ApiPath<String>,
) -> ApiResult<Response> {
    let day = day_number(&day).ok_or_else(|| ApiError::invalid("the day must be YYYY-MM-DD"))?;
    let csv = app.acquiring.bill(&me.merchant_id, day).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// The merchant's balances (M11): pending settlement and settled, per currency.
#[utoipa::path(get, path = "/v1/balance", tag = "merchants",
    responses((status = 200, body = BalanceList)), security(("paycore_signature" = [])))]
pub async fn merchant_balance(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
) -> ApiResult<Json<BalanceList>> {
    let balances = app.acquiring.balances(&me.merchant_id).await?;
    let mut out = Vec::with_capacity(balances.len());
    for b in balances {
        let currency = Currency::from_code(&b.currency).map_err(|e| ApiError::internal(&e))?;
        out.push(BalanceEntry {
            currency: CurrencyCode(currency),
            pending_settlement: b.pending_settlement,
            available: b.available,
        });
    }
    Ok(Json(BalanceList {
        merchant_id: me.merchant_id.clone(),
        balances: out,
    }))
}

//! Payments and refunds of the merchant API (`/v1/payments`, `/v1/refunds`), the merchant's
//! bill and balance, and the channels' callbacks (`/channels/{channel}/notify` and `/return`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use paycore_core::acquiring::{payment_json, refund_json, NewPayment, NewRefund, ResultSource};
use paycore_core::product::Product;
use paycore_kernel::{Currency, Money};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::AuthedMerchant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Amount, JsonBody};
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    pub out_trade_no: String,
    /// Minor units of `currency`.
    #[schema(value_type = i64)]
    pub amount: Amount,
    pub currency: String,
    pub subject: String,
    /// NET_BANK | ALIPAY | WECHAT | PHONE_BILL | QUICK_PAY (others later)
    pub product: String,
    /// `{"phone"?, "member_id"?, "client_ip"?}`; PHONE_BILL needs the phone.
    #[schema(value_type = Object)]
    pub payer: Option<Value>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub expire_seconds: Option<i64>,
    /// Must equal `currency` for now.
    pub settle_currency: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
}

fn currency(code: &str) -> ApiResult<Currency> {
    Currency::from_code(code).map_err(|_| ApiError::invalid(format!("unknown currency {code:?}")))
}

fn created(is_new: bool, body: Value) -> (StatusCode, Json<Value>) {
    (
        if is_new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(body),
    )
}

#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = CreatePayment,
    responses((status = 201, description = "created (and executed where possible)", body = Object),
              (status = 200, description = "the same request again: the existing payment", body = Object)),
    security(("paycore_signature" = [])))]
pub async fn create_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    JsonBody(req): JsonBody<CreatePayment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let cur = currency(&req.currency)?;
    if req
        .settle_currency
        .as_deref()
        .is_some_and(|s| s != req.currency)
    {
        return Err(ApiError::invalid(
            "settlement in another currency is not available yet",
        ));
    }
    let product: Product = req
        .product
        .parse()
        .map_err(|_| ApiError::invalid(format!("unknown product {:?}", req.product)))?;
    let (payment, is_new) = app
        .acquiring
        .create_payment(NewPayment {
            merchant_id: me.merchant_id.clone(),
            out_trade_no: req.out_trade_no,
            amount: Money::from_minor(req.amount.0, cur),
            subject: req.subject,
            product,
            payer: req
                .payer
                .unwrap_or_else(|| Value::Object(Default::default())),
            notify_url: req.notify_url,
            return_url: req.return_url,
            expire_seconds: req.expire_seconds,
            metadata: req
                .metadata
                .unwrap_or_else(|| Value::Object(Default::default())),
        })
        .await?;
    Ok(created(is_new, payment_json(&payment)))
}

#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments", responses((status = 200, body = Object)),
    security(("paycore_signature" = [])))]
pub async fn get_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(payment_json(
        &app.acquiring.payment(&me.merchant_id, &id).await?,
    )))
}

#[derive(Deserialize)]
pub struct ByTradeNo {
    pub out_trade_no: Option<String>,
}

#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(("out_trade_no" = String, Query)),
    responses((status = 200, body = Object)), security(("paycore_signature" = [])))]
pub async fn find_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Query(q): Query<ByTradeNo>,
) -> ApiResult<Json<Value>> {
    let no = q
        .out_trade_no
        .ok_or_else(|| ApiError::invalid("out_trade_no is required"))?;
    Ok(Json(payment_json(
        &app.acquiring
            .payment_by_out_trade_no(&me.merchant_id, &no)
            .await?,
    )))
}

#[utoipa::path(post, path = "/v1/payments/{id}/close", tag = "payments", responses((status = 200, body = Object)),
    security(("paycore_signature" = [])))]
pub async fn close_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let p = app
        .acquiring
        .close_payment(&me.merchant_id, &id, ResultSource::Api)
        .await?;
    Ok(Json(payment_json(&p)))
}

#[utoipa::path(post, path = "/v1/payments/{id}/cancel", tag = "payments", responses((status = 200, body = Object)),
    security(("paycore_signature" = [])))]
pub async fn cancel_payment(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let p = app.acquiring.cancel_payment(&me.merchant_id, &id).await?;
    Ok(Json(payment_json(&p)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    pub payment_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    #[schema(value_type = i64)]
    pub amount: Amount,
    /// Defaults to the payment's currency.
    pub currency: Option<String>,
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/refunds", tag = "refunds", request_body = CreateRefund,
    responses((status = 201, body = Object), (status = 200, body = Object)), security(("paycore_signature" = [])))]
pub async fn create_refund(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    JsonBody(req): JsonBody<CreateRefund>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let payment = match (&req.payment_id, &req.out_trade_no) {
        (Some(id), _) => app.acquiring.payment(&me.merchant_id, id).await?,
        (None, Some(no)) => {
            app.acquiring
                .payment_by_out_trade_no(&me.merchant_id, no)
                .await?
        }
        (None, None) => return Err(ApiError::invalid("payment_id or out_trade_no is required")),
    };
    let cur = match &req.currency {
        Some(c) => currency(c)?,
        None => payment.amount.currency(),
    };
    let (refund, is_new) = app
        .acquiring
        .create_refund(NewRefund {
            merchant_id: me.merchant_id.clone(),
            payment_id: Some(payment.payment_id),
            out_trade_no: None,
            out_refund_no: req.out_refund_no,
            amount: Money::from_minor(req.amount.0, cur),
            reason: req.reason,
        })
        .await?;
    Ok(created(is_new, refund_json(&refund)))
}

#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "refunds", responses((status = 200, body = Object)),
    security(("paycore_signature" = [])))]
pub async fn get_refund(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(refund_json(
        &app.acquiring.refund(&me.merchant_id, &id).await?,
    )))
}

#[derive(Deserialize)]
pub struct ByRefundNo {
    pub out_refund_no: Option<String>,
}

#[utoipa::path(get, path = "/v1/refunds", tag = "refunds", params(("out_refund_no" = String, Query)),
    responses((status = 200, body = Object)), security(("paycore_signature" = [])))]
pub async fn find_refund(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Query(q): Query<ByRefundNo>,
) -> ApiResult<Json<Value>> {
    let no = q
        .out_refund_no
        .ok_or_else(|| ApiError::invalid("out_refund_no is required"))?;
    Ok(Json(refund_json(
        &app.acquiring
            .refund_by_out_refund_no(&me.merchant_id, &no)
            .await?,
    )))
}

/// `YYYY-MM-DD` → `yyyymmdd`.
fn day_number(day: &str) -> ApiResult<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(day, &fmt)
        .map_err(|_| ApiError::invalid("the day must be YYYY-MM-DD"))?;
    Ok(i64::from(d.year()) * 10_000 + i64::from(u8::from(d.month())) * 100 + i64::from(d.day()))
}

#[utoipa::path(get, path = "/v1/bills/{day}", tag = "merchants",
    responses((status = 200, description = "CSV: header, a line per payment, fee, cancel and refund, totals", content_type = "text/csv")),
    security(("paycore_signature" = [])))]
pub async fn bill(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    Path(day): Path<String>,
) -> ApiResult<Response> {
    let csv = app
        .acquiring
        .bill(&me.merchant_id, day_number(&day)?)
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

#[utoipa::path(get, path = "/v1/balance", tag = "merchants", responses((status = 200, body = Object)),
    security(("paycore_signature" = [])))]
pub async fn balance(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
) -> ApiResult<Json<Value>> {
    let balances = app.acquiring.balances(&me.merchant_id).await?;
    Ok(Json(
        serde_json::json!({ "merchant_id": me.merchant_id, "balances": balances }),
    ))
}

fn inbound(
    headers: &HeaderMap,
    body: &[u8],
    query: Option<String>,
) -> paycore_channels::InboundNotification {
    paycore_channels::InboundNotification {
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
            })
            .collect(),
        body: body.to_vec(),
        query: query.unwrap_or_default(),
    }
}

/// A channel's async notification. Verified by the channel's connector; answered the way the
/// channel expects, so that it stops (or keeps) sending.
pub async fn channel_notify(
    State(app): State<AppState>,
    Path(channel): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match app
        .acquiring
        .channel_message(&channel, &inbound(&headers, &body, query))
        .await
    {
        Ok((ack, _)) => {
            let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::OK);
            (status, [(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The payer's browser coming back from the channel's page: applied like a notification, then
/// sent on to the merchant's `return_url`.
pub async fn channel_return(
    State(app): State<AppState>,
    Path(channel): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match app.acquiring.channel_message(&channel, &inbound(&headers, &[], query)).await {
        Ok((_, Some(p))) => match &p.return_url {
            Some(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                Redirect::to(&format!("{url}{sep}payment_id={}&out_trade_no={}&status={}", p.payment_id, p.out_trade_no, p.status.as_str()))
                    .into_response()
            }
            None => (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!(
                    "<!doctype html><title>Payment {status}</title><h1 id=\"status\">Payment {status}</h1><p>Order {no}</p>",
                    status = p.status.as_str(),
                    no = html_escape(&p.out_trade_no)
                ),
            )
                .into_response(),
        },
        Ok((_, None)) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

//! The sandbox's HTTP side. Routes (full paths, so the router can be merged as is):
//!
//! - `POST /sandbox/api/{netbank|alipay|wechat|carrier|quickpay}/{pay|query|refund|refund-query|cancel|balance}`:
//!   the channels' own APIs, each in its own wire format and signature (see [`super::kind`]).
//! - `GET|POST /sandbox/netbank/pay/{token}`: the net-bank's payment page and its "Pay" form.
//! - `POST /sandbox/wallets/{alipay|wechat}/pay` `{"code"}`: a wallet user pays a QR code.
//! - `GET /sandbox/channels`, `GET|PUT /sandbox/channels/{channel}/behaviour`,
//!   `GET /sandbox/channels/{channel}/settlement-files/{YYYY-MM-DD}`, `GET /sandbox/sms?phone=`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use paycore_kernel::{Currency, Money};
use serde::Deserialize;
use serde_json::json;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::behaviour::Behaviour;
use super::books::{self, NewOrder, Order, OrderEvent, OrderState, RefundRefusal, SandboxError};
use super::kind::Kind;
use super::wire::{self, Fields};
use super::{notifier, settlement, sms, SandboxState};

/// The sandbox's routes. Also starts the notification sender on the current runtime.
pub fn sandbox_router(state: SandboxState) -> Router {
    state.start_notifier();
    Router::new()
        .route("/sandbox/api/{slug}/{op}", post(api))
        .route(
            "/sandbox/netbank/pay/{token}",
            get(netbank_page).post(netbank_submit),
        )
        .route("/sandbox/wallets/{wallet}/pay", post(wallet_pay))
        .route("/sandbox/channels", get(list_channels))
        .route(
            "/sandbox/channels/{channel}/behaviour",
            get(get_behaviour).put(put_behaviour),
        )
        .route(
            "/sandbox/channels/{channel}/settlement-files/{day}",
            get(settlement_file),
        )
        .route("/sandbox/sms", get(sms_list))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failure that is not a channel business answer: the request never got processed
/// (4xx) or the sandbox broke (5xx).
enum Fail {
    BadRequest(String),
    NotFound(String),
    Internal(String),
}

impl From<SandboxError> for Fail {
    fn from(e: SandboxError) -> Self {
        tracing::error!(target: "error", error = %e, "sandbox failure");
        Fail::Internal(e.to_string())
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            Fail::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Fail::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Fail::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, [(header::CONTENT_TYPE, "text/plain")], msg).into_response()
    }
}

fn kind_by_code(code: &str) -> Result<Kind, Fail> {
    Kind::from_code(code).ok_or_else(|| Fail::NotFound(format!("no channel {code}")))
}

// ---------------------------------------------------------------------------------------------
// Channel APIs
// ---------------------------------------------------------------------------------------------

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

fn field<'a>(f: &'a Fields, name: &str) -> Result<&'a str, Fail> {
    f.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Fail::BadRequest(format!("missing field {name}")))
}

fn money_fields(f: &Fields) -> Result<Money, Fail> {
    let currency =
        Currency::from_code(field(f, "currency")?).map_err(|e| Fail::BadRequest(e.to_string()))?;
    let minor: i64 = field(f, "amount")?
        .parse()
        .map_err(|_| Fail::BadRequest("amount must be an integer of minor units".into()))?;
    Ok(Money::from_minor(minor, currency))
}

fn signed_response(kind: Kind, fields: &Fields, keys: &wire::ChannelKeys) -> Response {
    let spec = kind.wire();
    match wire::encode(spec.format, spec.response_sign, fields, keys) {
        Ok(enc) => {
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, enc.content_type)],
                enc.body,
            )
                .into_response();
            for (k, v) in enc.headers {
                if let (Ok(name), Ok(value)) = (
                    header::HeaderName::try_from(k),
                    header::HeaderValue::try_from(v),
                ) {
                    resp.headers_mut().insert(name, value);
                }
            }
            resp
        }
        Err(e) => Fail::Internal(e.to_string()).into_response(),
    }
}

async fn api(
    State(st): State<SandboxState>,
    Path((slug, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Run to the end even if the client hangs up (it timed out): a real channel keeps
    // processing what it received, which is exactly what makes a result "unknown".
    let task = tokio::spawn(async move {
        match api_inner(&st, &slug, &op, &headers, &body).await {
            Ok(r) => r,
            Err(f) => f.into_response(),
        }
    });
    match task.await {
        Ok(r) => r,
        Err(e) => Fail::Internal(e.to_string()).into_response(),
    }
}

async fn api_inner(
    st: &SandboxState,
    slug: &str,
    op: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Fail> {
    let kind = Kind::from_slug(slug).ok_or_else(|| Fail::NotFound(format!("no channel {slug}")))?;
    let keys = st.keys(kind).await?;
    let spec = kind.wire();
    let fields = wire::decode(
        spec.format,
        spec.request_sign,
        &header_pairs(headers),
        body,
        &keys,
    )
    .map_err(|e| Fail::BadRequest(e.to_string()))?;
    let behaviour = books::load_behaviour(st.db(), kind).await?;
    if behaviour.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.latency_ms)).await;
    }
    let (answer, hold) = match op {
        "pay" => pay(st, kind, &fields, &behaviour).await?,
        "query" => (query(st, kind, &fields).await?, false),
        "refund" => (refund(st, kind, &fields).await?, false),
        "refund-query" => (refund_query(st, kind, &fields).await?, false),
        "cancel" => (cancel(st, kind, &fields).await?, false),
        "balance" => (balance(st, kind, &fields).await?, false),
        other => return Err(Fail::NotFound(format!("no operation {other}"))),
    };
    if hold {
        // The "unknown result" misbehaviour: the work is done, the answer comes too late.
        tokio::time::sleep(Duration::from_millis(behaviour.unknown_hold_ms)).await;
    }
    Ok(signed_response(kind, &answer, &keys))
}

fn ok_fields() -> Fields {
    let mut f = Fields::new();
    f.insert("code".into(), "OK".into());
    f
}

fn code_fields(code: &str, message: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("code".into(), code.into());
    f.insert("message".into(), message.into());
    f
}

fn qr_code(kind: Kind, token: &str) -> String {
    format!("{}://pay/{token}", kind.slug())
}

fn pay_url(st: &SandboxState, token: &str) -> String {
    format!("{}/sandbox/netbank/pay/{token}", st.base_url())
}

fn order_fields(st: &SandboxState, o: &Order) -> Fields {
    let mut f = ok_fields();
    f.insert("attempt_id".into(), o.attempt_id.clone());
    f.insert("txn_id".into(), o.channel_txn_id.clone());
    f.insert("status".into(), o.status.as_str().into());
    f.insert("amount".into(), o.amount.minor().to_string());
    f.insert("currency".into(), o.amount.currency().code().into());
    f.insert("refunded".into(), o.refunded.minor().to_string());
    if let Some(p) = o.paid_at {
        f.insert("paid_at".into(), p.to_string());
    }
    if let Some(c) = &o.fail_code {
        f.insert("fail_code".into(), c.clone());
    }
    if o.status == OrderState::Pending {
        match o.kind {
            Kind::NetBank => {
                f.insert("pay_url".into(), pay_url(st, &o.token));
            }
            Kind::Alipay | Kind::Wechat => {
                f.insert("qr_code".into(), qr_code(o.kind, &o.token));
            }
            _ => {}
        }
    }
    f
}

/// Returns the answer and whether to hold it back (unknown-result misbehaviour).
async fn pay(
    st: &SandboxState,
    kind: Kind,
    f: &Fields,
    b: &Behaviour,
) -> Result<(Fields, bool), Fail> {
    let attempt_id = field(f, "attempt_id")?;
    let amount = money_fields(f)?;
    if !amount.is_positive() || !kind.currencies().contains(&amount.currency()) {
        return Ok((code_fields("INVALID_REQUEST", "amount or currency"), false));
    }
    let phone = f.get("phone").map(String::as_str).filter(|p| !p.is_empty());
    if kind == Kind::Carrier && phone.is_none() {
        return Ok((code_fields("INVALID_REQUEST", "phone required"), false));
    }
    let existing = books::order_by_attempt(st.db(), kind, attempt_id).await?;
    if let Some(o) = existing {
        if o.amount != amount {
            return Ok((
                code_fields("ATTEMPT_CONFLICT", "attempt id used with other fields"),
                false,
            ));
        }
        // Idempotent: the same attempt answers what it already is, never charges again.
        return Ok((order_fields(st, &o), false));
    }
    let new = NewOrder {
        kind,
        attempt_id,
        merchant_id: f.get("merchant_id").map(String::as_str).unwrap_or(""),
        amount,
        subject: f.get("subject").map(String::as_str).unwrap_or(""),
        payer_phone: phone,
        return_url: f
            .get("return_url")
            .map(String::as_str)
            .filter(|u| !u.is_empty()),
        notify_url: f
            .get("notify_url")
            .map(String::as_str)
            .filter(|u| !u.is_empty()),
        expire_at: f.get("expire_at").and_then(|e| e.parse::<i64>().ok()),
    };
    let (order, created) = books::insert_order(st.db(), st.clock(), &new).await?;
    if !created {
        return Ok((order_fields(st, &order), false));
    }
    if st.counters().hit(kind.code(), "decline", b.decline_rate) {
        let o = books::transition(
            st.db(),
            st.clock(),
            &order,
            OrderEvent::Decline,
            Some("DECLINED"),
        )
        .await?;
        return Ok((order_fields(st, &o), false));
    }
    if let (Kind::Carrier, Some(phone)) = (kind, phone) {
        let used =
            books::carrier_month_usage(st.db(), phone, st.clock().now(), amount.currency()).await?;
        if used.minor().saturating_add(amount.minor()) > b.monthly_limit {
            let o = books::transition(
                st.db(),
                st.clock(),
                &order,
                OrderEvent::Decline,
                Some("LIMIT_EXCEEDED"),
            )
            .await?;
            return Ok((order_fields(st, &o), false));
        }
    }
    let order = if kind.charges_on_pay() {
        complete_payment(st, &order, b).await?
    } else {
        order
    };
    let hold = st.counters().hit(kind.code(), "unknown", b.unknown_rate);
    Ok((order_fields(st, &order), hold))
}

fn notification_fields(o: &Order) -> Fields {
    let mut f = Fields::new();
    f.insert(
        "notify_id".into(),
        format!("{}-{}", o.channel_txn_id, o.status.as_str()),
    );
    f.insert("notify_type".into(), "payment".into());
    f.insert("channel".into(), o.kind.code().into());
    f.insert("attempt_id".into(), o.attempt_id.clone());
    f.insert("txn_id".into(), o.channel_txn_id.clone());
    f.insert("status".into(), o.status.as_str().into());
    f.insert("amount".into(), o.amount.minor().to_string());
    f.insert("currency".into(), o.amount.currency().code().into());
    if let Some(p) = o.paid_at {
        f.insert("paid_at".into(), p.to_string());
    }
    if let Some(c) = &o.fail_code {
        f.insert("fail_code".into(), c.clone());
    }
    f
}

/// The payer acts on an order: closes it instead when it has expired.
async fn payer_pays(
    st: &SandboxState,
    order: &Order,
    b: &Behaviour,
) -> Result<Order, SandboxError> {
    let expired = order
        .expire_at
        .is_some_and(|e| st.clock().unix_millis() > e);
    if order.status == OrderState::Pending && expired {
        return books::transition(
            st.db(),
            st.clock(),
            order,
            OrderEvent::Close,
            Some("EXPIRED"),
        )
        .await;
    }
    complete_payment(st, order, b).await
}

/// Charges a pending order and queues the channel's notification about it.
async fn complete_payment(
    st: &SandboxState,
    order: &Order,
    b: &Behaviour,
) -> Result<Order, SandboxError> {
    let o = if order.status == OrderState::Pending {
        books::transition(st.db(), st.clock(), order, OrderEvent::Pay, None).await?
    } else {
        order.clone()
    };
    if o.kind.notifies() {
        if let Some(url) = &o.notify_url {
            let keys = st.keys(o.kind).await?;
            let spec = o.kind.wire();
            let fields = notification_fields(&o);
            let enc = wire::encode(spec.format, spec.response_sign, &fields, &keys)
                .map_err(|e| SandboxError::Crypto(e.to_string()))?;
            let id = fields.get("notify_id").cloned().unwrap_or_default();
            notifier::enqueue(st, o.kind, url, &id, &enc, b).await?;
        }
    }
    Ok(o)
}

async fn query(st: &SandboxState, kind: Kind, f: &Fields) -> Result<Fields, Fail> {
    let attempt_id = field(f, "attempt_id")?;
    Ok(
        match books::order_by_attempt(st.db(), kind, attempt_id).await? {
            Some(o) => order_fields(st, &o),
            None => code_fields("NOT_FOUND", "no such order"),
        },
    )
}

async fn refund(st: &SandboxState, kind: Kind, f: &Fields) -> Result<Fields, Fail> {
    let attempt_id = field(f, "attempt_id")?;
    let refund_id = field(f, "refund_id")?;
    let amount = money_fields(f)?;
    let Some(order) = books::order_by_attempt(st.db(), kind, attempt_id).await? else {
        return Ok(code_fields("NOT_FOUND", "no such order"));
    };
    Ok(
        match books::refund(st.db(), st.clock(), &order, refund_id, amount).await? {
            Ok(r) => {
                // The wallets also confirm refunds asynchronously, as their real models do.
                let url = f.get("notify_url").filter(|u| !u.is_empty());
                if let (true, true, Some(url)) =
                    (r.created, matches!(kind, Kind::Alipay | Kind::Wechat), url)
                {
                    notify_refund(st, kind, &order, &r, url).await?;
                }
                refund_fields(&r)
            }
            Err(RefundRefusal::NotPaid) => code_fields("NOT_PAID", "order is not paid"),
            Err(RefundRefusal::ExceedsRefundable) => {
                code_fields("EXCEEDS_REFUNDABLE", "amount above what is left to refund")
            }
            Err(RefundRefusal::Mismatch) => {
                code_fields("REFUND_CONFLICT", "refund id used with other fields")
            }
        },
    )
}

async fn notify_refund(
    st: &SandboxState,
    kind: Kind,
    order: &Order,
    r: &books::RefundRow,
    url: &str,
) -> Result<(), SandboxError> {
    let mut f = Fields::new();
    f.insert(
        "notify_id".into(),
        format!("{}-succeeded", r.channel_refund_id),
    );
    f.insert("notify_type".into(), "refund".into());
    f.insert("channel".into(), kind.code().into());
    f.insert("attempt_id".into(), r.refund_id.clone());
    f.insert("payment_attempt_id".into(), order.attempt_id.clone());
    f.insert("txn_id".into(), r.channel_refund_id.clone());
    f.insert("status".into(), "succeeded".into());
    f.insert("amount".into(), r.amount.minor().to_string());
    f.insert("currency".into(), r.amount.currency().code().into());
    f.insert("paid_at".into(), st.clock().unix_millis().to_string());
    let keys = st.keys(kind).await?;
    let spec = kind.wire();
    let enc = wire::encode(spec.format, spec.response_sign, &f, &keys)
        .map_err(|e| SandboxError::Crypto(e.to_string()))?;
    let b = books::load_behaviour(st.db(), kind).await?;
    let id = f.get("notify_id").cloned().unwrap_or_default();
    notifier::enqueue(st, kind, url, &id, &enc, &b).await
}

fn refund_fields(r: &books::RefundRow) -> Fields {
    let mut f = ok_fields();
    f.insert("refund_id".into(), r.refund_id.clone());
    f.insert("attempt_id".into(), r.attempt_id.clone());
    f.insert("refund_txn_id".into(), r.channel_refund_id.clone());
    f.insert("refund_status".into(), "succeeded".into());
    f.insert("amount".into(), r.amount.minor().to_string());
    f.insert("currency".into(), r.amount.currency().code().into());
    f
}

async fn refund_query(st: &SandboxState, kind: Kind, f: &Fields) -> Result<Fields, Fail> {
    let refund_id = field(f, "refund_id")?;
    Ok(match books::refund_by_id(st.db(), kind, refund_id).await? {
        Some(r) => refund_fields(&r),
        None => code_fields("NOT_FOUND", "no such refund"),
    })
}

async fn cancel(st: &SandboxState, kind: Kind, f: &Fields) -> Result<Fields, Fail> {
    let attempt_id = field(f, "attempt_id")?;
    let Some(order) = books::order_by_attempt(st.db(), kind, attempt_id).await? else {
        return Ok(code_fields("NOT_FOUND", "no such order"));
    };
    let today = books::day_number(st.clock().now().date());
    let paid_day = order.paid_at.and_then(|ms| {
        OffsetDateTime::from_unix_timestamp(ms / 1000)
            .ok()
            .map(|t| books::day_number(t.date()))
    });
    let o = match order.status {
        OrderState::Pending => {
            books::transition(st.db(), st.clock(), &order, OrderEvent::Close, None).await?
        }
        OrderState::Paid if paid_day == Some(today) && order.refunded.is_zero() => {
            books::transition(st.db(), st.clock(), &order, OrderEvent::Cancel, None).await?
        }
        OrderState::Paid => {
            return Ok(code_fields(
                "CANNOT_CANCEL",
                "only unrefunded payments of today can be canceled",
            ))
        }
        _ => order,
    };
    Ok(order_fields(st, &o))
}

async fn balance(st: &SandboxState, kind: Kind, f: &Fields) -> Result<Fields, Fail> {
    let currency = match f.get("currency") {
        Some(c) => Currency::from_code(c).map_err(|e| Fail::BadRequest(e.to_string()))?,
        None => Currency::CNY,
    };
    let m = books::balance(st.db(), kind, currency).await?;
    let mut out = ok_fields();
    out.insert("amount".into(), m.minor().to_string());
    out.insert("currency".into(), currency.code().into());
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Payer-side pages
// ---------------------------------------------------------------------------------------------

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn netbank_order(st: &SandboxState, token: &str) -> Result<Order, Fail> {
    match books::order_by_token(st.db(), token).await? {
        Some(o) if o.kind == Kind::NetBank => Ok(o),
        _ => Err(Fail::NotFound("no such payment".into())),
    }
}

async fn netbank_page(
    State(st): State<SandboxState>,
    Path(token): Path<String>,
) -> Result<Html<String>, Fail> {
    let o = netbank_order(&st, &token).await?;
    let action = if o.status == OrderState::Pending {
        format!(
            r#"<form method="post" action="/sandbox/netbank/pay/{t}">
<input type="hidden" name="action" value="pay">
<button type="submit" id="pay">Pay</button>
</form>"#,
            t = html_escape(&token)
        )
    } else {
        format!(
            "<p id=\"status\">This payment is {}.</p>",
            o.status.as_str()
        )
    };
    Ok(Html(format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Sandbox Net-Bank</title></head>
<body>
<h1>Sandbox Net-Bank</h1>
<p>Merchant: {merchant}</p>
<p>Order: {subject}</p>
<p>Amount: <span id="amount">{amount}</span></p>
{action}
</body></html>"#,
        merchant = html_escape(&o.merchant_id),
        subject = html_escape(&o.subject),
        amount = html_escape(&o.amount.to_string()),
    )))
}

async fn netbank_submit(
    State(st): State<SandboxState>,
    Path(token): Path<String>,
) -> Result<Response, Fail> {
    let order = netbank_order(&st, &token).await?;
    let b = books::load_behaviour(st.db(), Kind::NetBank).await?;
    let o = match order.status {
        OrderState::Pending | OrderState::Paid => payer_pays(&st, &order, &b).await?,
        _ => order,
    };
    let Some(return_url) = o.return_url.clone() else {
        return Ok(Html(format!(
            "<!doctype html><html><body><p id=\"status\">Payment {}.</p></body></html>",
            o.status.as_str()
        ))
        .into_response());
    };
    // The result travels with the browser too, signed like a notification.
    let keys = st.keys(Kind::NetBank).await?;
    let spec = Kind::NetBank.wire();
    let enc = wire::encode(
        spec.format,
        spec.response_sign,
        &notification_fields(&o),
        &keys,
    )
    .map_err(|e| Fail::Internal(e.to_string()))?;
    let sep = if return_url.contains('?') { '&' } else { '?' };
    let location = format!("{return_url}{sep}{}", enc.body);
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}

#[derive(Deserialize)]
struct WalletPay {
    code: String,
}

async fn wallet_pay(
    State(st): State<SandboxState>,
    Path(wallet): Path<String>,
    Json(req): Json<WalletPay>,
) -> Result<Response, Fail> {
    let kind = match wallet.as_str() {
        "alipay" => Kind::Alipay,
        "wechat" => Kind::Wechat,
        _ => return Err(Fail::NotFound(format!("no wallet {wallet}"))),
    };
    let prefix = format!("{}://pay/", kind.slug());
    let token = req
        .code
        .strip_prefix(&prefix)
        .ok_or_else(|| Fail::NotFound("not a code of this wallet".into()))?;
    let order = match books::order_by_token(st.db(), token).await? {
        Some(o) if o.kind == kind => o,
        _ => return Err(Fail::NotFound("no such payment".into())),
    };
    let b = books::load_behaviour(st.db(), kind).await?;
    let o = match order.status {
        OrderState::Pending => payer_pays(&st, &order, &b).await?,
        _ => order,
    };
    let status = if o.status == OrderState::Paid {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((
        status,
        Json(json!({
            "status": o.status.as_str(),
            "channel_txn_id": o.channel_txn_id,
            "amount": o.amount.minor(),
            "currency": o.amount.currency().code(),
        })),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------

async fn list_channels() -> Json<serde_json::Value> {
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.code()).collect();
    Json(json!({ "channels": names }))
}

async fn get_behaviour(
    State(st): State<SandboxState>,
    Path(channel): Path<String>,
) -> Result<Json<Behaviour>, Fail> {
    let kind = kind_by_code(&channel)?;
    Ok(Json(books::load_behaviour(st.db(), kind).await?))
}

async fn put_behaviour(
    State(st): State<SandboxState>,
    Path(channel): Path<String>,
    body: Bytes,
) -> Result<Json<Behaviour>, Fail> {
    let kind = kind_by_code(&channel)?;
    let b: Behaviour =
        serde_json::from_slice(&body).map_err(|e| Fail::BadRequest(e.to_string()))?;
    b.validate().map_err(Fail::BadRequest)?;
    books::save_behaviour(st.db(), st.clock(), kind, &b).await?;
    st.counters().reset(kind.code());
    tracing::info!(target: "detail", channel = kind.code(), behaviour = ?b, "sandbox behaviour set");
    Ok(Json(b))
}

async fn settlement_file(
    State(st): State<SandboxState>,
    Path((channel, day)): Path<(String, String)>,
) -> Result<Response, Fail> {
    let kind = kind_by_code(&channel)?;
    let day = Date::parse(&day, format_description!("[year]-[month]-[day]"))
        .map_err(|_| Fail::BadRequest("day must be YYYY-MM-DD".into()))?;
    let charges = books::charges_of_day(st.db(), kind, day).await?;
    let b = books::load_behaviour(st.db(), kind).await?;
    let lines = settlement::lines_for_day(day, &charges, &b.settlement_differences);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        settlement::to_csv(&lines),
    )
        .into_response())
}

async fn sms_list(
    State(st): State<SandboxState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, Fail> {
    let phone = q
        .get("phone")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Fail::BadRequest("phone required".into()))?;
    let messages = sms::messages_for(st.db(), phone).await?;
    Ok(Json(json!({ "messages": messages })))
}

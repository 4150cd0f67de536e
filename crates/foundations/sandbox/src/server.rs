//! The sandbox's HTTP side. Routes (full paths, so the router can be merged as is):
//!
//! - `POST /sandbox/api/{netbank|alipay|wechat|carrier|quickpay}/{pay|query|refund|refund-query|cancel|balance}`:
//!   the channels' own APIs, each in its own wire format and signature (see [`super::kind`]).
//! - `GET|POST /sandbox/netbank/pay/{token}`: the net-bank's payment page and its "Pay" form,
//!   and `POST /sandbox/wallets/{alipay|wechat}/pay` `{"code"}`: a wallet user pays a QR code
//!   ([`super::pages`]).
//! - `GET /sandbox/channels`, `GET|PUT /sandbox/channels/{channel}/behaviour`,
//!   `GET /sandbox/channels/{channel}/settlement-files/{YYYY-MM-DD}`, `GET /sandbox/sms?phone=`
//!   ([`super::controls`]).
//!
//! Every refusal of the sandbox's own (non-channel) calls is the platform's JSON error shape.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use paycore_kernel::{Currency, Money};
use serde_json::json;
use time::OffsetDateTime;

use super::behaviour::Behaviour;
use super::books::{self, NewOrder, Order, OrderEvent, OrderState, RefundRefusal, SandboxError};
use super::kind::Kind;
use super::wire::{self, Fields};
use super::{cards, controls, notifier, pages, payouts, SandboxState};

/// The sandbox's routes. Also starts the notification sender on the current runtime.
pub fn sandbox_router(state: SandboxState) -> Router {
    state.start_notifier();
    Router::new()
        .route("/sandbox/api/{slug}/{op}", post(api))
        .route(
            "/sandbox/netbank/pay/{token}",
            get(pages::netbank_page).post(pages::netbank_submit),
        )
        .route("/sandbox/wallets/{wallet}/pay", post(pages::wallet_pay))
        .route("/sandbox/channels", get(controls::list_channels))
        .route(
            "/sandbox/channels/{channel}/behaviour",
            get(controls::get_behaviour).put(controls::put_behaviour),
        )
        .route(
            "/sandbox/channels/{channel}/settlement-files/{day}",
            get(controls::settlement_file),
        )
        .route("/sandbox/sms", get(controls::sms_list))
        .with_state(state)
}

/// Serves the sandbox on its own (`paycore sandbox`): its routes and `/healthz`, until
/// `shutdown` resolves.
pub async fn serve_standalone(
    listener: tokio::net::TcpListener,
    state: SandboxState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = sandbox_router(state).route(
        "/healthz",
        get(|| async { Json(serde_json::json!({"status": "ok"})) }),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failure that is not a channel business answer: the request never got processed
/// (4xx) or the sandbox broke (5xx). Answered as `{"error": {"code", "message", "request_id"}}`.
pub(crate) enum Fail {
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
        let (status, code, message) = match self {
            Fail::BadRequest(m) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", m),
            Fail::NotFound(m) => (StatusCode::NOT_FOUND, "NOT_FOUND", m),
            Fail::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", m),
        };
        let body = json!({"error": {"code": code, "message": message,
            "request_id": paycore_kernel::request::current_request_id()}});
        (status, Json(body)).into_response()
    }
}

pub(crate) fn kind_by_code(code: &str) -> Result<Kind, Fail> {
    Kind::from_code(code).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.code()).collect();
        Fail::NotFound(format!(
            "no channel {code:?} (the channels: {})",
            names.join(", ")
        ))
    })
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

/// A channel's own API, in its wire format (form, XML or JSON, signed with the channel's key).
#[utoipa::path(post, path = "/sandbox/api/{slug}/{op}", tag = "sandbox",
    params(("slug" = String, Path, description = "netbank, alipay, wechat, carrier or quickpay"),
           ("op" = String, Path, description = "pay, query, refund, refund-query, cancel, balance (and sign, unsign, payout for quickpay)")),
    request_body(content = String, description = "the channel's signed request in its wire format"),
    responses((status = 200, description = "the channel's signed answer in its wire format", body = String)),
    operation_id = "sandbox_channel_api")]
pub(crate) async fn api(
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
        "sign" if kind == Kind::QuickPay => {
            (cards::sign(st, keys.shared.expose(), &fields).await?, false)
        }
        "unsign" if kind == Kind::QuickPay => (cards::unsign(st, &fields).await?, false),
        "payout" if kind == Kind::QuickPay => {
            let declined = st
                .counters()
                .hit(kind.code(), "decline", behaviour.decline_rate);
            let unknown = st
                .counters()
                .hit(kind.code(), "unknown", behaviour.unknown_rate);
            (payouts::payout(st, &fields, declined).await?, unknown)
        }
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
    // A card payment names the card's agreement; one that ended (or never was) pays nothing.
    if let Some(no) = f.get("agreement_no").filter(|a| !a.is_empty()) {
        if !cards::active(st, no).await? {
            return Ok((code_fields("AGREEMENT_INVALID", "no such agreement"), false));
        }
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

pub(crate) fn notification_fields(o: &Order) -> Fields {
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
pub(crate) async fn payer_pays(
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

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    api,
    pages::netbank_page,
    pages::netbank_submit,
    pages::wallet_pay,
    controls::list_channels,
    controls::get_behaviour,
    controls::put_behaviour,
    controls::settlement_file,
    controls::sms_list,
))]
struct SandboxDoc;

/// The sandbox's endpoints as an OpenAPI document (merged into the platform's in sandbox mode).
pub fn openapi() -> utoipa::openapi::OpenApi {
    <SandboxDoc as utoipa::OpenApi>::openapi()
}

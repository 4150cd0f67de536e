//! The payer's side of the sandbox: the net-bank's payment page and its "Pay" form, and a
//! wallet user paying a QR code.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::books::{self, Order, OrderState};
use super::kind::Kind;
use super::server::{notification_fields, payer_pays, Fail};
use super::{wire, SandboxState};

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

/// The net-bank's payment page: the order and a "Pay" button (a form posting to the same URL).
#[utoipa::path(get, path = "/sandbox/netbank/pay/{token}", tag = "sandbox",
    params(("token" = String, Path, description = "from the payment's next_action.url")),
    responses((status = 200, description = "the page", content_type = "text/html", body = String)),
    operation_id = "sandbox_netbank_page")]
pub(crate) async fn netbank_page(
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

/// The fields of the page's "Pay" form. Only described (the press of the button is what counts,
/// the handler reads no field): a form body is a set of fields, which a bare string schema
/// could not say.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PayForm {
    /// `pay`, the form's one button (not required: the press is what counts).
    action: Option<String>,
}

/// The page's "Pay" form: the payer pays; the browser goes back to the platform's return URL.
#[utoipa::path(post, path = "/sandbox/netbank/pay/{token}", tag = "sandbox",
    params(("token" = String, Path, description = "from the payment's next_action.url")),
    request_body(content = PayForm, content_type = "application/x-www-form-urlencoded", description = "action=pay"),
    responses((status = 303, description = "back to the platform with the signed result"),
              (status = 200, description = "the result, when there is no return URL", content_type = "text/html", body = String)),
    operation_id = "sandbox_netbank_pay")]
pub(crate) async fn netbank_submit(
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

/// `POST /sandbox/wallets/{wallet}/pay`: the QR code a wallet user scanned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WalletPay {
    /// The payment's `next_action.code`, e.g. `alipay://pay/…`.
    code: String,
}

/// The wallet's answer: the order as the wallet has it.
#[derive(Serialize, ToSchema)]
pub(crate) struct WalletPaid {
    /// paid (or, when it could not be paid any more: declined, closed, canceled).
    status: String,
    channel_txn_id: String,
    amount: i64,
    currency: String,
}

/// A wallet user pays a payment's QR code, as they would by scanning it.
#[utoipa::path(post, path = "/sandbox/wallets/{wallet}/pay", tag = "sandbox",
    params(("wallet" = String, Path, description = "alipay or wechat")),
    request_body = WalletPay,
    responses((status = 200, description = "paid", body = WalletPaid),
              (status = 409, description = "the order can no longer be paid", body = WalletPaid)),
    operation_id = "sandbox_wallet_pay")]
pub(crate) async fn wallet_pay(
    State(st): State<SandboxState>,
    Path(wallet): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Fail> {
    let kind = match wallet.as_str() {
        "alipay" => Kind::Alipay,
        "wechat" => Kind::Wechat,
        _ => {
            return Err(Fail::NotFound(format!(
                "no wallet {wallet:?} (alipay, wechat)"
            )))
        }
    };
    let req: WalletPay = serde_json::from_slice(&body).map_err(|e| {
        Fail::BadRequest(format!(
            "the body must be {{\"code\": \"<the payment's next_action.code>\"}}: {e}"
        ))
    })?;
    let prefix = format!("{}://pay/", kind.slug());
    let token = req.code.strip_prefix(&prefix).ok_or_else(|| {
        Fail::BadRequest(format!(
            "{:?} is not a code of this wallet: paste the payment's next_action.code, which \
             starts with {prefix}",
            req.code
        ))
    })?;
    let order = match books::order_by_token(st.db(), token).await? {
        Some(o) if o.kind == kind => o,
        _ => {
            return Err(Fail::NotFound(
                "no payment has this code: paste the payment's next_action.code".into(),
            ))
        }
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
        Json(WalletPaid {
            status: o.status.as_str().to_string(),
            channel_txn_id: o.channel_txn_id.clone(),
            amount: o.amount.minor(),
            currency: o.amount.currency().code().to_string(),
        }),
    )
        .into_response())
}

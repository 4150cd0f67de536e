//! The cashier page (收银台, S5): where the payer of a payment waiting at the cashier logs in,
//! sees what they can pay with now, combines a coupon with one instrument, confirms with the
//! pay password and goes back to the merchant. Server-rendered HTML on the member API's own
//! calls (login, methods, pay), no script.
//!
//! Protected like a page that moves money: the session is the member's token in an `HttpOnly`,
//! `SameSite=Strict` cookie scoped to `/cashier`; every form carries a token that must equal a
//! second such cookie (double submit), so another site cannot post one; the page may not be
//! framed (`X-Frame-Options: DENY`, `frame-ancestors 'none'`), loads nothing from elsewhere and
//! is never cached.

mod text;
mod view;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use paycore_acquiring::{Payment, PaymentStatus};
use paycore_api::ErrorCode;
use paycore_cashier::{Instrument, Methods, PayOutcome, PayRequest, Verification};
use paycore_kernel::crypto::{constant_time_eq, random_token};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::AppState;
use text::{Key, Lang};
use view::Errors;

const SESSION: &str = "pc_session";
const CSRF: &str = "pc_csrf";
/// The browser's device id, for risk's new-device and velocity rules.
const DEVICE: &str = "pc_device";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cashier/{payment_id}", get(show))
        .route("/cashier/{payment_id}/login", post(login))
        .route("/cashier/{payment_id}/pay", post(pay))
        .route("/cashier/{payment_id}/verify", post(verify))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/cashier; HttpOnly; SameSite=Strict; Max-Age=1800")
}

/// The request's context: its language, its form token (a new one when the browser has none).
struct Ctx {
    lang: Lang,
    csrf: String,
    new_csrf: bool,
    /// The browser's device id, and whether it is new.
    device: String,
    new_device: bool,
}

fn ctx(headers: &HeaderMap) -> Ctx {
    let lang = Lang::from_header(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let fresh = |n: usize| random_token(n).unwrap_or_default();
    let (csrf, new_csrf) = match cookie(headers, CSRF).filter(|c| c.len() == 32) {
        Some(c) => (c, false),
        None => (fresh(32), true),
    };
    let (device, new_device) = match cookie(headers, DEVICE).filter(|c| c.len() == 24) {
        Some(d) => (d, false),
        None => (fresh(24), true),
    };
    Ctx {
        lang,
        csrf,
        new_csrf,
        device,
        new_device,
    }
}

/// An HTML answer with the page's protections, and the cookies to set.
fn page(status: StatusCode, c: &Ctx, body: &str, cookies: &[String]) -> Response {
    let mut r = (status, axum::response::Html(view::layout(c.lang, body))).into_response();
    let h = r.headers_mut();
    let fixed = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (k, v) in fixed {
        h.insert(k, HeaderValue::from_static(v));
    }
    let mut all: Vec<String> = cookies.to_vec();
    if c.new_csrf {
        all.push(set_cookie(CSRF, &c.csrf));
    }
    if c.new_device {
        all.push(format!(
            "{DEVICE}={}; Path=/cashier; HttpOnly; SameSite=Strict; Max-Age=31536000",
            c.device
        ));
    }
    for v in all {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Whether a form's token is the browser's own (a form from another site is not).
fn form_ok(headers: &HeaderMap, sent: &str) -> bool {
    cookie(headers, CSRF)
        .is_some_and(|c| c.len() == 32 && constant_time_eq(c.as_bytes(), sent.as_bytes()))
}

/// Where the payer goes back to: the merchant's `return_url` with the result.
fn back_url(p: &Payment) -> Option<String> {
    let url = p.return_url.as_deref()?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{sep}payment_id={}&out_trade_no={}&status={}",
        p.payment_id,
        p.out_trade_no,
        p.status.as_str()
    ))
}

/// A failure that is not the payer's: its code and message (internal ones are logged by
/// the conversion), never a page that pretends nothing is there.
fn failed(c: &Ctx, e: ApiError) -> Response {
    let body = view::message(&e.message, None, c.lang);
    page(e.status(), c, &body, &[])
}

/// The payment and the page's header (the merchant's name, the payment) — or the page that
/// answers instead: no such payment at the cashier, or a failure.
async fn header_of(
    app: &AppState,
    payment_id: &str,
    c: &Ctx,
) -> Result<(Payment, String), Response> {
    let not_found = || {
        let body = view::message(c.lang.t(Key::NotFound), None, c.lang);
        page(StatusCode::NOT_FOUND, c, &body, &[])
    };
    let p = match app.acquiring.payment_for_payer(payment_id).await {
        Ok(p) => p,
        Err(paycore_acquiring::AcquiringError::NotFound) => return Err(not_found()),
        Err(e) => return Err(failed(c, e.into())),
    };
    if p.channel.as_deref() != Some(paycore_acquiring::WALLET_CHANNEL) {
        return Err(not_found());
    }
    let name = match app.merchants.get(&p.merchant_id).await {
        Ok(m) => m.name,
        Err(e) => return Err(failed(c, e.into())),
    };
    let head = view::header(c.lang, &name, &p.subject, p.amount);
    Ok((p, head))
}

/// The member behind the session cookie: `None` without a live token (the login form), or
/// the page of a failure.
async fn member_of(
    app: &AppState,
    headers: &HeaderMap,
    c: &Ctx,
) -> Result<Option<String>, Response> {
    let Some(token) = cookie(headers, SESSION) else {
        return Ok(None);
    };
    match app.members.session(&token).await {
        Ok(s) => Ok(Some(s.member_id)),
        Err(paycore_member::MemberError::Unauthenticated) => Ok(None),
        Err(e) => Err(failed(c, e.into())),
    }
}

/// What a form of a logged-in payer starts with: the request's context, the payment's header
/// and the member — or the page that answers instead (no such payment; the login form).
async fn session(
    app: &AppState,
    payment_id: &str,
    headers: &HeaderMap,
) -> Result<(Ctx, String, String), Response> {
    let c = ctx(headers);
    let (_, head) = header_of(app, payment_id, &c).await?;
    let Some(member) = member_of(app, headers, &c).await? else {
        let body = view::login(c.lang, payment_id, &c.csrf, None);
        return Err(page(
            StatusCode::UNAUTHORIZED,
            &c,
            &format!("{head}{body}"),
            &[],
        ));
    };
    Ok((c, head, member))
}

async fn show(
    State(app): State<AppState>,
    ApiPath(payment_id): ApiPath<String>,
    headers: HeaderMap,
) -> Response {
    let c = ctx(&headers);
    let (p, head) = match header_of(&app, &payment_id, &c).await {
        Ok(h) => h,
        Err(answer) => return answer,
    };
    if p.status != PaymentStatus::Created {
        let paid = matches!(
            p.status,
            PaymentStatus::Succeeded | PaymentStatus::Processing
        );
        let body = match paid {
            true => view::result(
                c.lang,
                p.status == PaymentStatus::Succeeded,
                back_url(&p).as_deref(),
            ),
            false => view::message(c.lang.t(Key::Unavailable), back_url(&p).as_deref(), c.lang),
        };
        return page(StatusCode::OK, &c, &format!("{head}{body}"), &[]);
    }
    let member = match member_of(&app, &headers, &c).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            let body = view::login(c.lang, &payment_id, &c.csrf, None);
            return page(StatusCode::OK, &c, &format!("{head}{body}"), &[]);
        }
        Err(answer) => return answer,
    };
    methods_page(&app, &c, &member, (&payment_id, &head), Errors::default()).await
}

/// The methods form for `member`, with `errors` beside their fields.
async fn methods_page(
    app: &AppState,
    c: &Ctx,
    member: &str,
    (payment_id, head): (&str, &str),
    errors: Errors,
) -> Response {
    match app
        .cashier
        .methods(&app.acquiring, member, payment_id)
        .await
    {
        Ok(m) => {
            let rn = random_token(24).unwrap_or_default();
            let body = view::methods(c.lang, &m, &c.csrf, &rn, &errors);
            page(StatusCode::OK, c, &format!("{head}{body}"), &[])
        }
        Err(paycore_cashier::CashierError::NotFound) => {
            let body = view::message(c.lang.t(Key::NotFound), None, c.lang);
            page(StatusCode::NOT_FOUND, c, &format!("{head}{body}"), &[])
        }
        Err(e) => failed(c, e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    csrf: String,
    phone: String,
    password: String,
}

async fn login(
    State(app): State<AppState>,
    ApiPath(payment_id): ApiPath<String>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let c = ctx(&headers);
    let head = match header_of(&app, &payment_id, &c).await {
        Ok((_, head)) => head,
        Err(answer) => return answer,
    };
    if !form_ok(&headers, &f.csrf) {
        let body = view::login(c.lang, &payment_id, &c.csrf, Some(c.lang.t(Key::Expired)));
        return page(StatusCode::FORBIDDEN, &c, &format!("{head}{body}"), &[]);
    }
    match app.members.login(&f.phone, &f.password).await {
        Ok(t) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("/cashier/{payment_id}")) {
                h.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION, &t.token)) {
                h.append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => {
            let msg = ApiError::from(e).message;
            let body = view::login(c.lang, &payment_id, &c.csrf, Some(&msg));
            page(StatusCode::UNAUTHORIZED, &c, &format!("{head}{body}"), &[])
        }
    }
}

#[derive(Debug, Deserialize)]
struct PayForm {
    csrf: String,
    request_no: String,
    method: Option<String>,
    #[serde(default)]
    coupon: String,
    #[serde(default)]
    pay_password: String,
}

/// The instruments of the form: the coupon (if chosen) and the method paying the rest.
fn instruments(m: &Methods, f: &PayForm, lang: Lang) -> Result<Vec<Instrument>, Errors> {
    let mut out = Vec::new();
    let mut rest = m.payment.amount.minor();
    if !f.coupon.is_empty() {
        let Some(c) = m.coupons.iter().find(|c| c.coupon_id == f.coupon) else {
            return Err(Errors {
                coupon: Some(lang.t(Key::NoCouponHere).into()),
                ..Errors::default()
            });
        };
        rest -= c.discount.minor();
        out.push(Instrument::Coupon {
            coupon_id: c.coupon_id.clone(),
        });
    }
    if rest <= 0 {
        return Ok(out);
    }
    let method = f.method.as_deref().unwrap_or_default();
    out.push(match method.split_once(':') {
        Some(("CARD", card_id)) => Instrument::Card {
            card_id: card_id.to_string(),
            amount: rest,
        },
        _ => match method {
            "BALANCE" => Instrument::Balance { amount: rest },
            "COIN" => Instrument::Coin { amount: rest },
            "CREDIT" => Instrument::Credit { amount: rest },
            _ => {
                return Err(Errors {
                    method: Some(lang.t(Key::Choose).into()),
                    ..Errors::default()
                })
            }
        },
    });
    Ok(out)
}

/// Puts an error beside the field it concerns.
fn errors_of(e: ApiError) -> Errors {
    let msg = Some(e.message.clone());
    match e.code {
        ErrorCode::VerificationFailed | ErrorCode::Forbidden => Errors {
            pay_password: msg,
            ..Errors::default()
        },
        ErrorCode::InvalidRequest if e.message.contains("pay_password") => Errors {
            pay_password: msg,
            ..Errors::default()
        },
        ErrorCode::InvalidRequest if e.message.contains("coupon") => Errors {
            coupon: msg,
            ..Errors::default()
        },
        ErrorCode::InsufficientBalance
        | ErrorCode::PaymentDeclined
        | ErrorCode::LimitExceeded
        | ErrorCode::InvalidRequest => Errors {
            method: msg,
            ..Errors::default()
        },
        _ => Errors {
            form: msg,
            ..Errors::default()
        },
    }
}

async fn pay(
    State(app): State<AppState>,
    ApiPath(payment_id): ApiPath<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Form(f): Form<PayForm>,
) -> Response {
    let (c, head, member) = match session(&app, &payment_id, &headers).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if !form_ok(&headers, &f.csrf) {
        let errors = Errors {
            form: Some(c.lang.t(Key::Expired).into()),
            ..Errors::default()
        };
        return methods_page(&app, &c, &member, (&payment_id, &head), errors).await;
    }
    let m = match app
        .cashier
        .methods(&app.acquiring, &member, &payment_id)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            return methods_page(&app, &c, &member, (&payment_id, &head), errors_of(e.into())).await
        }
    };
    let list = match instruments(&m, &f, c.lang) {
        Ok(l) => l,
        Err(errors) => return methods_page(&app, &c, &member, (&payment_id, &head), errors).await,
    };
    let req = PayRequest {
        request_no: f.request_no.clone(),
        instruments: list,
        pay_password: Some(f.pay_password.clone()).filter(|p| !p.is_empty()),
        device_id: Some(c.device.clone()),
        client_ip: peer.map(|p| (p.0).0.ip().to_string()),
    };
    match app
        .cashier
        .pay(&app.acquiring, &member, &payment_id, req)
        .await
    {
        Ok(PayOutcome::Done(p)) => {
            let paid = p.status == PaymentStatus::Succeeded;
            let body = view::result(c.lang, paid, back_url(&p).as_deref());
            page(StatusCode::OK, &c, &format!("{head}{body}"), &[])
        }
        Ok(PayOutcome::Verify { .. }) => {
            let body = view::verify(c.lang, &payment_id, &c.csrf, None);
            page(StatusCode::OK, &c, &format!("{head}{body}"), &[])
        }
        Err(e) => methods_page(&app, &c, &member, (&payment_id, &head), errors_of(e.into())).await,
    }
}

#[derive(Debug, Deserialize)]
struct VerifyForm {
    csrf: String,
    sms_code: String,
}

/// The SMS code of a payment risk challenged: it is then paid as it was asked.
async fn verify(
    State(app): State<AppState>,
    ApiPath(payment_id): ApiPath<String>,
    headers: HeaderMap,
    Form(f): Form<VerifyForm>,
) -> Response {
    let (c, head, member) = match session(&app, &payment_id, &headers).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if !form_ok(&headers, &f.csrf) {
        let body = view::verify(c.lang, &payment_id, &c.csrf, Some(c.lang.t(Key::Expired)));
        return page(StatusCode::FORBIDDEN, &c, &format!("{head}{body}"), &[]);
    }
    let how = Verification::SmsCode(f.sms_code.trim().to_string());
    match app
        .cashier
        .verify(&app.acquiring, &member, &payment_id, how)
        .await
    {
        Ok(p) => {
            let paid = p.status == PaymentStatus::Succeeded;
            let body = view::result(c.lang, paid, back_url(&p).as_deref());
            page(StatusCode::OK, &c, &format!("{head}{body}"), &[])
        }
        Err(e) => {
            let msg = ApiError::from(e).message;
            let body = view::verify(c.lang, &payment_id, &c.csrf, Some(&msg));
            page(StatusCode::OK, &c, &format!("{head}{body}"), &[])
        }
    }
}

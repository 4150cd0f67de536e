//! The payer's side of a payment at the cashier (member API): what can pay it, paying it with
//! instruments (combination pay); the credit line's bills and repayments.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::cashier::{
    AvailableObject, CardMethodObject, CoinsObject, CouponMethodObject, CreditBillObject,
    CreditBills, CreditLineObject, InstrumentInput, PayPayment, PaymentMethods, Repay,
    RepaymentSource,
};
use paycore_api::fields::{rfc3339, CurrencyCode};
use paycore_api::payments::PaymentObject;
use paycore_api::ErrorCode;
use paycore_cashier::{CashierError, Instrument, PayOutcome, PayRequest, Verification};
use paycore_kernel::Money;
use paycore_member::MemberSession;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, JsonBody};
use crate::AppState;

/// What this member can pay the payment with now, with what each has available.
#[utoipa::path(get, path = "/v1/members/me/payments/{payment_id}/methods", tag = "members",
    params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentMethods)), security(("member_token" = [])))]
pub async fn methods(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    ApiPath(payment_id): ApiPath<String>,
) -> ApiResult<Json<PaymentMethods>> {
    let m = app
        .cashier
        .methods(&app.acquiring, &s.member_id, &payment_id)
        .await?;
    let amount = m.payment.amount;
    let merchant = app.merchants.get(&m.payment.merchant_id).await?;
    let enough = |a: Money| a.minor() >= amount.minor();
    Ok(Json(PaymentMethods {
        payment_id: m.payment.payment_id.clone(),
        merchant_name: merchant.name,
        subject: m.payment.subject.clone(),
        amount: amount.minor(),
        currency: CurrencyCode(amount.currency()),
        balance: m.balance.map(|b| AvailableObject {
            available: b.minor(),
            sufficient: enough(b),
        }),
        coins: m.coins.map(|(coins, worth)| CoinsObject {
            coins,
            available: worth.minor(),
            sufficient: enough(worth),
        }),
        credit: m.credit.map(|c| AvailableObject {
            available: c.minor(),
            sufficient: enough(c),
        }),
        coupons: m
            .coupons
            .iter()
            .map(|c| CouponMethodObject {
                coupon_id: c.coupon_id.clone(),
                discount: c.discount.minor(),
                valid_until: rfc3339(c.valid_until),
            })
            .collect(),
        cards: m
            .cards
            .into_iter()
            .map(|c| CardMethodObject {
                card_id: c.card_id,
                masked_pan: c.masked_pan,
                bank: c.bank,
                brand: c.brand,
                card_type: c.card_type,
            })
            .collect(),
    }))
}

fn instrument(i: InstrumentInput) -> Instrument {
    match i {
        InstrumentInput::Coupon { coupon_id } => Instrument::Coupon { coupon_id },
        InstrumentInput::Balance { amount } => Instrument::Balance { amount: amount.0 },
        InstrumentInput::Coin { amount } => Instrument::Coin { amount: amount.0 },
        InstrumentInput::Credit { amount } => Instrument::Credit { amount: amount.0 },
        InstrumentInput::Card { card_id, amount } => Instrument::Card {
            card_id,
            amount: amount.0,
        },
    }
}

/// The payer's device (`Paycore-Device-Id`, optional) and address, for risk.
pub(crate) fn device_and_address(
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> (Option<String>, Option<String>) {
    let device = headers
        .get("paycore-device-id")
        .and_then(|v| v.to_str().ok())
        .filter(|d| (1..=128).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string);
    (device, peer.map(|p| p.ip().to_string()))
}

/// The pay call's answer: the payment, with `next_action: verify` when risk asks for more.
pub(crate) fn outcome_view(o: PayOutcome) -> PaymentObject {
    match o {
        PayOutcome::Done(p) => crate::views::payment(&p),
        PayOutcome::Verify { payment, method } => {
            let mut v = crate::views::payment(&payment);
            v.next_action = Some(paycore_api::payments::NextActionObject::Verify {
                method: method.to_string(),
            });
            v
        }
    }
}

/// Pay the payment with these instruments, all or nothing: `succeeded`, `processing` while
/// the bank's answer on a card part is not known, or `next_action: verify` when risk asks the
/// payer to confirm first.
#[utoipa::path(post, path = "/v1/members/me/payments/{payment_id}/pay", tag = "members",
    params(("payment_id" = String, Path)), request_body = PayPayment,
    responses((status = 200, body = PaymentObject)), security(("member_token" = [])))]
pub async fn pay(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    ApiPath(payment_id): ApiPath<String>,
    headers: axum::http::HeaderMap,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    JsonBody(req): JsonBody<PayPayment>,
) -> ApiResult<Json<PaymentObject>> {
    let (device_id, client_ip) = device_and_address(&headers, peer.map(|p| (p.0).0));
    let req = PayRequest {
        request_no: req.request_no,
        instruments: req.instruments.into_iter().map(instrument).collect(),
        pay_password: req.pay_password.map(|p| p.0.into_inner()),
        device_id,
        client_ip,
    };
    let o = app
        .cashier
        .pay(&app.acquiring, &s.member_id, &payment_id, req)
        .await?;
    Ok(Json(outcome_view(o)))
}

/// Confirm a payment risk challenged, with the SMS code sent for it or the pay password; it
/// is then paid as it was asked.
#[utoipa::path(post, path = "/v1/members/me/payments/{payment_id}/verify", tag = "members",
    params(("payment_id" = String, Path)), request_body = paycore_api::risk::VerifyPayment,
    responses((status = 200, body = PaymentObject)), security(("member_token" = [])))]
pub async fn verify(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    ApiPath(payment_id): ApiPath<String>,
    JsonBody(req): JsonBody<paycore_api::risk::VerifyPayment>,
) -> ApiResult<Json<PaymentObject>> {
    let how = match (req.sms_code, req.pay_password) {
        (Some(code), None) => Verification::SmsCode(code),
        (None, Some(p)) => Verification::PayPassword(p.0.into_inner()),
        _ => return Err(ApiError::invalid("give either sms_code or pay_password")),
    };
    let p = app
        .cashier
        .verify(&app.acquiring, &s.member_id, &payment_id, how)
        .await?;
    Ok(Json(crate::views::payment(&p)))
}

pub(crate) fn line_view(l: &paycore_credit::Line) -> CreditLineObject {
    CreditLineObject {
        member_id: l.member_id.clone(),
        currency: CurrencyCode(l.limit.currency()),
        limit: l.limit.minor(),
        used: l.used.minor(),
        available: l.available().minor(),
    }
}

/// The member's credit bills, newest month first.
#[utoipa::path(get, path = "/v1/members/me/credit/bills", tag = "members",
    responses((status = 200, body = CreditBills)), security(("member_token" = [])))]
pub async fn credit_bills(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
) -> ApiResult<Json<CreditBills>> {
    let bills = app.cashier.credit().bills(&s.member_id).await?;
    Ok(Json(CreditBills {
        bills: bills
            .into_iter()
            .map(|b| CreditBillObject {
                month: b.month,
                currency: CurrencyCode(b.spent.currency()),
                spent: b.spent.minor(),
                given_back: b.given_back.minor(),
                repaid: b.repaid.minor(),
                closing_used: b.closing_used.minor(),
                due_date: b.due_date.to_string(),
            })
            .collect(),
    }))
}

/// Repay the credit line from the wallet balance; the same `request_no` again repays nothing
/// again.
#[utoipa::path(post, path = "/v1/members/me/credit/repayments", tag = "members",
    request_body = Repay,
    responses((status = 200, body = CreditLineObject)), security(("member_token" = [])))]
pub async fn repay(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<Repay>,
) -> ApiResult<(StatusCode, Json<CreditLineObject>)> {
    if req.source == RepaymentSource::Card || req.card_id.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "repayment from a card is not offered yet: top up the wallet from the card, then repay from BALANCE",
        ));
    }
    let amount = Money::from_minor(req.amount.0, req.currency.0);
    let line = app
        .cashier
        .repay_from_balance(&s.member_id, &req.request_no, amount)
        .await?;
    Ok((StatusCode::OK, Json(line_view(&line))))
}

impl From<paycore_credit::CreditError> for ApiError {
    fn from(e: paycore_credit::CreditError) -> Self {
        CashierError::from(e).into()
    }
}

impl From<CashierError> for ApiError {
    fn from(e: CashierError) -> Self {
        let message = e.to_string();
        let code = match e {
            CashierError::Member(m) => return m.into(),
            CashierError::Card(c) => return c.into(),
            CashierError::Acquiring(a) => return a.into(),
            CashierError::Invalid(_) | CashierError::Money(_) => ErrorCode::InvalidRequest,
            CashierError::NotFound => return ApiError::not_found(),
            CashierError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            CashierError::Insufficient(_) => ErrorCode::InsufficientBalance,
            CashierError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            CashierError::InvalidState(_) => ErrorCode::InvalidState,
            CashierError::Declined(_) => ErrorCode::PaymentDeclined,
            CashierError::RiskRejected(_) => ErrorCode::RiskRejected,
            CashierError::Risk(paycore_risk::RiskError::Invalid(_)) => ErrorCode::InvalidRequest,
            CashierError::Unavailable(_) => ErrorCode::ChannelUnavailable,
            other => return ApiError::internal(&other),
        };
        ApiError::new(code, message)
    }
}

//! The member (wallet) API: registration, login and logout, and the member's own settings under
//! `/v1/members/me`, authenticated by the bearer token of a login.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use paycore_api::fields::rfc3339;
use paycore_api::members::{
    MemberCredentials, MemberLogin, MemberMe, MemberStatusName, MoneyAmount, RealName,
    RegisteredMember, SendSms, SetPayPassword, SmsPurposeName, SmsSent,
};
use paycore_api::ErrorCode;
use paycore_kernel::Money;
use paycore_member::{Member, MemberError, MemberSession, MemberStatus, SmsPurpose};

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::AppState;

/// The token of a member call, as given.
#[derive(Clone)]
pub struct BearerToken(pub String);

/// Authenticates `/v1/members/me/…` and logout by the member's bearer token.
pub async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let Some(token) = token else {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "member token required (Authorization: Bearer …, from POST /v1/members/login)",
        )
        .into_response();
    };
    match app.members.session(&token).await {
        Ok(session) => {
            req.extensions_mut().insert(session);
            req.extensions_mut().insert(BearerToken(token));
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn status(s: MemberStatus) -> MemberStatusName {
    match s {
        MemberStatus::Active => MemberStatusName::Active,
        MemberStatus::Frozen => MemberStatusName::Frozen,
        MemberStatus::Closed => MemberStatusName::Closed,
    }
}

pub(crate) fn me_view(m: &Member) -> ApiResult<MemberMe> {
    let currency = m
        .password_free_currency
        .parse()
        .map_err(|e: paycore_kernel::MoneyError| ApiError::internal(&e))?;
    Ok(MemberMe {
        member_id: m.member_id.clone(),
        phone: m.masked_phone(),
        status: status(m.status),
        real_name_verified: m.real_name_verified,
        has_pay_password: m.has_pay_password,
        password_free_limit: MoneyAmount {
            amount: paycore_api::fields::MinorUnits(m.password_free_limit),
            currency: paycore_api::fields::CurrencyCode(currency),
        },
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.updated_at),
    })
}

/// Register a member.
#[utoipa::path(post, path = "/v1/members", tag = "members", request_body = MemberCredentials,
    responses((status = 201, body = RegisteredMember)))]
pub async fn register(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<MemberCredentials>,
) -> ApiResult<(StatusCode, Json<RegisteredMember>)> {
    let m = app.members.register(&req.phone, &req.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredMember {
            member_id: m.member_id.clone(),
            phone: m.masked_phone(),
            status: status(m.status),
        }),
    ))
}

/// Log in: a bearer token for the member calls.
#[utoipa::path(post, path = "/v1/members/login", tag = "members", request_body = MemberCredentials,
    responses((status = 200, body = MemberLogin)))]
pub async fn login(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<MemberCredentials>,
) -> ApiResult<Json<MemberLogin>> {
    let t = app.members.login(&req.phone, &req.password).await?;
    Ok(Json(MemberLogin {
        token: t.token,
        expires_at: rfc3339(t.expires_at),
    }))
}

/// Log out: the token stops working.
#[utoipa::path(post, path = "/v1/members/logout", tag = "members",
    responses((status = 204)), security(("member_token" = [])))]
pub async fn logout(
    State(app): State<AppState>,
    Extension(token): Extension<BearerToken>,
) -> ApiResult<StatusCode> {
    app.members.logout(&token.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The member's own profile and security settings.
#[utoipa::path(get, path = "/v1/members/me", tag = "members",
    responses((status = 200, body = MemberMe)), security(("member_token" = [])))]
pub async fn me(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
) -> ApiResult<Json<MemberMe>> {
    Ok(Json(me_view(&app.members.get(&s.member_id).await?)?))
}

/// Send a one-time code to the member's phone.
#[utoipa::path(post, path = "/v1/members/me/sms", tag = "members", request_body = SendSms,
    responses((status = 200, body = SmsSent)), security(("member_token" = [])))]
pub async fn send_sms(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<SendSms>,
) -> ApiResult<Json<SmsSent>> {
    let purpose = match req.purpose {
        SmsPurposeName::PayPassword => SmsPurpose::PayPassword,
        SmsPurposeName::Payment => SmsPurpose::Payment,
        SmsPurposeName::Agreement => SmsPurpose::Agreement,
    };
    let m = app.members.get(&s.member_id).await?;
    let expires_at = app.members.send_code(&m.phone, purpose).await?;
    Ok(Json(SmsSent {
        purpose: req.purpose,
        phone: m.masked_phone(),
        expires_at: rfc3339(expires_at),
    }))
}

/// Check the member's real name with the identity service.
#[utoipa::path(post, path = "/v1/members/me/real-name", tag = "members", request_body = RealName,
    responses((status = 200, body = MemberMe)), security(("member_token" = [])))]
pub async fn real_name(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<RealName>,
) -> ApiResult<Json<MemberMe>> {
    let m = app
        .members
        .verify_real_name(&s.member_id, &req.name, &req.id_number)
        .await?;
    Ok(Json(me_view(&m)?))
}

/// Set or change the pay password (confirmed by a `pay_password` SMS code).
#[utoipa::path(put, path = "/v1/members/me/pay-password", tag = "members",
    request_body = SetPayPassword, responses((status = 200, body = MemberMe)),
    security(("member_token" = [])))]
pub async fn pay_password(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<SetPayPassword>,
) -> ApiResult<Json<MemberMe>> {
    let m = app
        .members
        .set_pay_password(&s.member_id, &req.pay_password, &req.sms_code)
        .await?;
    Ok(Json(me_view(&m)?))
}

/// Set the amount under which payments need no pay password.
#[utoipa::path(put, path = "/v1/members/me/password-free-limit", tag = "members",
    request_body = MoneyAmount, responses((status = 200, body = MemberMe)),
    security(("member_token" = [])))]
pub async fn password_free_limit(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<MoneyAmount>,
) -> ApiResult<Json<MemberMe>> {
    let limit = Money::from_minor(req.amount.0, req.currency.0);
    let m = app
        .members
        .set_password_free_limit(&s.member_id, limit)
        .await?;
    Ok(Json(me_view(&m)?))
}

impl From<MemberError> for ApiError {
    fn from(e: MemberError) -> Self {
        let code = match &e {
            MemberError::Invalid(_) => ErrorCode::InvalidRequest,
            MemberError::PhoneTaken | MemberError::InvalidState(_) => ErrorCode::InvalidState,
            MemberError::BadCredentials | MemberError::Unauthenticated => {
                ErrorCode::Unauthenticated
            }
            MemberError::LoginLocked { .. } | MemberError::RateLimited(_) => ErrorCode::RateLimited,
            MemberError::NotFound => return ApiError::not_found(),
            MemberError::NotActive(_) => ErrorCode::Forbidden,
            MemberError::Verification(_) | MemberError::PayPasswordLocked { .. } => {
                ErrorCode::VerificationFailed
            }
            MemberError::Unavailable(_) => ErrorCode::ChannelUnavailable,
            _ => return ApiError::internal(&e),
        };
        ApiError::new(code, e.to_string())
    }
}

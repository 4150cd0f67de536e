//! The member's cards: bind (the bank texts a code), confirm, list, unbind. The card number
//! arrives here once and goes straight into the vault; answers carry only the masked number.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::fields::rfc3339;
use paycore_api::members::{
    BindCard, CardList, CardObject, CardStatusName, CardTypeName, ConfirmCard,
};
use paycore_api::ErrorCode;
use paycore_card::{Card, CardError, CardStatus, NewCard};
use paycore_member::MemberSession;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, JsonBody};
use crate::AppState;

fn view(c: &Card) -> CardObject {
    CardObject {
        card_id: c.card_id.clone(),
        status: match c.status {
            CardStatus::Pending => CardStatusName::Pending,
            CardStatus::Bound => CardStatusName::Bound,
            CardStatus::Failed => CardStatusName::Failed,
            CardStatus::Unbound => CardStatusName::Unbound,
        },
        masked_pan: c.masked_pan.clone(),
        brand: c.brand.clone(),
        bank: c.bank.clone(),
        card_type: match c.card_type.as_str() {
            "credit" => CardTypeName::Credit,
            _ => CardTypeName::Debit,
        },
        phone: c.phone.clone(),
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

/// Bind a card: checked, sealed, and signed with the bank, which texts a code to the card's
/// phone; the card is `pending` until it is confirmed.
#[utoipa::path(post, path = "/v1/members/me/cards", tag = "members", request_body = BindCard,
    responses((status = 201, body = CardObject)), security(("member_token" = [])))]
pub async fn bind_card(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    JsonBody(req): JsonBody<BindCard>,
) -> ApiResult<(StatusCode, Json<CardObject>)> {
    app.members
        .get(&s.member_id)
        .await?
        .require_active_member()?;
    let card = NewCard {
        pan: req.pan.0,
        holder_name: req.holder_name,
        expiry: req.expiry,
        cvv: req.cvv.map(|c| c.0),
        phone: req.phone,
    };
    let c = app.cards.bind(&s.member_id, card).await?;
    Ok((StatusCode::CREATED, Json(view(&c))))
}

/// Confirm a pending card with the bank's code: the quick-pay agreement is signed.
#[utoipa::path(post, path = "/v1/members/me/cards/{card_id}/confirm", tag = "members",
    params(("card_id" = String, Path)), request_body = ConfirmCard,
    responses((status = 200, body = CardObject)), security(("member_token" = [])))]
pub async fn confirm_card(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    ApiPath(card_id): ApiPath<String>,
    JsonBody(req): JsonBody<ConfirmCard>,
) -> ApiResult<Json<CardObject>> {
    let c = app
        .cards
        .confirm(&s.member_id, &card_id, &req.sms_code)
        .await?;
    Ok(Json(view(&c)))
}

/// The member's bound cards.
#[utoipa::path(get, path = "/v1/members/me/cards", tag = "members",
    responses((status = 200, body = CardList)), security(("member_token" = [])))]
pub async fn list_cards(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
) -> ApiResult<Json<CardList>> {
    let cards = app.cards.bound(&s.member_id).await?;
    Ok(Json(CardList {
        cards: cards.iter().map(view).collect(),
    }))
}

/// Unbind a card: the bank ends the agreement.
#[utoipa::path(delete, path = "/v1/members/me/cards/{card_id}", tag = "members",
    params(("card_id" = String, Path)),
    responses((status = 200, body = CardObject)), security(("member_token" = [])))]
pub async fn unbind_card(
    State(app): State<AppState>,
    Extension(s): Extension<MemberSession>,
    ApiPath(card_id): ApiPath<String>,
) -> ApiResult<Json<CardObject>> {
    let c = app.cards.unbind(&s.member_id, &card_id).await?;
    Ok(Json(view(&c)))
}

impl From<CardError> for ApiError {
    fn from(e: CardError) -> Self {
        let code = match &e {
            CardError::Invalid(_) | CardError::Refused { .. } => ErrorCode::InvalidRequest,
            CardError::NotFound => return ApiError::not_found(),
            CardError::InvalidState(_) => ErrorCode::InvalidState,
            CardError::Verification(_) => ErrorCode::VerificationFailed,
            CardError::Unavailable(_) => ErrorCode::ChannelUnavailable,
            _ => return ApiError::internal(&e),
        };
        ApiError::new(code, e.to_string())
    }
}

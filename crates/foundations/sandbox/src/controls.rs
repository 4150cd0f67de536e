//! The sandbox's controls: its channels, their misbehaviour, their settlement files, and the
//! SMS inbox.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::Date;
use utoipa::ToSchema;

use super::behaviour::Behaviour;
use super::books;
use super::kind::Kind;
use super::server::{kind_by_code, Fail};
use super::{settlement, sms, SandboxState};

#[derive(Serialize, ToSchema)]
pub(crate) struct ChannelNames {
    /// The sandbox channels' names.
    channels: Vec<String>,
}

/// The sandbox channels.
#[utoipa::path(get, path = "/sandbox/channels", tag = "sandbox",
    responses((status = 200, body = ChannelNames)), operation_id = "sandbox_channels")]
pub(crate) async fn list_channels() -> Json<ChannelNames> {
    Json(ChannelNames {
        channels: Kind::ALL.iter().map(|k| k.code().to_string()).collect(),
    })
}

/// A channel's misbehaviour settings.
#[utoipa::path(get, path = "/sandbox/channels/{channel}/behaviour", tag = "sandbox",
    params(("channel" = String, Path, description = "a channel's name, e.g. sandbox-alipay")),
    responses((status = 200, body = Behaviour)), operation_id = "sandbox_get_behaviour")]
pub(crate) async fn get_behaviour(
    State(st): State<SandboxState>,
    Path(channel): Path<String>,
) -> Result<Json<Behaviour>, Fail> {
    let kind = kind_by_code(&channel)?;
    Ok(Json(books::load_behaviour(st.db(), kind).await?))
}

/// Sets a channel's misbehaviour: latency, decline and unknown-result rates, duplicate, late
/// or out-of-order notifications, settlement-file differences.
#[utoipa::path(put, path = "/sandbox/channels/{channel}/behaviour", tag = "sandbox",
    params(("channel" = String, Path, description = "a channel's name, e.g. sandbox-alipay")),
    request_body = Behaviour,
    responses((status = 200, body = Behaviour)), operation_id = "sandbox_put_behaviour")]
pub(crate) async fn put_behaviour(
    State(st): State<SandboxState>,
    Path(channel): Path<String>,
    body: Bytes,
) -> Result<Json<Behaviour>, Fail> {
    let kind = kind_by_code(&channel)?;
    let b: Behaviour = serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
        .map_err(|e| Fail::BadRequest(e.to_string()))?;
    b.validate().map_err(Fail::BadRequest)?;
    books::save_behaviour(st.db(), st.clock(), kind, &b).await?;
    st.counters().reset(kind.code());
    tracing::info!(target: "detail", channel = kind.code(), behaviour = ?b, "sandbox behaviour set");
    Ok(Json(b))
}

/// A channel's settlement file for a day (CSV), with the differences its behaviour injects.
#[utoipa::path(get, path = "/sandbox/channels/{channel}/settlement-files/{day}", tag = "sandbox",
    params(("channel" = String, Path, description = "a channel's name"),
           ("day" = String, Path, description = "YYYY-MM-DD", format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")),
    responses((status = 200, description = "the file", content_type = "text/csv", body = String)),
    operation_id = "sandbox_settlement_file")]
pub(crate) async fn settlement_file(
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

#[derive(Deserialize)]
pub(crate) struct Phone {
    phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SmsInbox {
    /// Newest first.
    messages: Vec<sms::SmsMessage>,
}

/// The SMS messages (with their codes) sent to a phone, newest first.
#[utoipa::path(get, path = "/sandbox/sms", tag = "sandbox",
    params(("phone" = String, Query, description = "the phone number", pattern = "^\\+?[0-9]{5,20}$")),
    responses((status = 200, body = SmsInbox)), operation_id = "sandbox_sms")]
pub(crate) async fn sms_list(
    State(st): State<SandboxState>,
    query: Result<Query<Phone>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SmsInbox>, Fail> {
    let Query(q) = query.map_err(|e| Fail::BadRequest(e.body_text()))?;
    let phone = q
        .phone
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Fail::BadRequest("phone is required".into()))?;
    let digits = phone.strip_prefix('+').unwrap_or(&phone);
    if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fail::BadRequest(
            "phone is 5 to 20 digits, optionally after +".into(),
        ));
    }
    let messages = sms::messages_for(st.db(), &phone).await?;
    Ok(Json(SmsInbox { messages }))
}

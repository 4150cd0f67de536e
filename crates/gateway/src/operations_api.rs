//! Operator calls for channels (`/admin/v1/channels…`): switches, weights, priorities, health,
//! each channel's balance through its connector, and alerts about channel messages that were
//! not applied. Behind the same operator guard as the rest of `/admin/v1`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::JsonBody;
use crate::AppState;

fn routing_error(e: paycore_channels::routing::RoutingError) -> ApiError {
    match e {
        paycore_channels::routing::RoutingError::UnknownChannel(c) => {
            ApiError::new(ErrorCode::NotFound, format!("unknown channel {c}"))
        }
        paycore_channels::routing::RoutingError::InvalidConfig(m) => ApiError::invalid(m),
        other => ApiError::internal(&other),
    }
}

#[utoipa::path(get, path = "/admin/v1/channels", tag = "operators", responses((status = 200, body = Object)),
    security(("operator" = [])))]
pub async fn list_channels(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    let list = app
        .channel_router
        .list_channels()
        .await
        .map_err(routing_error)?;
    Ok(Json(json!({ "channels": list })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    pub enabled: Option<bool>,
    pub weight: Option<u32>,
    pub priority: Option<i32>,
}

#[utoipa::path(post, path = "/admin/v1/channels/{channel}", tag = "operators", request_body = ChannelSettings,
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn change_channel(
    State(app): State<AppState>,
    Path(channel): Path<String>,
    JsonBody(req): JsonBody<ChannelSettings>,
) -> ApiResult<Json<Value>> {
    let r = &app.channel_router;
    if let Some(on) = req.enabled {
        r.set_enabled(&channel, on).await.map_err(routing_error)?;
    }
    if let Some(w) = req.weight {
        r.set_weight(&channel, w).await.map_err(routing_error)?;
    }
    if let Some(p) = req.priority {
        r.set_priority(&channel, p).await.map_err(routing_error)?;
    }
    let list = r.list_channels().await.map_err(routing_error)?;
    let view = list
        .into_iter()
        .find(|c| c.config.channel == channel)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("unknown channel {channel}")))?;
    Ok(Json(json!(view)))
}

#[utoipa::path(get, path = "/admin/v1/channels/{channel}/balance", tag = "operators",
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn channel_balance(
    State(app): State<AppState>,
    Path(channel): Path<String>,
) -> ApiResult<Json<Value>> {
    let connector =
        app.acquiring.channels().get(&channel).ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, format!("unknown channel {channel}"))
        })?;
    let balance = connector
        .balance()
        .await
        .map_err(|e| ApiError::new(ErrorCode::ChannelUnavailable, e.to_string()))?;
    Ok(Json(
        json!({ "channel": channel, "amount": balance.minor(), "currency": balance.currency().code() }),
    ))
}

#[derive(Deserialize)]
pub struct Limit {
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/alerts", tag = "operators", params(("limit" = Option<i64>, Query)),
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn alerts(State(app): State<AppState>, Query(q): Query<Limit>) -> ApiResult<Json<Value>> {
    let list = app
        .acquiring
        .alerts(q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    let alerts: Vec<Value> = list
        .into_iter()
        .map(|(channel, kind, attempt_id, detail)| json!({"channel": channel, "kind": kind, "attempt_id": attempt_id, "detail": detail}))
        .collect();
    Ok(Json(json!({ "alerts": alerts })))
}

#[derive(Deserialize)]
pub struct Day {
    pub day: String,
}

#[utoipa::path(get, path = "/admin/v1/reports/daily", tag = "operators", params(("day" = String, Query)),
    responses((status = 200, body = Object)), security(("operator" = [])))]
pub async fn daily_report(
    State(app): State<AppState>,
    Query(q): Query<Day>,
) -> ApiResult<Json<Value>> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(&q.day, &fmt).map_err(|_| ApiError::invalid("day must be YYYY-MM-DD"))?;
    let rows = paycore_core::messages::PaymentStats::day(&app.db, &q.day)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({ "day": q.day, "rows": rows })))
}

pub fn routes(app: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/v1/channels", get(list_channels))
        .route("/admin/v1/channels/{channel}", post(change_channel))
        .route("/admin/v1/channels/{channel}/balance", get(channel_balance))
        .route("/admin/v1/alerts", get(alerts))
        .route("/admin/v1/reports/daily", get(daily_report))
        .layer(axum::middleware::from_fn_with_state(
            app,
            crate::admin::guard,
        ))
}

//! Operator calls for channels (`/admin/v1/channels…`): switches, weights, priorities, health,
//! each channel's balance through its connector, alerts about channel messages, and the daily
//! payment statistics.

use axum::extract::State;
use axum::Json;
use paycore_api::backoffice::{
    AlertList, AlertObject, AmountRangeObject, BreakerStateName, ChannelBalance, ChannelList,
    ChannelObject, ChannelSettings, DailyReport, DailyStatsRow, FeeScheduleObject, FeeTierObject,
};
use paycore_api::fields::{day_number, rfc3339, CurrencyCode, ProductCode};
use paycore_api::ErrorCode;
use paycore_channels::routing::{BreakerState, RoutingError};
use paycore_channels::ChannelView;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::views::money;
use crate::AppState;

fn routing_error(e: RoutingError) -> ApiError {
    match e {
        RoutingError::UnknownChannel(c) => {
            ApiError::new(ErrorCode::NotFound, format!("unknown channel {c}"))
        }
        RoutingError::InvalidConfig(m) => ApiError::invalid(m),
        other => ApiError::internal(&other),
    }
}

fn channel(v: ChannelView) -> ChannelObject {
    let c = v.config;
    ChannelObject {
        channel: c.channel,
        enabled: c.enabled,
        products: c.products.into_iter().map(ProductCode).collect(),
        currencies: c.currencies.into_iter().map(CurrencyCode).collect(),
        amount_limits: c
            .amount_limits
            .into_iter()
            .map(|r| AmountRangeObject {
                min: money(r.min),
                max: money(r.max),
            })
            .collect(),
        fee: FeeScheduleObject {
            rate_bps: c.fee.rate_bps,
            fixed_fee: money(c.fee.fixed_fee),
            tiers: c
                .fee
                .tiers
                .into_iter()
                .map(|t| FeeTierObject {
                    from_volume: money(t.from_volume),
                    rate_bps: t.rate_bps,
                })
                .collect(),
        },
        weight: c.weight,
        priority: c.priority,
        merchants: c.merchants,
        health: match v.health {
            BreakerState::Closed => BreakerStateName::Closed,
            BreakerState::Open => BreakerStateName::Open,
            BreakerState::HalfOpen => BreakerStateName::HalfOpen,
        },
        success_rate: v.success_rate,
        samples: v.samples as u64,
        mean_latency_ms: v.mean_latency_ms,
    }
}

/// The channels, with their routing settings and health.
#[utoipa::path(get, path = "/admin/v1/channels", tag = "operators",
    responses((status = 200, body = ChannelList)), security(("operator" = [])))]
pub async fn list_channels(State(app): State<AppState>) -> ApiResult<Json<ChannelList>> {
    let list = app
        .channel_router
        .list_channels()
        .await
        .map_err(routing_error)?;
    Ok(Json(ChannelList {
        channels: list.into_iter().map(channel).collect(),
    }))
}

/// Switch a channel on or off, set its weight or priority.
#[utoipa::path(post, path = "/admin/v1/channels/{channel}", tag = "operators",
    params(("channel" = String, Path)),
    request_body = ChannelSettings, responses((status = 200, body = ChannelObject)),
    security(("operator" = [])))]
pub async fn change_channel(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    JsonBody(req): JsonBody<ChannelSettings>,
) -> ApiResult<Json<ChannelObject>> {
    let r = &app.channel_router;
    if let Some(on) = req.enabled {
        r.set_enabled(&name, on).await.map_err(routing_error)?;
    }
    if let Some(w) = req.weight {
        r.set_weight(&name, w).await.map_err(routing_error)?;
    }
    if let Some(p) = req.priority {
        r.set_priority(&name, p).await.map_err(routing_error)?;
    }
    let list = r.list_channels().await.map_err(routing_error)?;
    let view = list
        .into_iter()
        .find(|c| c.config.channel == name)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("unknown channel {name}")))?;
    Ok(Json(channel(view)))
}

/// The platform's balance at the channel, as the channel reports it.
#[utoipa::path(get, path = "/admin/v1/channels/{channel}/balance", tag = "operators",
    params(("channel" = String, Path)),
    responses((status = 200, body = ChannelBalance)), security(("operator" = [])))]
pub async fn channel_balance(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ChannelBalance>> {
    let connector = app
        .acquiring
        .channels()
        .get(&name)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("unknown channel {name}")))?;
    let balance = connector
        .balance()
        .await
        .map_err(|e| ApiError::new(ErrorCode::ChannelUnavailable, e.to_string()))?;
    Ok(Json(ChannelBalance {
        channel: name,
        amount: balance.minor(),
        currency: CurrencyCode(balance.currency()),
    }))
}

#[derive(Deserialize)]
pub struct Limit {
    pub limit: Option<i64>,
}

/// Channel messages that were not applied, late charges given back, results that never came.
#[utoipa::path(get, path = "/admin/v1/alerts", tag = "operators",
    params(("limit" = Option<i64>, Query, description = "1 to 1000 (default 100)", minimum = 1, maximum = 1000)),
    responses((status = 200, body = AlertList)), security(("operator" = [])))]
pub async fn alerts(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<Limit>,
) -> ApiResult<Json<AlertList>> {
    let list = app
        .acquiring
        .alerts(crate::extract::page_limit(q.limit, 100, 1000)?)
        .await?;
    Ok(Json(AlertList {
        alerts: list
            .into_iter()
            .map(|a| AlertObject {
                channel: a.channel,
                kind: a.kind.as_str().to_string(),
                attempt_id: a.attempt_id,
                detail: a.detail,
                at: rfc3339(a.at),
                count: a.count,
                last_at: a.last_at.map(rfc3339),
            })
            .collect(),
    }))
}

#[derive(Deserialize)]
pub struct Day {
    pub day: Option<String>,
}

/// The daily payment statistics per merchant, product, channel and currency.
#[utoipa::path(get, path = "/admin/v1/reports/daily", tag = "operators",
    params(("day" = String, Query, description = "YYYY-MM-DD", format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")),
    responses((status = 200, body = DailyReport)), security(("operator" = [])))]
pub async fn daily_report(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<Day>,
) -> ApiResult<Json<DailyReport>> {
    let day = q
        .day
        .filter(|d| day_number(d).is_some())
        .ok_or_else(|| ApiError::invalid("day is required, as YYYY-MM-DD"))?;
    let rows = paycore_reports::PaymentStats::day(&app.db, &day)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(DailyReport {
        day,
        rows: rows
            .into_iter()
            .map(|r| DailyStatsRow {
                day: r.day,
                merchant_id: r.merchant_id,
                product: r.product,
                channel: r.channel,
                currency: r.currency,
                succeeded_count: r.succeeded_count,
                succeeded_amount: r.succeeded_amount,
                fee_amount: r.fee_amount,
                failed_count: r.failed_count,
                refunded_count: r.refunded_count,
                refunded_amount: r.refunded_amount,
            })
            .collect(),
    }))
}

//! The channels' callbacks: async notifications (`POST /channels/{channel}/notify`) and the
//! payer's browser coming back from a channel's page (`GET /channels/{channel}/return`). Each
//! channel speaks its own format; its connector verifies and reads it.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::AppState;

fn inbound(
    headers: &HeaderMap,
    body: &[u8],
    query: Option<String>,
) -> paycore_channels::InboundNotification {
    paycore_channels::InboundNotification {
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
            })
            .collect(),
        body: body.to_vec(),
        query: query.unwrap_or_default(),
    }
}

/// A channel's async notification, in the channel's own format. Answered the way the channel
/// expects, so that it stops (or keeps) sending.
#[utoipa::path(post, path = "/channels/{channel}/notify", tag = "channels",
    params(("channel" = String, Path, description = "the channel's name")),
    request_body(content = String, description = "the channel's own notification format"),
    responses((status = 200, description = "the acknowledgement the channel expects", body = String)))]
pub async fn channel_notify(
    State(app): State<AppState>,
    ApiPath(channel): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > app.config.max_body_bytes {
        return ApiError::new(
            paycore_api::ErrorCode::PayloadTooLarge,
            "notification too large",
        )
        .into_response();
    }
    match app
        .acquiring
        .channel_message(&channel, &inbound(&headers, &body, query))
        .await
    {
        Ok((ack, _)) => {
            let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::OK);
            (status, [(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The payer's browser back from the channel's page: applied like a notification, then sent
/// on to the merchant's `return_url` (or shown a page with the result).
#[utoipa::path(get, path = "/channels/{channel}/return", tag = "channels",
    params(("channel" = String, Path, description = "the channel's name")),
    responses((status = 303, description = "to the merchant's return_url"),
              (status = 200, description = "the result, when the payment has no return_url", content_type = "text/html", body = String),
              (status = 204, description = "a return about no payment")))]
pub async fn channel_return(
    State(app): State<AppState>,
    ApiPath(channel): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let msg = inbound(&headers, &[], query);
    match app.acquiring.channel_message(&channel, &msg).await {
        Ok((_, Some(p))) => match &p.return_url {
            Some(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                Redirect::to(&format!(
                    "{url}{sep}payment_id={}&out_trade_no={}&status={}",
                    p.payment_id,
                    p.out_trade_no,
                    p.status.as_str()
                ))
                .into_response()
            }
            None => (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!(
                    "<!doctype html><title>Payment {status}</title><h1 id=\"status\">Payment \
                     {status}</h1><p>Order {no}</p>",
                    status = p.status.as_str(),
                    no = html_escape(&p.out_trade_no)
                ),
            )
                .into_response(),
        },
        Ok((_, None)) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

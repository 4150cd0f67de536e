//! Notification history and resend (B3): `GET /v1/notifications?object_id=` and
//! `POST /v1/notifications/{id}/resend`. A merchant only ever sees its own notifications;
//! another merchant's event id answers `NOT_FOUND`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use paycore_core::notify::{DeliveryView, NotificationView, NotifyError};
use serde::{Deserialize, Serialize};

use crate::auth::AuthedMerchant;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::{rfc3339, AppState};

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::NotFound => ApiError::not_found(),
            NotifyError::Invalid(m) => ApiError::invalid(m),
            NotifyError::IllegalTransition(t) => {
                ApiError::new(ErrorCode::InvalidState, t.to_string())
            }
            NotifyError::Concurrent => ApiError::new(ErrorCode::InvalidState, e.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

/// One delivery attempt: when, what the merchant's endpoint answered, how long it took.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryEntry {
    pub attempt: i64,
    pub at: String,
    /// The HTTP status, absent when no answer came (timeout, connection refused).
    pub status_code: Option<u16>,
    /// Why the attempt was not a delivery.
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl From<DeliveryView> for DeliveryEntry {
    fn from(d: DeliveryView) -> Self {
        Self {
            attempt: d.attempt,
            at: rfc3339(d.at),
            status_code: d.status_code,
            error: d.error,
            latency_ms: d.latency_ms,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationEntry {
    /// The event id, the same as the `id` in the notification body.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payment or refund the event is about.
    pub object_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub url: String,
    pub created_at: String,
    pub updated_at: String,
    /// Oldest first (the newest 50).
    pub deliveries: Vec<DeliveryEntry>,
}

impl From<NotificationView> for NotificationEntry {
    fn from(v: NotificationView) -> Self {
        Self {
            id: v.id,
            event_type: v.event_type,
            object_id: v.object_id,
            status: v.status.as_str().to_string(),
            attempts: v.attempts,
            next_attempt_at: v.next_attempt_at.map(rfc3339),
            delivered_at: v.delivered_at.map(rfc3339),
            url: v.url,
            created_at: rfc3339(v.created_at),
            updated_at: rfc3339(v.updated_at),
            deliveries: v.deliveries.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationEntry>,
}

#[derive(Deserialize)]
pub struct NotificationQuery {
    pub object_id: Option<String>,
}

/// Notification history: the merchant's notifications, newest first (at most 100), or those
/// about one payment or refund.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications",
    params(("object_id" = Option<String>, Query, description = "only notifications about this payment or refund")),
    responses((status = 200, body = NotificationList), (status = 401, body = crate::error::ErrorBody)),
    security(("paycore_signature" = [])))]
pub async fn list_notifications(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> ApiResult<Json<NotificationList>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let object_id = q.object_id.as_deref().filter(|s| !s.is_empty());
    let list = app.notifier.list(&me.merchant_id, object_id).await?;
    Ok(Json(NotificationList {
        notifications: list.into_iter().map(Into::into).collect(),
    }))
}

/// Resend: makes the notification due now again (also when delivered or failed), with the same
/// body; it then follows the retry schedule afresh.
#[utoipa::path(post, path = "/v1/notifications/{id}/resend", tag = "notifications",
    params(("id" = String, Path, description = "the event id")),
    responses((status = 200, body = NotificationEntry), (status = 404, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)),
    security(("paycore_signature" = [])))]
pub async fn resend_notification(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<NotificationEntry>> {
    let Path(id) = id.map_err(|_| ApiError::not_found())?;
    let view = app.notifier.resend(&me.merchant_id, &id).await?;
    tracing::info!(target: "detail", merchant_id = %me.merchant_id, event_id = %id,
        "notification resend requested");
    Ok(Json(view.into()))
}

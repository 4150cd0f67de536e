//! Notification history and resend (B3): `GET /v1/notifications?object_id=` and
//! `POST /v1/notifications/{id}/resend`. A merchant only ever sees its own notifications;
//! another merchant's event id answers `NOT_FOUND`.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use paycore_api::fields::rfc3339;
use paycore_api::merchant::{
    DeliveryEntry, NotificationEntry, NotificationList, NotificationStatusName,
};
use paycore_notify::{DeliveryView, NotificationStatus, NotificationView};
use serde::Deserialize;

use crate::auth::AuthedMerchant;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::AppState;

fn delivery(d: DeliveryView) -> DeliveryEntry {
    DeliveryEntry {
        attempt: d.attempt,
        at: rfc3339(d.at),
        status_code: d.status_code,
        error: d.error,
        latency_ms: d.latency_ms,
    }
}

fn entry(v: NotificationView) -> NotificationEntry {
    NotificationEntry {
        id: v.id,
        event_type: v.event_type,
        object_id: v.object_id,
        status: match v.status {
            NotificationStatus::Pending => NotificationStatusName::Pending,
            NotificationStatus::Delivered => NotificationStatusName::Delivered,
            NotificationStatus::Failed => NotificationStatusName::Failed,
        },
        attempts: v.attempts,
        next_attempt_at: v.next_attempt_at.map(rfc3339),
        delivered_at: v.delivered_at.map(rfc3339),
        url: v.url,
        created_at: rfc3339(v.created_at),
        updated_at: rfc3339(v.updated_at),
        deliveries: v.deliveries.into_iter().map(delivery).collect(),
    }
}

#[derive(Deserialize)]
pub struct NotificationQuery {
    pub object_id: Option<String>,
}

/// Notification history: the merchant's notifications, newest first (at most 100), or those
/// about one payment or refund.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications",
    params(("object_id" = Option<String>, Query, description = "only notifications about this payment or refund")),
    responses((status = 200, body = NotificationList)), security(("paycore_signature" = [])))]
pub async fn list_notifications(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<NotificationList>> {
    let object_id = q.object_id.as_deref().filter(|s| !s.is_empty());
    let list = app.notifier.list(&me.merchant_id, object_id).await?;
    Ok(Json(NotificationList {
        notifications: list.into_iter().map(entry).collect(),
    }))
}

/// Resend: makes the notification due now again (also when delivered or failed), with the same
/// body; it then follows the retry schedule afresh.
#[utoipa::path(post, path = "/v1/notifications/{id}/resend", tag = "notifications",
    params(("id" = String, Path, description = "the event id")),
    responses((status = 200, body = NotificationEntry)), security(("paycore_signature" = [])))]
pub async fn resend_notification(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<NotificationEntry>> {
    let actor = format!("merchant:{}", me.merchant_id);
    let view = app.notifier.resend(&me.merchant_id, &id, &actor).await?;
    tracing::info!(target: "detail", merchant_id = %me.merchant_id, event_id = %id,
        "notification resend requested");
    Ok(Json(entry(view)))
}

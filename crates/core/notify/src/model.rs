//! Notification records: the status state machine, the body format, and row mapping.

use paycore_kernel::state::{Named, StateMachine};
use paycore_store::state::{Stored, Table};
use paycore_store::Row;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::NotifyError;

/// Where a notification is. `pending` covers "waiting for its next attempt" and "being
/// delivered now" (the latter is a lease, not a state, so a crash cannot strand it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationEvent {
    /// The merchant answered 2xx.
    Deliver,
    /// The retry schedule is exhausted (or the URL can never work).
    GiveUp,
    /// The merchant (or an operator) asked for it again.
    Resend,
}

impl StateMachine for NotificationStatus {
    type Event = NotificationEvent;
    const INITIAL: &'static [Self] = &[NotificationStatus::Pending];
    const TRANSITIONS: &'static [(Self, NotificationEvent, Self)] = &[
        (
            NotificationStatus::Pending,
            NotificationEvent::Deliver,
            NotificationStatus::Delivered,
        ),
        (
            NotificationStatus::Pending,
            NotificationEvent::GiveUp,
            NotificationStatus::Failed,
        ),
        (
            NotificationStatus::Failed,
            NotificationEvent::Resend,
            NotificationStatus::Pending,
        ),
        (
            NotificationStatus::Delivered,
            NotificationEvent::Resend,
            NotificationStatus::Pending,
        ),
    ];
}

paycore_kernel::named!(NotificationStatus { Pending => "pending", Delivered => "delivered",
    Failed => "failed" });
paycore_kernel::named!(NotificationEvent { Deliver => "deliver", GiveUp => "give_up",
    Resend => "resend" });

impl Stored for NotificationStatus {
    const TABLE: Table = Table {
        machine: "notification",
        table: "notifications",
        key: "event_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "notification_status_history",
        history_key: "event_id",
    };
}

/// One notification as its merchant sees it. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationView {
    /// The event id (what merchants dedupe by).
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub object_id: String,
    pub status: NotificationStatus,
    /// Attempts made so far, over all rounds (resends included).
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub url: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The exact body every attempt sends.
    pub body: String,
    /// Oldest first; at most [`super::MAX_DELIVERIES_SHOWN`] (the newest).
    pub deliveries: Vec<DeliveryView>,
}

/// One delivery attempt from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryView {
    pub attempt: i64,
    pub at: i64,
    /// The HTTP status, when the merchant answered at all.
    pub status_code: Option<u16>,
    /// Why it was not a delivery (timeout, connection error, non-2xx status).
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The first 256 bytes of the merchant's answer.
    pub response: Option<String>,
}

pub(super) const COLUMNS: &str = "id, event_id, event_type, merchant_id, object_id, notify_url, \
    body, status, attempts, retry_index, next_attempt_at, delivered_at, last_error, created_at, \
    updated_at";

/// A `notifications` row without its delivery log.
pub(super) struct Record {
    pub event_id: String,
    pub view: NotificationView,
}

pub(super) fn record_from_row(row: &sqlx::any::AnyRow) -> Result<Record, NotifyError> {
    let event_id: String = row.try_get("event_id")?;
    Ok(Record {
        event_id: event_id.clone(),
        view: NotificationView {
            id: event_id,
            event_type: row.try_get("event_type")?,
            object_id: row.try_get("object_id")?,
            status: {
                let s: String = row.try_get("status")?;
                NotificationStatus::parse(&s)
                    .ok_or_else(|| NotifyError::Corrupt(format!("notification status {s:?}")))?
            },
            attempts: row.try_get("attempts")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            delivered_at: row.try_get("delivered_at")?,
            url: row.try_get("notify_url")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            body: row.try_get("body")?,
            deliveries: Vec::new(),
        },
    })
}

pub(super) fn delivery_from_row(row: &sqlx::any::AnyRow) -> Result<DeliveryView, NotifyError> {
    let code: Option<i64> = row.try_get("status_code")?;
    Ok(DeliveryView {
        attempt: row.try_get("attempt")?,
        at: row.try_get("at")?,
        status_code: code.and_then(|c| u16::try_from(c).ok()),
        error: row.try_get("error")?,
        latency_ms: row.try_get("latency_ms")?,
        response: row.try_get("response")?,
    })
}

/// RFC 3339 from unix milliseconds, as the API shows times.
pub fn rfc3339(unix_millis: i64) -> Result<String, NotifyError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| NotifyError::Invalid(format!("time {unix_millis} is out of range")))
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    created_at: String,
    data: &'a serde_json::Value,
}

/// The notification body, in the field order of api.md.
pub(super) fn render_body(
    event_id: &str,
    event_type: &str,
    created_at: i64,
    data: &serde_json::Value,
) -> Result<String, NotifyError> {
    let body = Body {
        id: event_id,
        event_type,
        created_at: rfc3339(created_at)?,
        data,
    };
    serde_json::to_string(&body).map_err(|e| NotifyError::Invalid(format!("data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycore_kernel::state::apply;

    const ALL: [NotificationStatus; 3] = [
        NotificationStatus::Pending,
        NotificationStatus::Delivered,
        NotificationStatus::Failed,
    ];
    const EVENTS: [NotificationEvent; 3] = [
        NotificationEvent::Deliver,
        NotificationEvent::GiveUp,
        NotificationEvent::Resend,
    ];

    #[test]
    fn only_declared_moves() {
        use NotificationEvent::*;
        use NotificationStatus::*;
        assert_eq!(apply(Pending, Deliver), Ok(Delivered));
        assert_eq!(apply(Pending, GiveUp), Ok(Failed));
        assert_eq!(apply(Failed, Resend), Ok(Pending));
        assert_eq!(apply(Delivered, Resend), Ok(Pending));
        assert!(apply(Pending, Resend).is_err());
        assert!(apply(Delivered, Deliver).is_err());
        assert!(apply(Failed, Deliver).is_err());
        assert!(apply(Delivered, GiveUp).is_err());
        // Every reachable state parses back from its stored name.
        for s in ALL {
            for e in EVENTS {
                if let Some(to) = s.next(e) {
                    assert_eq!(NotificationStatus::parse(to.as_str()), Some(to));
                }
            }
        }
        assert!(NotificationStatus::parse("running").is_none());
    }

    #[test]
    fn body_has_the_api_shape_and_order() {
        let data = serde_json::json!({"amount": 100, "currency": "CNY"});
        let body = render_body("1".repeat(32).as_str(), "payment.succeeded", 1_000, &data).unwrap();
        assert_eq!(
            body,
            format!(
                r#"{{"id":"{}","type":"payment.succeeded","created_at":"1970-01-01T00:00:01Z","data":{{"amount":100,"currency":"CNY"}}}}"#,
                "1".repeat(32)
            )
        );
        assert!(rfc3339(i64::MAX).is_err());
    }
}

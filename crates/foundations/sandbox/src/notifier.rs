//! The sandbox's outgoing notifications: queued in `sandbox_notifications` (so a restart loses
//! nothing), sent by a background task, retried with backoff until the platform answers 2xx.

use std::time::Duration;

use paycore_kernel::state::StateMachine;
use paycore_store::state::{Stored, Table, Transition, TransitionError};
use paycore_store::Row;

use super::behaviour::Behaviour;
use super::books::SandboxError;
use super::kind::Kind;
use super::wire::Encoded;
use super::SandboxState;

/// Give up (status `failed`) after this many attempts.
const MAX_ATTEMPTS: i64 = 15;
/// Rows taken per round.
const BATCH: i64 = 32;
/// How long a claimed row is ours before another sender may take it.
const LEASE_MS: i64 = 30_000;
/// Extra hold of each notification when the channel delivers out of order.
const OUT_OF_ORDER_HOLD_MS: i64 = 2_500;
const IDLE_POLL: Duration = Duration::from_millis(200);

fn backoff_ms(attempts: i64) -> i64 {
    // 0.5 s, 1 s, 2 s … capped at 60 s.
    let exp = attempts.clamp(0, 7) as u32;
    (500i64 << exp).min(60_000)
}

/// Where an outgoing notification is: retried while `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    Pending,
    Delivered,
    Failed,
}
paycore_kernel::named!(NotificationState { Pending => "pending", Delivered => "delivered",
    Failed => "failed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationEvent {
    Deliver,
    GiveUp,
}
paycore_kernel::named!(NotificationEvent { Deliver => "deliver", GiveUp => "give_up" });

impl StateMachine for NotificationState {
    type Event = NotificationEvent;
    const INITIAL: &'static [Self] = &[NotificationState::Pending];
    const TRANSITIONS: &'static [(Self, NotificationEvent, Self)] = &[
        (
            NotificationState::Pending,
            NotificationEvent::Deliver,
            NotificationState::Delivered,
        ),
        (
            NotificationState::Pending,
            NotificationEvent::GiveUp,
            NotificationState::Failed,
        ),
    ];
}

impl Stored for NotificationState {
    const TABLE: Table = Table {
        machine: "sandbox notification",
        table: "sandbox_notifications",
        key: "id",
        status: "status",
        updated_at: None,
        history: "sandbox_notification_history",
        history_key: "notification_id",
    };
}

/// Queues `msg` for `url` (plus duplicates and delays per the channel's behaviour).
pub async fn enqueue(
    st: &SandboxState,
    kind: Kind,
    url: &str,
    notify_id: &str,
    msg: &Encoded,
    behaviour: &Behaviour,
) -> Result<(), SandboxError> {
    let now = st.clock().unix_millis();
    let delay = i64::try_from(behaviour.notification_delay_ms).unwrap_or(i64::MAX / 4);
    // Every other notification is held back, so the one after it overtakes it.
    let hold = if behaviour.out_of_order && !st.counters().hit(kind.code(), "out_of_order", 0.5) {
        OUT_OF_ORDER_HOLD_MS
    } else {
        0
    };
    let headers =
        serde_json::to_string(&msg.headers).map_err(|e| SandboxError::Corrupt(e.to_string()))?;
    for copy in 0..=behaviour.duplicate_notifications {
        sqlx::query(
            "INSERT INTO sandbox_notifications (channel, notify_id, url, content_type, headers,
                 body, status, attempts, next_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $9, 0, $7, $8)",
        )
        .bind(kind.code())
        .bind(notify_id)
        .bind(url)
        .bind(msg.content_type)
        .bind(&headers)
        .bind(&msg.body)
        // Duplicates follow each other closely, as a real channel's retries would.
        .bind(now + delay + hold + i64::from(copy) * 50)
        .bind(now)
        .bind(NotificationState::Pending.as_str())
        .execute(st.db().writer())
        .await?;
    }
    st.kick();
    Ok(())
}

/// Sends due notifications, then waits for new ones or the next poll, until `stop`.
pub async fn run(st: SandboxState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        match deliver_due(&st).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "detail", error = %e, "sandbox notifier round failed");
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::timeout(IDLE_POLL, st.kicked()) => {}
        }
    }
}

struct Due {
    id: i64,
    channel: String,
    url: String,
    content_type: String,
    headers: String,
    body: String,
    attempts: i64,
}

/// One round: claims due rows and sends each once. Returns how many were attempted.
pub async fn deliver_due(st: &SandboxState) -> Result<usize, SandboxError> {
    let now = st.clock().unix_millis();
    let rows = sqlx::query(
        "SELECT id, channel, url, content_type, headers, body, attempts FROM sandbox_notifications
         WHERE status = $3 AND next_at <= $1
           AND (lease_until IS NULL OR lease_until < $1)
         ORDER BY next_at, id LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .bind(NotificationState::Pending.as_str())
    .fetch_all(st.db().reader())
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in rows {
        due.push(Due {
            id: r.try_get("id")?,
            channel: r.try_get("channel")?,
            url: r.try_get("url")?,
            content_type: r.try_get("content_type")?,
            headers: r.try_get("headers")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
        });
    }
    let mut sent = 0;
    for d in due {
        // Claim (compare-and-set) so that two senders never send the same row at once.
        let claimed = sqlx::query(
            "UPDATE sandbox_notifications SET lease_until = $1
             WHERE id = $2 AND status = $4 AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(now + LEASE_MS)
        .bind(d.id)
        .bind(now)
        .bind(NotificationState::Pending.as_str())
        .execute(st.db().writer())
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        sent += 1;
        let result = send(st, &d).await;
        let after = st.clock().unix_millis();
        record(st, &d, result, after).await?;
    }
    Ok(sent)
}

/// Records what one attempt came to: delivered, given up after the last attempt, or due again
/// after a back-off.
async fn record(
    st: &SandboxState,
    d: &Due,
    result: Result<(), String>,
    now: i64,
) -> Result<(), SandboxError> {
    let attempts = d.attempts + 1;
    let event = match &result {
        Ok(()) => Some(NotificationEvent::Deliver),
        Err(_) if attempts >= MAX_ATTEMPTS => Some(NotificationEvent::GiveUp),
        Err(_) => None,
    };
    let reason = result
        .err()
        .map(|r| r.chars().take(200).collect::<String>());
    let mut tx = st.db().begin().await?;
    match event {
        Some(event) => {
            Transition::new(NotificationState::Pending, event, now)
                .by(d.channel.as_str())
                .reason(reason.as_deref())
                .set("attempts", attempts)
                .set("last_error", reason.clone())
                .set(
                    "delivered_at",
                    (event == NotificationEvent::Deliver).then_some(now),
                )
                .set("lease_until", None::<i64>)
                .apply(&mut tx, d.id)
                .await
                .map_err(|e| match e {
                    TransitionError::Store(s) => SandboxError::Store(s),
                    other => SandboxError::Illegal(other.to_string()),
                })?;
        }
        None => {
            tracing::info!(target: "detail", id = d.id, attempts, reason = reason.as_deref().unwrap_or(""),
                "sandbox notification not accepted; will retry");
            sqlx::query(
                "UPDATE sandbox_notifications SET attempts = $1, next_at = $2, last_error = $3,
                     lease_until = NULL WHERE id = $4",
            )
            .bind(attempts)
            .bind(now + backoff_ms(d.attempts))
            .bind(reason)
            .bind(d.id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn send(st: &SandboxState, d: &Due) -> Result<(), String> {
    let headers: Vec<(String, String)> =
        serde_json::from_str(&d.headers).map_err(|e| e.to_string())?;
    let mut req = st
        .http()
        .post(&d.url)
        .header("content-type", &d.content_type)
        .body(d.body.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(super::backoff_ms(0), 500);
        assert_eq!(super::backoff_ms(1), 1000);
        assert_eq!(super::backoff_ms(50), 60_000);
    }
}

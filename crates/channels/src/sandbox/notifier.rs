//! The sandbox's outgoing notifications: queued in `sandbox_notifications` (so a restart loses
//! nothing), sent by a background task, retried with backoff until the platform answers 2xx.

use std::time::Duration;

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
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8)",
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
        .execute(st.db().writer())
        .await?;
    }
    st.kick();
    Ok(())
}

/// Runs forever: sends due notifications, then waits for new ones or the next poll.
pub async fn run(st: SandboxState) {
    loop {
        match deliver_due(&st).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "detail", error = %e, "sandbox notifier round failed");
            }
        }
        let _ = tokio::time::timeout(IDLE_POLL, st.kicked()).await;
    }
}

struct Due {
    id: i64,
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
        "SELECT id, url, content_type, headers, body, attempts FROM sandbox_notifications
         WHERE status = 'pending' AND next_at <= $1
           AND (lease_until IS NULL OR lease_until < $1)
         ORDER BY next_at, id LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(st.db().reader())
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in rows {
        due.push(Due {
            id: r.try_get("id")?,
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
             WHERE id = $2 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(now + LEASE_MS)
        .bind(d.id)
        .bind(now)
        .execute(st.db().writer())
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        sent += 1;
        let result = send(st, &d).await;
        let after = st.clock().unix_millis();
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE sandbox_notifications SET status = 'delivered', attempts = attempts + 1,
                         delivered_at = $1, lease_until = NULL WHERE id = $2",
                )
                .bind(after)
                .bind(d.id)
                .execute(st.db().writer())
                .await?;
            }
            Err(reason) => {
                let attempts = d.attempts + 1;
                let status = if attempts >= MAX_ATTEMPTS {
                    "failed"
                } else {
                    "pending"
                };
                tracing::info!(target: "detail", id = d.id, attempts, %reason,
                    "sandbox notification not accepted; will retry");
                sqlx::query(
                    "UPDATE sandbox_notifications SET status = $1, attempts = $2, next_at = $3,
                         last_error = $4, lease_until = NULL WHERE id = $5",
                )
                .bind(status)
                .bind(attempts)
                .bind(after + backoff_ms(d.attempts))
                .bind(reason.chars().take(200).collect::<String>())
                .bind(d.id)
                .execute(st.db().writer())
                .await?;
            }
        }
    }
    Ok(sent)
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

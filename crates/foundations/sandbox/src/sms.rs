//! The sandbox's SMS inbox: what the platform "sends" to a phone lands here, and
//! `GET /sandbox/sms?phone=` shows it (newest first), so tests and demos can read the codes.

use paycore_kernel::Clock;
use paycore_store::{Db, Row};
use serde::Serialize;

use super::books::SandboxError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SmsMessage {
    pub phone: String,
    pub message: String,
    /// The verification code in the message, when there is one.
    pub code: Option<String>,
    /// Unix milliseconds.
    pub sent_at: i64,
}

/// Records an SMS to `phone` (the SMS gateway's sandbox delivery).
pub async fn record_sms(
    db: &Db,
    clock: &dyn Clock,
    phone: &str,
    message: &str,
    code: Option<&str>,
) -> Result<(), SandboxError> {
    sqlx::query(
        "INSERT INTO sandbox_sms (phone, message, code, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(phone)
    .bind(message)
    .bind(code)
    .bind(clock.unix_millis())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// At most this many messages are listed.
const LIST_LIMIT: i64 = 100;

/// The messages sent to `phone`, newest first.
pub async fn messages_for(db: &Db, phone: &str) -> Result<Vec<SmsMessage>, SandboxError> {
    let rows = sqlx::query(
        "SELECT phone, message, code, created_at FROM sandbox_sms WHERE phone = $1
         ORDER BY id DESC LIMIT $2",
    )
    .bind(phone)
    .bind(LIST_LIMIT)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SmsMessage {
                phone: r.try_get("phone")?,
                message: r.try_get("message")?,
                code: r.try_get("code")?,
                sent_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

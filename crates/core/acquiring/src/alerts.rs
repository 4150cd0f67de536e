//! Alerts about channels: messages that were not applied (forged, malformed, wrong amount,
//! unknown attempt, stale), charges that came too late and were given back, results that never
//! came. Operators read them at `/admin/v1/alerts`.

use paycore_kernel::named;
use paycore_store::{Conn, Row};

use crate::error::{stored, AcquiringError};
use crate::Acquiring;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    BadSignature,
    Malformed,
    AmountMismatch,
    UnknownAttempt,
    /// A success the channel no longer stands by (it had reversed the charge).
    StaleSuccess,
    /// A charge for a payment that had ended unpaid: given back automatically.
    LateSuccess,
    /// The channel reversed a charge of a paid payment on its own.
    UnexpectedReversal,
    /// No final result after the whole query-back schedule.
    QueryGaveUp,
    /// No connector is configured for the attempt's channel.
    NoConnector,
    /// An automatic refund the channel refused: the payer's money is still with the platform.
    AutoRefundFailed,
    /// A channel reported on an attempt that another channel carries.
    WrongChannel,
}
named!(AlertKind { BadSignature => "bad_signature", Malformed => "malformed",
    AmountMismatch => "amount_mismatch", UnknownAttempt => "unknown_attempt",
    StaleSuccess => "stale_success", LateSuccess => "late_success",
    UnexpectedReversal => "unexpected_reversal", QueryGaveUp => "query_gave_up",
    NoConnector => "no_connector", AutoRefundFailed => "auto_refund_failed",
    WrongChannel => "wrong_channel" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub channel: String,
    pub kind: AlertKind,
    pub attempt_id: Option<String>,
    pub detail: String,
    pub at: i64,
    /// How many messages this alert stands for (a burst of refused messages is one alert).
    pub count: i64,
    /// When the last of them came, for a burst.
    pub last_at: Option<i64>,
}

impl Acquiring {
    /// Records an alert on its own.
    pub(crate) async fn alert(
        &self,
        channel: &str,
        kind: AlertKind,
        attempt_id: Option<&str>,
        detail: &str,
    ) -> Result<(), AcquiringError> {
        let mut tx = self.db.begin().await?;
        self.alert_in(&mut tx, channel, kind, attempt_id, detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an alert on its own and returns its row (the start of a burst).
    pub(crate) async fn alert_row(
        &self,
        channel: &str,
        kind: AlertKind,
        detail: &str,
    ) -> Result<i64, AcquiringError> {
        let row = sqlx::query(
            "INSERT INTO channel_alerts (channel, kind, attempt_id, detail, at)
             VALUES ($1, $2, NULL, $3, $4) RETURNING id",
        )
        .bind(channel)
        .bind(kind.as_str())
        .bind(detail)
        .bind(self.now())
        .fetch_one(self.db.writer())
        .await?;
        tracing::warn!(target: "detail", channel, kind = kind.as_str(), detail, "channel alert");
        Ok(row.try_get("id")?)
    }

    /// Records an alert with the change it is about.
    pub(crate) async fn alert_in(
        &self,
        tx: &mut dyn Conn,
        channel: &str,
        kind: AlertKind,
        attempt_id: Option<&str>,
        detail: &str,
    ) -> Result<(), AcquiringError> {
        tx.execute(
            "INSERT INTO channel_alerts (channel, kind, attempt_id, detail, at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                channel.into(),
                kind.as_str().into(),
                attempt_id.into(),
                detail.into(),
                self.now().into(),
            ],
        )
        .await?;
        tracing::warn!(target: "detail", channel, kind = kind.as_str(),
            attempt_id = attempt_id.unwrap_or("-"), detail, "channel alert");
        Ok(())
    }

    /// The recorded alerts, newest first.
    pub async fn alerts(&self, limit: i64) -> Result<Vec<Alert>, AcquiringError> {
        let rows = sqlx::query(
            "SELECT channel, kind, attempt_id, detail, at, count, last_at FROM channel_alerts
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Alert {
                    channel: r.try_get("channel")?,
                    kind: stored("alert kind", &r.try_get::<String, _>("kind")?)?,
                    attempt_id: r.try_get("attempt_id")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("at")?,
                    count: r.try_get("count")?,
                    last_at: r.try_get("last_at")?,
                })
            })
            .collect()
    }
}

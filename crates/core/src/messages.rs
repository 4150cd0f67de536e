//! Messages (B4): every order change is an event in the transactional outbox; in-process
//! subscribers read it in order, each from its own persisted offset. Delivery is at least once
//! (a crash between handling and moving the offset hands the event over again), and handling
//! is idempotent: a receipt `(subscriber, event id)` is written in the same transaction as the
//! subscriber's effect, so an event handed over twice changes things once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use paycore_kernel::Clock;
use paycore_store::outbox::{self, Event};
use paycore_store::{Db, Row, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("event {event_id} is malformed: {reason}")]
    Malformed { event_id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MessageError {
    fn from(e: sqlx::Error) -> Self {
        MessageError::Store(e.into())
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A consumer of outbox events.
pub trait Subscriber: Send + Sync {
    /// Its name: the key of its offset and receipts. Never rename a running subscriber.
    fn name(&self) -> &str;

    /// Applies one event inside `tx` (which also records the receipt).
    fn handle<'a>(
        &'a self,
        tx: &'a mut Tx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), MessageError>>;
}

/// Runs subscribers over the outbox.
#[derive(Clone)]
pub struct Bus {
    db: Db,
    clock: Arc<dyn Clock>,
    subscribers: Vec<Arc<dyn Subscriber>>,
}

const BATCH: i64 = 200;

impl Bus {
    pub fn new(db: Db, clock: Arc<dyn Clock>, subscribers: Vec<Arc<dyn Subscriber>>) -> Self {
        Self {
            db,
            clock,
            subscribers,
        }
    }

    /// Hands every subscriber the events it has not seen yet. Returns how many it handled.
    pub async fn run_once(&self) -> Result<usize, MessageError> {
        let mut handled = 0;
        for sub in &self.subscribers {
            let events = outbox::pending(&self.db, sub.name(), BATCH).await?;
            for event in &events {
                let mut tx = self.db.begin().await?;
                let fresh = sqlx::query(
                    "INSERT INTO message_receipts (subscriber, event_id, handled_at) VALUES ($1, $2, $3)
                     ON CONFLICT (subscriber, event_id) DO NOTHING",
                )
                .bind(sub.name())
                .bind(&event.event_id)
                .bind(self.clock.unix_millis())
                .execute(&mut *tx)
                .await?;
                if fresh.rows_affected() == 1 {
                    sub.handle(&mut tx, event).await?;
                    handled += 1;
                }
                tx.commit().await?;
                outbox::acknowledge(&self.db, sub.name(), event.seq, self.clock.unix_millis())
                    .await?;
            }
        }
        Ok(handled)
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(&self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "detail", error = %e, "message subscribers failed; retrying")
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Daily payment statistics per merchant, product, channel and currency (the data platform's
/// first table): successes with amounts and fees, failures, refunds.
pub struct PaymentStats;

#[derive(Debug, Clone, serde::Serialize)]
pub struct DailyStats {
    pub day: String,
    pub merchant_id: String,
    pub product: String,
    pub channel: String,
    pub currency: String,
    pub succeeded_count: i64,
    pub succeeded_amount: i64,
    pub fee_amount: i64,
    pub failed_count: i64,
    pub refunded_count: i64,
    pub refunded_amount: i64,
}

impl PaymentStats {
    pub const NAME: &'static str = "payment-stats";

    pub async fn day(db: &Db, day: &str) -> Result<Vec<DailyStats>, MessageError> {
        let rows = sqlx::query(
            "SELECT day, merchant_id, product, channel, currency, succeeded_count, succeeded_amount, fee_amount,
                    failed_count, refunded_count, refunded_amount
             FROM payment_stats_daily WHERE day = $1 ORDER BY merchant_id, product, channel, currency",
        )
        .bind(day)
        .fetch_all(db.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DailyStats {
                    day: r.try_get("day")?,
                    merchant_id: r.try_get("merchant_id")?,
                    product: r.try_get("product")?,
                    channel: r.try_get("channel")?,
                    currency: r.try_get("currency")?,
                    succeeded_count: r.try_get("succeeded_count")?,
                    succeeded_amount: r.try_get("succeeded_amount")?,
                    fee_amount: r.try_get("fee_amount")?,
                    failed_count: r.try_get("failed_count")?,
                    refunded_count: r.try_get("refunded_count")?,
                    refunded_amount: r.try_get("refunded_amount")?,
                })
            })
            .collect()
    }
}

impl Subscriber for PaymentStats {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn handle<'a>(
        &'a self,
        tx: &'a mut Tx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), MessageError>> {
        Box::pin(async move {
            let (counts, amount_col) = match event.topic.as_str() {
                "payment.succeeded" => ("succeeded_count", Some("succeeded_amount")),
                "payment.failed" => ("failed_count", None),
                "refund.succeeded" => ("refunded_count", Some("refunded_amount")),
                _ => return Ok(()),
            };
            let malformed = |reason: &str| MessageError::Malformed {
                event_id: event.event_id.clone(),
                reason: reason.into(),
            };
            let body: serde_json::Value =
                serde_json::from_str(&event.payload).map_err(|e| malformed(&e.to_string()))?;
            let data = &body["data"];
            let text = |k: &str| data[k].as_str().unwrap_or("-").to_string();
            let (product, channel) = (text("product"), text("channel"));
            let day = event_day(event.created_at);
            let amount = data["amount"]
                .as_i64()
                .ok_or_else(|| malformed("no amount"))?;
            let fee = if event.topic == "payment.succeeded" {
                data["fee"].as_i64().unwrap_or(0)
            } else {
                0
            };
            let amount_set = amount_col
                .map(|c| format!(", {c} = payment_stats_daily.{c} + $7"))
                .unwrap_or_default();
            let sql = format!(
                "INSERT INTO payment_stats_daily (day, merchant_id, product, channel, currency, {counts}{}, fee_amount)
                 VALUES ($1, $2, $3, $4, $5, 1{}, $6)
                 ON CONFLICT (day, merchant_id, product, channel, currency)
                 DO UPDATE SET {counts} = payment_stats_daily.{counts} + 1, fee_amount = payment_stats_daily.fee_amount + $6{amount_set}",
                amount_col.map(|c| format!(", {c}")).unwrap_or_default(),
                if amount_col.is_some() { ", $7" } else { "" },
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(day)
                .bind(&event.shard_key)
                .bind(product)
                .bind(channel)
                .bind(text("currency"))
                .bind(fee);
            if amount_col.is_some() {
                q = q.bind(amount);
            }
            q.execute(&mut **tx).await?;
            Ok(())
        })
    }
}

fn event_day(unix_millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_millis / 1000)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

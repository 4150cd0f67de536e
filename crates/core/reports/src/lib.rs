//! Reports (数据): what the platform learns from its own events. The first report is the daily
//! payment statistics per merchant, product, channel and currency, kept by an outbox subscriber
//! (see `paycore_store::bus`): successes with amounts and fees, failures, refunds.

use paycore_store::bus::{BoxFuture, MessageError, Subscriber};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::outbox::Event;
use paycore_store::{Conn, Db, Row, Value};

/// The reports' tables.
pub const SCHEMA: Schema = Schema {
    component: "reports",
    migrations: &[Migration {
        version: 1,
        name: "reports",
        sql: include_str!("../migrations/0001_reports.sql"),
    }],
};

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
        tx: &'a mut dyn Conn,
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
            let mut params: Vec<Value> = vec![
                day.into(),
                event.shard_key.as_str().into(),
                product.into(),
                channel.into(),
                text("currency").into(),
                fee.into(),
            ];
            if amount_col.is_some() {
                params.push(amount.into());
            }
            tx.execute(&sql, &params).await?;
            Ok(())
        })
    }
}

fn event_day(unix_millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_millis / 1000)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

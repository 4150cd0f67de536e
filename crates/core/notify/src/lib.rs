//! Merchant notifications (B3): `POST <notify_url>` of a signed JSON body whenever a payment or
//! refund reaches a result, retried on a schedule until the merchant answers 2xx.
//!
//! - [`enqueue`] runs inside the business transaction, so the intent to notify commits with
//!   the state change it describes (E3). It renders the body once and stores it: every attempt
//!   and every resend sends those exact bytes, so one event id never has two bodies.
//! - [`Notifier`] is the delivery worker: it claims due notifications with a lease
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite), signs each attempt
//!   afresh, logs every attempt, and limits how many requests one merchant has in flight so a
//!   slow endpoint cannot hold up everyone else.
//! - Everything lives in the database, so a restart resumes where it stopped; a delivery cut
//!   short by a crash is retried when its lease runs out. Delivery is therefore at least once:
//!   merchants must dedupe by the event `id`.

mod deliver;
mod model;
pub mod outbound;

pub use outbound::OutboundPolicy;

pub use model::{rfc3339, DeliveryView, NotificationEvent, NotificationStatus, NotificationView};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paycore_kernel::state::IllegalTransition;
use paycore_kernel::Clock;
use paycore_store::migrate::{Migration, Schema};
use paycore_store::outbox::{self, NewEvent};
use paycore_store::state::{Transition, TransitionError};
use paycore_store::{Conn, Db, Row, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("the notification changed concurrently; retry")]
    Concurrent,
    #[error("stored notification is invalid: {0}")]
    Corrupt(String),
    #[error("delivery task ended abnormally: {0}")]
    Worker(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TransitionError> for NotifyError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => NotifyError::Store(s),
            TransitionError::Illegal { source, .. } => NotifyError::IllegalTransition(source),
            TransitionError::Lost { .. } => NotifyError::Concurrent,
        }
    }
}

impl From<sqlx::Error> for NotifyError {
    fn from(e: sqlx::Error) -> Self {
        NotifyError::Store(e.into())
    }
}

/// The notifications' tables.
pub const SCHEMA: Schema = Schema {
    component: "notify",
    migrations: &[
        Migration {
            version: 1,
            name: "notify",
            sql: include_str!("../migrations/0001_notify.sql"),
        },
        Migration {
            version: 2,
            name: "status history",
            sql: include_str!("../migrations/0002_history.sql"),
        },
    ],
};

/// The retry delays of api.md, in seconds: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m,
/// 3h, 3h, 3h, 6h, 6h.
pub const DEFAULT_RETRY_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// Most bytes of a merchant's answer kept in the delivery log.
pub const SNIPPET_MAX: usize = 256;
/// Most notifications one `list` answers (newest first).
pub const MAX_LISTED: i64 = 100;
/// Most delivery-log entries shown per notification (the newest).
pub const MAX_DELIVERIES_SHOWN: usize = 50;
const MAX_RETRY_STEPS: usize = 100;

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Delay before each retry; after the last one fails the notification is `failed`.
    pub retry_schedule: Vec<Duration>,
    /// An answer must be complete within this (api.md: 10 s).
    pub timeout: Duration,
    /// Requests in flight to one merchant from this process.
    pub per_merchant_concurrency: usize,
    /// Requests in flight from this process (and the most claimed per round).
    pub batch: usize,
    /// How long a claim is exclusive; must exceed `timeout` so a live attempt is never
    /// claimed again by another worker.
    pub lease: Duration,
    /// How often the worker looks for due notifications when it has not been woken.
    pub poll_interval: Duration,
    /// Which addresses a `notify_url` may reach: public ones only unless this widens it.
    pub outbound: OutboundPolicy,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            retry_schedule: DEFAULT_RETRY_SCHEDULE_SECS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            timeout: Duration::from_secs(10),
            per_merchant_concurrency: 4,
            batch: 64,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            outbound: OutboundPolicy::default(),
        }
    }
}

impl NotifyConfig {
    fn validate(&self) -> Result<(), NotifyError> {
        let bad = |m: &str| Err(NotifyError::Invalid(m.to_string()));
        if self.retry_schedule.len() > MAX_RETRY_STEPS {
            return bad("retry_schedule has more than 100 steps");
        }
        if self.timeout.is_zero() {
            return bad("timeout must be positive");
        }
        if self.lease <= self.timeout {
            return bad("lease must be longer than timeout");
        }
        if self.per_merchant_concurrency == 0 || self.batch == 0 || self.batch > 10_000 {
            return bad("per_merchant_concurrency must be >= 1 and batch 1..=10000");
        }
        if self.poll_interval.is_zero() {
            return bad("poll_interval must be positive");
        }
        Ok(())
    }
}

/// Signs a notification body. Returns the headers to send (name, value): in production the
/// platform signature headers `Paycore-Key-Id`, `Paycore-Timestamp`, `Paycore-Nonce`,
/// `Paycore-Signature`. Called once per attempt, so every attempt has a fresh timestamp and
/// nonce over the same body.
pub trait NotificationSigner: Send + Sync {
    fn sign(&self, body: &[u8]) -> Vec<(String, String)>;
}

/// What the payment flow hands over when an object reaches a result worth telling.
pub struct NewNotification<'a> {
    /// 32-digit business id of the event (what merchants dedupe by).
    pub event_id: &'a str,
    /// e.g. `payment.succeeded`, `refund.succeeded`.
    pub event_type: &'a str,
    pub merchant_id: &'a str,
    /// The payment or refund id.
    pub object_id: &'a str,
    pub notify_url: &'a str,
    /// The object as the API shows it.
    pub data: &'a serde_json::Value,
    /// Unix milliseconds; also when the first attempt is due.
    pub created_at: i64,
}

/// Refuses what cannot be a notify URL (absolute http or https, at most 2048 bytes). The
/// payment flow should call this when the merchant gives the URL, not when notifying.
pub fn validate_notify_url(url: &str) -> Result<(), NotifyError> {
    let bad = || NotifyError::Invalid("notify_url must be an absolute http(s) URL".into());
    if url.len() > 2048 {
        return Err(bad());
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad());
    }
    Ok(())
}

fn validate(n: &NewNotification<'_>) -> Result<(), NotifyError> {
    let invalid = |m: &str| Err(NotifyError::Invalid(m.to_string()));
    if n.event_id.len() != 32 || !n.event_id.bytes().all(|b| b.is_ascii_digit()) {
        return invalid("event_id must be a 32-digit business id");
    }
    if n.event_type.is_empty() || n.event_type.len() > 64 {
        return invalid("event_type must be 1 to 64 bytes");
    }
    if n.merchant_id.is_empty() || n.object_id.is_empty() {
        return invalid("merchant_id and object_id are required");
    }
    if n.notify_url.is_empty() || n.notify_url.len() > 2048 {
        // An unusable but present URL is kept: the attempt fails and is logged, visibly.
        return invalid("notify_url must be 1 to 2048 bytes");
    }
    if !n.data.is_object() {
        return invalid("data must be a JSON object");
    }
    Ok(())
}

/// `data` with the notification's merchant in `merchant_id`: every notification names its
/// merchant, so that a merchant's endpoint can refuse an event signed for another merchant.
/// A `data.merchant_id` naming someone else is refused.
fn with_merchant(
    data: &serde_json::Value,
    merchant_id: &str,
) -> Result<serde_json::Value, NotifyError> {
    let mut data = data.clone();
    let Some(obj) = data.as_object_mut() else {
        return Err(NotifyError::Invalid("data must be a JSON object".into()));
    };
    match obj.get("merchant_id") {
        None => {
            obj.insert("merchant_id".into(), merchant_id.into());
        }
        Some(v) if v.as_str() == Some(merchant_id) => {}
        Some(_) => {
            return Err(NotifyError::Invalid(
                "data.merchant_id must be the notification's merchant".into(),
            ))
        }
    }
    Ok(data)
}

/// Records the intent to notify inside the caller's transaction, and appends the event to the
/// outbox for in-process subscribers. Idempotent by event id: the same id again changes
/// nothing and returns false (the body stored first is kept).
pub async fn enqueue(tx: &mut dyn Conn, n: &NewNotification<'_>) -> Result<bool, NotifyError> {
    validate(n)?;
    let data = with_merchant(n.data, n.merchant_id)?;
    let body = model::render_body(n.event_id, n.event_type, n.created_at, &data)?;
    let done = tx
        .execute(
            "INSERT INTO notifications (event_id, event_type, merchant_id, object_id, notify_url,
                body, status, attempts, retry_index, next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $8, 0, 0, $7, $7, $7)
             ON CONFLICT (event_id) DO NOTHING",
            &[
                n.event_id.into(),
                n.event_type.into(),
                n.merchant_id.into(),
                n.object_id.into(),
                n.notify_url.into(),
                body.as_str().into(),
                n.created_at.into(),
                NotificationStatus::Pending.as_str().into(),
            ],
        )
        .await?;
    if done == 0 {
        let stored = tx
            .fetch_optional(
                "SELECT body FROM notifications WHERE event_id = $1",
                &[n.event_id.into()],
            )
            .await?
            .map(|r| r.text("body"))
            .transpose()?;
        if stored.as_deref() != Some(body.as_str()) {
            // A caller bug worth seeing: the first body stays, the new one is dropped.
            tracing::warn!(target: "detail", event_id = n.event_id,
                "notification enqueued again with a different body; keeping the first");
        }
        return Ok(false);
    }
    outbox::append(
        tx,
        &NewEvent {
            event_id: n.event_id,
            topic: n.event_type,
            aggregate_id: n.object_id,
            shard_key: n.merchant_id,
            payload: &body,
            created_at: n.created_at,
        },
    )
    .await?;
    metrics::counter!("paycore_notifications_total", "result" => "enqueued").increment(1);
    Ok(true)
}

/// The notification service and delivery worker. Cheap to clone; clones share one worker
/// identity, in-flight limits and wake-up signal.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    signer: Arc<dyn NotificationSigner>,
    config: NotifyConfig,
    http: reqwest::Client,
    /// Lease owner name: unique per process (and per `Notifier::new`).
    worker: String,
    inflight: Mutex<Inflight>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Inflight {
    total: usize,
    per_merchant: HashMap<String, usize>,
}

impl Notifier {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        signer: Arc<dyn NotificationSigner>,
        config: NotifyConfig,
    ) -> Result<Self, NotifyError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect is not a 2xx answer; following it could also leave the merchant's host.
            .redirect(reqwest::redirect::Policy::none())
            // Every name goes through the guard, and no proxy resolves it behind the guard's back.
            .dns_resolver(Arc::new(outbound::GuardedResolver(Arc::new(
                config.outbound.clone(),
            ))))
            .no_proxy()
            .user_agent("paycore-notifier/1")
            .build()
            .map_err(|e| NotifyError::Http(e.to_string()))?;
        let worker = paycore_kernel::crypto::random_token(16)
            .map(|t| format!("notifier-{}-{t}", std::process::id()))
            .unwrap_or_else(|_| format!("notifier-{}-{}", std::process::id(), clock.unix_millis()));
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                clock,
                signer,
                config,
                http,
                worker,
                inflight: Mutex::new(Inflight::default()),
                wake: tokio::sync::Notify::new(),
            }),
        })
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.inner.config
    }

    /// Tells a running worker to look for due notifications now (e.g. after the payment flow
    /// committed one) instead of at its next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The merchant's notifications, newest first (at most [`MAX_LISTED`]), optionally only
    /// those about one object.
    pub async fn list(
        &self,
        merchant_id: &str,
        object_id: Option<&str>,
    ) -> Result<Vec<NotificationView>, NotifyError> {
        let cols = model::COLUMNS;
        let rows = match object_id {
            Some(object_id) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {cols} FROM notifications WHERE merchant_id = $1 AND object_id = $2
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                )))
                .bind(merchant_id)
                .bind(object_id)
                .bind(MAX_LISTED)
                .fetch_all(self.inner.db.reader())
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {cols} FROM notifications WHERE merchant_id = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                )))
                .bind(merchant_id)
                .bind(MAX_LISTED)
                .fetch_all(self.inner.db.reader())
                .await?
            }
        };
        let records = rows
            .iter()
            .map(model::record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.with_deliveries(records).await
    }

    /// One notification of this merchant; another merchant's id is `NotFound`.
    pub async fn get(
        &self,
        merchant_id: &str,
        event_id: &str,
    ) -> Result<NotificationView, NotifyError> {
        let record = self.record(merchant_id, event_id).await?;
        self.with_deliveries(vec![record])
            .await?
            .pop()
            .ok_or(NotifyError::NotFound)
    }

    /// Makes the notification due now again, whatever its status, with the same body and a
    /// fresh retry schedule. Another merchant's id is `NotFound`.
    pub async fn resend(
        &self,
        merchant_id: &str,
        event_id: &str,
        actor: &str,
    ) -> Result<NotificationView, NotifyError> {
        let current = self.record(merchant_id, event_id).await?.view;
        let now = self.inner.clock.unix_millis();
        match current.status {
            NotificationStatus::Pending => {
                // Already on its way: only bring the next attempt forward.
                sqlx::query(
                    "UPDATE notifications SET next_attempt_at = $1, retry_index = 0,
                        updated_at = $1
                     WHERE event_id = $2 AND merchant_id = $3 AND status = $4",
                )
                .bind(now)
                .bind(event_id)
                .bind(merchant_id)
                .bind(NotificationStatus::Pending.as_str())
                .execute(self.inner.db.writer())
                .await?;
            }
            from @ (NotificationStatus::Delivered | NotificationStatus::Failed) => {
                let mut tx = self.inner.db.begin().await?;
                let to = Transition::new(from, NotificationEvent::Resend, now)
                    .by(actor)
                    .set("next_attempt_at", now)
                    .set("retry_index", 0)
                    .guard("merchant_id", merchant_id)
                    .apply(&mut tx, event_id)
                    .await?;
                tx.commit().await?;
                tracing::info!(target: "digest.biz", biz = "notification", from = from.as_str(),
                    to = to.as_str(), code = "RESEND", event_id, merchant_id,
                    attempt = current.attempts);
            }
        }
        metrics::counter!("paycore_notifications_total", "result" => "resent").increment(1);
        self.wake();
        self.get(merchant_id, event_id).await
    }

    async fn record(
        &self,
        merchant_id: &str,
        event_id: &str,
    ) -> Result<model::Record, NotifyError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM notifications WHERE event_id = $1 AND merchant_id = $2",
            model::COLUMNS
        )))
        .bind(event_id)
        .bind(merchant_id)
        .fetch_optional(self.inner.db.writer())
        .await?
        .ok_or(NotifyError::NotFound)?;
        model::record_from_row(&row)
    }

    async fn with_deliveries(
        &self,
        records: Vec<model::Record>,
    ) -> Result<Vec<NotificationView>, NotifyError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=records.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT event_id, attempt, at, status_code, error, latency_ms, response
             FROM notification_deliveries WHERE event_id IN ({placeholders})
             ORDER BY event_id, attempt"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in &records {
            q = q.bind(r.event_id.as_str());
        }
        let rows = q.fetch_all(self.inner.db.writer()).await?;
        let mut by_event: HashMap<String, Vec<DeliveryView>> = HashMap::new();
        for row in &rows {
            let event_id: String = row.try_get("event_id")?;
            by_event
                .entry(event_id)
                .or_default()
                .push(model::delivery_from_row(row)?);
        }
        Ok(records
            .into_iter()
            .map(|r| {
                let mut view = r.view;
                let mut log = by_event.remove(&r.event_id).unwrap_or_default();
                let skip = log.len().saturating_sub(MAX_DELIVERIES_SHOWN);
                view.deliveries = log.split_off(skip);
                view
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_the_api_one() {
        let c = NotifyConfig::default();
        let total: u64 = c.retry_schedule.iter().map(|d| d.as_secs()).sum();
        assert_eq!(c.retry_schedule.len(), 15);
        assert_eq!(c.retry_schedule[0], Duration::from_secs(15));
        assert_eq!(c.retry_schedule[14], Duration::from_secs(6 * 3600));
        // 15+15+30 s, 3+10+20+30+30+30+60 min, 3+3+3+6+6 h
        assert_eq!(total, 60 + 183 * 60 + 21 * 3600);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert!(c.validate().is_ok());
        let short_lease = NotifyConfig {
            lease: Duration::from_secs(5),
            ..NotifyConfig::default()
        };
        assert!(short_lease.validate().is_err());
    }

    #[test]
    fn notify_urls() {
        assert!(validate_notify_url("https://shop.example/notify?a=1").is_ok());
        assert!(validate_notify_url("http://127.0.0.1:8080/n").is_ok());
        assert!(validate_notify_url("ftp://shop.example/n").is_err());
        assert!(validate_notify_url("/relative").is_err());
        assert!(validate_notify_url("").is_err());
    }

    #[test]
    fn every_notification_names_its_merchant() {
        let d = with_merchant(&serde_json::json!({"id": "p1"}), "M1").unwrap();
        assert_eq!(d["merchant_id"], "M1");
        let same = serde_json::json!({"id": "p1", "merchant_id": "M1"});
        assert_eq!(with_merchant(&same, "M1").unwrap(), same);
        assert!(with_merchant(&serde_json::json!({"merchant_id": "M2"}), "M1").is_err());
    }
}

//! The delivery worker: claim due notifications with a lease, POST them, log the attempt, and
//! move the notification on (delivered, next retry, or failed), all guarded by the lease.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paycore_store::{Engine, Row};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use tokio::task::{JoinHandle, JoinSet};

use super::model::{NotificationEvent, NotificationStatus};
use paycore_store::state::{Transition, TransitionError};

use super::{outbound, Inner, Notifier, NotifyError, SNIPPET_MAX};

/// The merchant's view of an attempt the address guard refused.
const ADDRESS_NOT_ALLOWED: &str = "address not allowed";

/// Most saturated merchants named in one claim's exclusion list (keeps the statement small;
/// beyond it, over-limit rows are handed back after the claim instead).
const MAX_EXCLUDED: usize = 200;

/// A notification this worker holds the lease of, for attempt number `attempt`.
struct Claimed {
    id: i64,
    event_id: String,
    merchant_id: String,
    url: String,
    body: String,
    attempt: i64,
    retry_index: i64,
    next_attempt_at: i64,
}

/// A place in the in-flight limits (total and per merchant); given back on drop.
struct Permit {
    inner: Arc<Inner>,
    merchant_id: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut f = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f.total = f.total.saturating_sub(1);
        if let Some(n) = f.per_merchant.get_mut(&self.merchant_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                f.per_merchant.remove(&self.merchant_id);
            }
        }
    }
}

/// What one attempt came to.
struct Attempt {
    status_code: Option<u16>,
    error: Option<String>,
    response: Option<String>,
    latency_ms: i64,
    /// No later attempt can do better (the URL is unusable).
    permanent: bool,
}

impl Notifier {
    /// One round: claims what is due (within the in-flight limits), delivers it, and waits for
    /// those deliveries. Returns the number of attempts made.
    pub async fn tick(&self) -> Result<usize, NotifyError> {
        let claimed = self.claim().await?;
        let n = claimed.len();
        let mut tasks = JoinSet::new();
        for (c, permit) in claimed {
            let me = self.clone();
            tasks.spawn(async move { me.deliver(c, permit).await });
        }
        let mut first_error = None;
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = flatten(done) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// The delivery loop, until `shutdown` resolves; then it lets the attempts in flight finish
    /// (each bounded by the timeout) so their outcome is recorded.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tasks: JoinSet<Result<(), NotifyError>> = JoinSet::new();
        loop {
            let mut full = false;
            match self.claim().await {
                Ok(claimed) => {
                    full = claimed.len() >= self.inner.config.batch;
                    for (c, permit) in claimed {
                        let me = self.clone();
                        tasks.spawn(async move { me.deliver(c, permit).await });
                    }
                }
                Err(e) => {
                    tracing::error!(target: "error", code = "NOTIFY_CLAIM", message = %e);
                }
            }
            while let Some(done) = tasks.try_join_next() {
                log_failure(flatten(done));
            }
            let pause = if full {
                Duration::ZERO
            } else {
                self.inner.config.poll_interval
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                // A finished attempt frees a place: look again at once.
                Some(done) = tasks.join_next(), if !tasks.is_empty() => log_failure(flatten(done)),
            }
        }
        while let Some(done) = tasks.join_next().await {
            log_failure(flatten(done));
        }
    }

    /// Runs [`Notifier::run`] on its own task.
    pub fn spawn(&self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run(shutdown).await })
    }

    /// Claims due notifications for this worker, at most what the in-flight limits allow.
    /// Merchants already at their limit are left out of the claim, so one merchant's backlog
    /// cannot fill every round.
    async fn claim(&self) -> Result<Vec<(Claimed, Permit)>, NotifyError> {
        let inner = &self.inner;
        let cfg = &inner.config;
        let (room, saturated) = {
            let f = inner.inflight.lock().unwrap_or_else(|e| e.into_inner());
            let saturated: Vec<String> = f
                .per_merchant
                .iter()
                .filter(|(_, n)| **n >= cfg.per_merchant_concurrency)
                .map(|(m, _)| m.clone())
                .take(MAX_EXCLUDED)
                .collect();
            (cfg.batch.saturating_sub(f.total), saturated)
        };
        if room == 0 {
            return Ok(Vec::new());
        }
        let now = inner.clock.unix_millis();
        let lease_until = now.saturating_add(millis(cfg.lease));
        // PostgreSQL: SKIP LOCKED lets concurrent workers take disjoint rows without waiting.
        // SQLite: the statement takes the write lock first, which serializes claimers.
        let lock = match inner.db.engine() {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let exclude = if saturated.is_empty() {
            String::new()
        } else {
            let list = (0..saturated.len())
                .map(|i| format!("${}", i + 6))
                .collect::<Vec<_>>()
                .join(", ");
            format!("AND merchant_id NOT IN ({list})")
        };
        let sql = format!(
            "UPDATE notifications SET lease_owner = $1, lease_until = $2, attempts = attempts + 1,
                updated_at = $3
             WHERE id IN (SELECT id FROM notifications
                   WHERE status = $5 AND next_attempt_at <= $3
                     AND (lease_until IS NULL OR lease_until < $3) {exclude}
                   ORDER BY next_attempt_at, id LIMIT $4 {lock})
             RETURNING id, event_id, merchant_id, notify_url, body, attempts, retry_index,
                next_attempt_at"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(inner.worker.as_str())
            .bind(lease_until)
            .bind(now)
            .bind(i64::try_from(room).unwrap_or(i64::MAX))
            .bind(NotificationStatus::Pending.as_str());
        for m in &saturated {
            q = q.bind(m.as_str());
        }
        let rows = q.fetch_all(inner.db.writer()).await?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    merchant_id: r.try_get("merchant_id")?,
                    url: r.try_get("notify_url")?,
                    body: r.try_get("body")?,
                    attempt: r.try_get("attempts")?,
                    retry_index: r.try_get("retry_index")?,
                    next_attempt_at: r
                        .try_get::<Option<i64>, _>("next_attempt_at")?
                        .unwrap_or(now),
                })
            })
            .collect::<Result<Vec<_>, NotifyError>>()?;
        claimed.sort_by_key(|c| (c.next_attempt_at, c.id));
        let mut out = Vec::with_capacity(claimed.len());
        for c in claimed {
            match self.permit(&c.merchant_id) {
                Some(p) => out.push((c, p)),
                // Over this merchant's limit: hand the row back untouched for a later round.
                None => self.unclaim(&c).await?,
            }
        }
        Ok(out)
    }

    fn permit(&self, merchant_id: &str) -> Option<Permit> {
        let cfg = &self.inner.config;
        let mut f = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mine = f.per_merchant.get(merchant_id).copied().unwrap_or(0);
        if f.total >= cfg.batch || mine >= cfg.per_merchant_concurrency {
            return None;
        }
        f.total += 1;
        f.per_merchant.insert(merchant_id.to_string(), mine + 1);
        Some(Permit {
            inner: self.inner.clone(),
            merchant_id: merchant_id.to_string(),
        })
    }

    async fn unclaim(&self, c: &Claimed) -> Result<(), NotifyError> {
        sqlx::query(
            "UPDATE notifications SET lease_owner = NULL, lease_until = NULL,
                attempts = attempts - 1
             WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = $4",
        )
        .bind(c.id)
        .bind(self.inner.worker.as_str())
        .bind(c.attempt)
        .bind(NotificationStatus::Pending.as_str())
        .execute(self.inner.db.writer())
        .await?;
        Ok(())
    }

    async fn deliver(&self, c: Claimed, permit: Permit) -> Result<(), NotifyError> {
        // The event must be on disk before the merchant hears of it.
        self.inner.db.durable().await?;
        let at = self.inner.clock.unix_millis();
        let attempt = self.post(&c).await;
        drop(permit);
        self.finish(&c, at, attempt).await
    }

    /// One HTTP attempt; never fails, whatever the merchant's endpoint does.
    async fn post(&self, c: &Claimed) -> Attempt {
        let started = Instant::now();
        let elapsed = |s: Instant| i64::try_from(s.elapsed().as_millis()).unwrap_or(i64::MAX);
        // A URL no attempt can ever deliver (not http(s), or a literal address the policy
        // refuses) fails for good; a name that resolves to a refused address is refused by the
        // resolver at connect time, and retried (its DNS may change).
        let never = match reqwest::Url::parse(&c.url) {
            Ok(url) if super::validate_notify_url(&c.url).is_ok() => self
                .inner
                .config
                .outbound
                .refused_literal(&url)
                .map(|_| ADDRESS_NOT_ALLOWED),
            _ => Some("invalid notify_url"),
        };
        if let Some(error) = never {
            return Attempt {
                status_code: None,
                error: Some(error.into()),
                response: None,
                latency_ms: 0,
                permanent: true,
            };
        }
        let mut req = self
            .inner
            .http
            .post(&c.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // Signed now, not at enqueue: each attempt carries a fresh timestamp and nonce.
        for (name, value) in self.inner.signer.sign(c.body.as_bytes()) {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                (Ok(n), Ok(v)) => req = req.header(n, v),
                _ => {
                    tracing::error!(target: "error", code = "NOTIFY_SIGN",
                        message = "signer produced an invalid header", header = %name);
                }
            }
        }
        match req.body(c.body.clone()).send().await {
            Ok(resp) => {
                let status = resp.status();
                let response = snippet(resp).await;
                Attempt {
                    status_code: Some(status.as_u16()),
                    error: (!status.is_success()).then(|| format!("HTTP {}", status.as_u16())),
                    response: Some(response),
                    latency_ms: elapsed(started),
                    permanent: false,
                }
            }
            Err(e) => Attempt {
                status_code: None,
                error: Some(self.describe(c, &e)),
                response: None,
                latency_ms: elapsed(started),
                permanent: false,
            },
        }
    }

    /// Logs the attempt and moves the notification on, if the lease is still ours (otherwise
    /// another worker has taken over and its attempt decides).
    async fn finish(&self, c: &Claimed, at: i64, a: Attempt) -> Result<(), NotifyError> {
        let inner = &self.inner;
        let now = inner.clock.unix_millis();
        let delivered = a.status_code.is_some_and(|s| (200..300).contains(&s));
        let retry_step = usize::try_from(c.retry_index)
            .ok()
            .and_then(|i| inner.config.retry_schedule.get(i));
        // None: stays pending for its next attempt.
        let (event, next_attempt_at) = if delivered {
            (Some(NotificationEvent::Deliver), None)
        } else {
            match retry_step {
                Some(delay) if !a.permanent => (None, Some(now.saturating_add(millis(*delay)))),
                _ => (Some(NotificationEvent::GiveUp), None),
            }
        };
        let mut tx = inner.db.begin().await?;
        self.log_attempt(&mut tx, c, at, &a).await?;
        let retry_index = if delivered {
            c.retry_index
        } else {
            c.retry_index.saturating_add(1)
        };
        let ours = match event {
            Some(event) => {
                let moved = Transition::new(NotificationStatus::Pending, event, now)
                    .by(inner.worker.as_str())
                    .reason(a.error.as_deref())
                    .set("retry_index", retry_index)
                    .set("next_attempt_at", None::<i64>)
                    .set("delivered_at", delivered.then_some(now))
                    .set("last_error", a.error.clone())
                    .set("lease_owner", None::<String>)
                    .set("lease_until", None::<i64>)
                    .guard("lease_owner", inner.worker.as_str())
                    .guard("attempts", c.attempt)
                    .apply(&mut tx, c.event_id.as_str())
                    .await;
                match moved {
                    Ok(_) => true,
                    Err(TransitionError::Lost { .. }) => false,
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                let done = sqlx::query(
                    "UPDATE notifications SET retry_index = $1, next_attempt_at = $2,
                        last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = $4
                     WHERE id = $5 AND status = $6 AND lease_owner = $7 AND attempts = $8",
                )
                .bind(retry_index)
                .bind(next_attempt_at)
                .bind(a.error.as_deref())
                .bind(now)
                .bind(c.id)
                .bind(NotificationStatus::Pending.as_str())
                .bind(inner.worker.as_str())
                .bind(c.attempt)
                .execute(&mut *tx)
                .await?;
                done.rows_affected() == 1
            }
        };
        tx.commit().await?;
        self.digest(c, &a, ours, event);
        Ok(())
    }

    async fn log_attempt(
        &self,
        tx: &mut paycore_store::Tx,
        c: &Claimed,
        at: i64,
        a: &Attempt,
    ) -> Result<(), NotifyError> {
        sqlx::query(
            "INSERT INTO notification_deliveries (event_id, attempt, at, status_code, error,
                latency_ms, response, worker)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, attempt) DO NOTHING",
        )
        .bind(c.event_id.as_str())
        .bind(c.attempt)
        .bind(at)
        .bind(a.status_code.map(i64::from))
        .bind(a.error.as_deref())
        .bind(a.latency_ms)
        .bind(a.response.as_deref())
        .bind(self.inner.worker.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The business digest line and the counter of one attempt.
    fn digest(&self, c: &Claimed, a: &Attempt, ours: bool, event: Option<NotificationEvent>) {
        let code = match (a.status_code, &a.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) if e.starts_with("timeout") => "TIMEOUT".to_string(),
            (None, Some(e)) if e == ADDRESS_NOT_ALLOWED => "ADDRESS_NOT_ALLOWED".to_string(),
            (None, _) if a.permanent => "INVALID_URL".to_string(),
            (None, _) => "NETWORK_ERROR".to_string(),
        };
        let (result, to) = match (ours, event) {
            (false, _) => ("lease_lost", NotificationStatus::Pending),
            (true, None) => ("retry", NotificationStatus::Pending),
            (true, Some(NotificationEvent::Deliver)) => {
                ("delivered", NotificationStatus::Delivered)
            }
            (true, Some(_)) => ("failed", NotificationStatus::Failed),
        };
        metrics::counter!("paycore_notifications_total", "result" => result).increment(1);
        tracing::info!(target: "digest.biz", biz = "notification", from = "pending",
            to = to.as_str(), code = %code,
            event_id = %c.event_id, merchant_id = %c.merchant_id, attempt = c.attempt,
            latency_ms = a.latency_ms, result);
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The first bytes of the answer, as text.
async fn snippet(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < SNIPPET_MAX {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(SNIPPET_MAX);
    truncate_utf8(String::from_utf8_lossy(&buf).into_owned(), SNIPPET_MAX)
}

fn truncate_utf8(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

/// What the merchant is told of a failed attempt: a coarse class only (internal error text
/// would tell a prober about the platform's network). The full chain goes to the log.
fn coarse(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timeout after {} ms", timeout.as_millis());
    }
    let mut source = std::error::Error::source(e);
    let mut text = String::new();
    while let Some(s) = source {
        if s.downcast_ref::<outbound::Refused>().is_some() {
            return ADDRESS_NOT_ALLOWED.into();
        }
        text.push_str(&s.to_string().to_ascii_lowercase());
        text.push(' ');
        source = s.source();
    }
    let class = if text.contains("connection refused") {
        "connection refused"
    } else if text.contains("dns") || text.contains("lookup") || text.contains("resolve") {
        "host not found"
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        "tls error"
    } else if text.contains("reset") || text.contains("closed") || text.contains("broken pipe") {
        "connection closed"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    class.into()
}

/// The full error chain, for the log.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    truncate_utf8(text, 512)
}

impl Notifier {
    fn describe(&self, c: &Claimed, e: &reqwest::Error) -> String {
        let shown = coarse(e, self.inner.config.timeout);
        tracing::info!(target: "detail", event_id = %c.event_id, merchant_id = %c.merchant_id,
            attempt = c.attempt, shown = %shown, error = %chain(e), "notification attempt failed");
        shown
    }
}

fn flatten(
    done: Result<Result<(), NotifyError>, tokio::task::JoinError>,
) -> Result<(), NotifyError> {
    match done {
        Ok(r) => r,
        Err(e) => Err(NotifyError::Worker(e.to_string())),
    }
}

fn log_failure(r: Result<(), NotifyError>) {
    if let Err(e) = r {
        tracing::error!(target: "error", code = "NOTIFY_FINISH", message = %e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let s = "é".repeat(200); // 400 bytes
        let t = truncate_utf8(s, SNIPPET_MAX);
        assert_eq!(t.len(), SNIPPET_MAX);
        assert!(t.chars().all(|c| c == 'é'));
        let odd = truncate_utf8(format!("a{}", "é".repeat(200)), SNIPPET_MAX);
        assert_eq!(odd.len(), SNIPPET_MAX - 1);
    }
}

//! The crash test of issue 4 ("Reliability"): paycore runs as a child process with its sandbox
//! channels, a mixed workload (payments on four channels, partial refunds, merchant
//! notifications, some channels misbehaving) runs against it, and the process is stopped at
//! random moments several times — alternately killed with SIGKILL and asked to stop with
//! SIGTERM, which it must obey within 10 s with exit status 0 — and restarted on the same port.
//! Afterwards the channels behave again, the jobs finish, and the database is checked:
//!
//! - every payment the API answered as `succeeded` exists once and is still succeeded (or canceled);
//! - debits equal credits per currency and per voucher, no voucher is doubled or missing;
//! - every charge the sandbox's books hold is matched by exactly one succeeded payment attempt
//!   (or an automatic refund), and no succeeded attempt lacks its charge;
//! - every notification ends delivered, and the merchant saw each event id with one body.
//!
//! Runs on SQLite, or on PostgreSQL when `PAYCORE_TEST_DATABASE_URL` is set.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use axum::routing::post;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_store::Row;
use rand::Rng;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "crash-test-admin-token-0123456789";
/// Fixed, so that every restart unseals the same secrets.
const MASTER_KEY: [u8; 32] = [7; 32];
const MERCHANTS: usize = 4;
const WORKERS: usize = 6;
/// Most payments the workload creates.
const MAX_PAYMENTS: usize = 240;
const KILLS: usize = 4;
/// Payments expire after the API's minimum, so unpaid ones close within the drain.
const EXPIRE_SECONDS: i64 = 60;
const DRAIN_DEADLINE: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// The paycore process
// ---------------------------------------------------------------------------------------------

struct Node {
    addr: SocketAddr,
    base_url: String,
    data_dir: PathBuf,
    database_url: Option<String>,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Node {
    fn new(data_dir: &Path, database_url: Option<String>) -> Node {
        // A free port, kept for every restart (the sandbox's and the notify URLs embed it).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        Node {
            addr,
            base_url: format!("http://{addr}"),
            data_dir: data_dir.to_path_buf(),
            database_url,
            log: data_dir.join("paycore.log"),
            child: None,
            starts: 0,
        }
    }

    async fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paycore"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--public-url")
            .arg(&self.base_url)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--mode")
            .arg("sandbox")
            .env("PAYCORE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PAYCORE_MASTER_KEY", B64.encode(MASTER_KEY))
            .env("RUST_LOG", "warn")
            .env_remove("PAYCORE_DATABASE_URL")
            .env_remove("PAYCORE_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        self.child = Some(cmd.spawn().unwrap());
        self.starts += 1;
        // Ready when the database answers; the port may take a moment after a kill.
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base_url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "paycore exited at start {}: {status}; log:\n{}",
                    self.starts,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "paycore not ready; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, as a service manager stops it: the server must exit by itself, cleanly,
    /// within 10 s, even with requests in flight that wait on a slow channel.
    async fn terminate(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let sent = Instant::now();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "paycore exited with {status} on SIGTERM; log:\n{}",
                    self.log_tail()
                );
                let abandoned: Vec<String> = self
                    .log_tail()
                    .lines()
                    .filter(|l| l.contains("abandoned"))
                    .map(str::to_string)
                    .collect();
                eprintln!("SIGTERM: exited in {:?} {abandoned:?}", sent.elapsed());
                return;
            }
            if sent.elapsed() > Duration::from_secs(10) {
                c.kill().unwrap();
                c.wait().unwrap();
                panic!(
                    "paycore still running 10 s after SIGTERM; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// A merchant's signed client
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Merchant {
    id: String,
    key_id: String,
    secret: Vec<u8>,
}

#[derive(Clone)]
struct Api {
    base: String,
    http: reqwest::Client,
}

/// An HTTP answer, or `None` when the server could not be reached (killed, restarting).
type Answer = Option<(u16, Value)>;

impl Api {
    fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            // Longer than the channel timeout (10 s), which an "unknown" answer waits out.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(25))
                .build()
                .unwrap(),
        }
    }

    async fn signed(&self, m: &Merchant, method: &str, pq: &str, body: Option<&Value>) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let nonce = paycore_kernel::crypto::random_token(24).unwrap();
        let msg = format!("{method}\n{pq}\n{ts}\n{nonce}\n{body}\n");
        let sig = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &m.secret),
            msg.as_bytes(),
        );
        let auth = format!(
            "PAYCORE-HMAC-SHA256 merchant_id=\"{}\",key_id=\"{}\",timestamp=\"{ts}\",nonce=\"{nonce}\",signature=\"{}\"",
            m.id,
            m.key_id,
            B64.encode(sig.as_ref())
        );
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{pq}", self.base))
            .header("Authorization", auth);
        if !body.is_empty() {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.ok()?;
        Some((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn behave(&self, channel: &str, behaviour: Value) {
        let r = self
            .http
            .put(format!(
                "{}/sandbox/channels/{channel}/behaviour",
                self.base
            ))
            .json(&behaviour)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{channel}: {}",
            r.text().await.unwrap()
        );
    }
}

async fn new_merchant(api: &Api, n: usize) -> Merchant {
    let (st, m) = api
        .admin(
            "POST",
            "/admin/v1/merchants",
            json!({"name": format!("Crash Shop {n}")}),
        )
        .await;
    assert_eq!(st, 201, "{m}");
    let id = m["merchant_id"].as_str().unwrap().to_string();
    let (st, k) = api
        .admin(
            "POST",
            &format!("/admin/v1/merchants/{id}/keys"),
            json!({"algorithm": "HMAC-SHA256"}),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    for product in ["NET_BANK", "ALIPAY", "WECHAT", "QUICK_PAY"] {
        let (st, c) = api
            .admin(
                "POST",
                &format!("/admin/v1/merchants/{id}/products"),
                json!({"product": product, "fee_rate_bps": 60}),
            )
            .await;
        assert_eq!(st, 200, "{c}");
    }
    Merchant {
        id,
        key_id: k["key_id"].as_str().unwrap().to_string(),
        secret: k["secret"].as_str().unwrap().as_bytes().to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// The merchant's notify endpoint
// ---------------------------------------------------------------------------------------------

/// Event id → the distinct bodies delivered with it.
type Bodies = HashMap<String, HashSet<Vec<u8>>>;

/// Every delivery: the bodies of each event id, and how many deliveries in all.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<(Bodies, usize)>>);

impl Receiver {
    async fn start(&self) -> String {
        let rec = self.clone();
        let app = axum::Router::new().route(
            "/notify",
            post(move |body: axum::body::Bytes| {
                let rec = rec.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let id = v["id"].as_str().unwrap_or("").to_string();
                    let mut g = rec.0.lock().unwrap();
                    g.0.entry(id).or_default().insert(body.to_vec());
                    g.1 += 1;
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        url
    }
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Tracked {
    merchant: usize,
    out_trade_no: String,
    product: &'static str,
    amount: i64,
    /// The id the API answered with (None: the create call never got an answer).
    id: Option<String>,
    /// Some answer of the API (create or get) said `succeeded`.
    answered_succeeded: bool,
    refund: Option<TrackedRefund>,
}

#[derive(Debug, Clone)]
struct TrackedRefund {
    out_refund_no: String,
    amount: i64,
    answered: bool,
}

#[derive(Default)]
struct Book {
    payments: Vec<Tracked>,
}

struct Workload {
    api: Api,
    merchants: Vec<Merchant>,
    notify_url: String,
    book: Mutex<Book>,
    created: AtomicUsize,
    stop: AtomicBool,
}

const PRODUCTS: [&str; 4] = ["ALIPAY", "WECHAT", "NET_BANK", "QUICK_PAY"];

fn is_final_payment(s: &str) -> bool {
    matches!(s, "succeeded" | "failed" | "closed" | "canceled")
}

impl Workload {
    /// Sends the same (idempotent) request until the server answers or the workload stops.
    async fn until_answered(
        &self,
        m: &Merchant,
        method: &str,
        pq: &str,
        body: Option<&Value>,
    ) -> Answer {
        loop {
            if let Some(a) = self.api.signed(m, method, pq, body).await {
                return Some(a);
            }
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            // The server is down: pace the retries while it restarts.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn record(&self, idx: usize, f: impl FnOnce(&mut Tracked)) {
        f(&mut self.book.lock().unwrap().payments[idx]);
    }

    async fn worker(self: Arc<Self>, w: usize) {
        let mut n = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            if self.created.fetch_add(1, Ordering::Relaxed) >= MAX_PAYMENTS {
                self.refund_some().await;
                if self.stop.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let (merchant, product, amount) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..MERCHANTS),
                    PRODUCTS[(w + n) % PRODUCTS.len()],
                    rng.random_range(100..100_000i64),
                )
            };
            let out_trade_no = format!("W{w}-{n}");
            let idx = {
                let mut b = self.book.lock().unwrap();
                b.payments.push(Tracked {
                    merchant,
                    out_trade_no: out_trade_no.clone(),
                    product,
                    amount,
                    id: None,
                    answered_succeeded: false,
                    refund: None,
                });
                b.payments.len() - 1
            };
            let body = json!({"out_trade_no": out_trade_no, "amount": amount, "currency": "CNY", "subject": "crash test",
                "product": product, "notify_url": self.notify_url, "expire_seconds": EXPIRE_SECONDS});
            let m = &self.merchants[merchant];
            let Some((status, p)) = self
                .until_answered(m, "POST", "/v1/payments", Some(&body))
                .await
            else {
                continue;
            };
            if status != 200 && status != 201 {
                // Declines and channel trouble are answers too; the payment (if any) is checked later.
                continue;
            }
            let id = p["id"].as_str().unwrap().to_string();
            let succeeded = p["status"] == "succeeded";
            self.record(idx, |t| {
                t.id = Some(id.clone());
                t.answered_succeeded |= succeeded;
            });
            // The payer acts on the next action (once; a payer whose click is lost gives up).
            match p["next_action"]["type"].as_str() {
                Some("qr_code") => {
                    let wallet = if product == "ALIPAY" {
                        "alipay"
                    } else {
                        "wechat"
                    };
                    let code = p["next_action"]["code"].as_str().unwrap();
                    let _ = self
                        .api
                        .http
                        .post(format!("{}/sandbox/wallets/{wallet}/pay", self.api.base))
                        .json(&json!({"code": code}))
                        .send()
                        .await;
                }
                Some("redirect") => {
                    let url = p["next_action"]["url"].as_str().unwrap();
                    let no_redirect = reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .unwrap();
                    let _ = no_redirect
                        .post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("action=pay")
                        .send()
                        .await;
                }
                _ => {}
            }
            if n.is_multiple_of(3) {
                self.refund_some().await;
            }
            // Pace the workload so that it spans every kill (about 12 payments/s in all).
            let pause = rand::rng().random_range(200..800u64);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// Looks at a payment made earlier; if it succeeded, refunds a third of it.
    async fn refund_some(&self) {
        let pick = {
            let b = self.book.lock().unwrap();
            let candidates: Vec<usize> = (0..b.payments.len())
                .filter(|&i| b.payments[i].id.is_some() && b.payments[i].refund.is_none())
                .collect();
            if candidates.is_empty() {
                return;
            }
            candidates[rand::rng().random_range(0..candidates.len())]
        };
        let t = self.book.lock().unwrap().payments[pick].clone();
        let m = &self.merchants[t.merchant];
        let id = t.id.clone().unwrap();
        let Some((200, p)) = self
            .until_answered(m, "GET", &format!("/v1/payments/{id}"), None)
            .await
        else {
            return;
        };
        if p["status"] != "succeeded" {
            return;
        }
        let refund = TrackedRefund {
            out_refund_no: format!("R-{}", t.out_trade_no),
            amount: t.amount / 3,
            answered: false,
        };
        let body = json!({"payment_id": id, "out_refund_no": refund.out_refund_no, "amount": refund.amount, "reason": "crash test"});
        self.record(pick, |t| {
            t.answered_succeeded = true;
            t.refund = Some(refund);
        });
        if let Some((status, r)) = self
            .until_answered(m, "POST", "/v1/refunds", Some(&body))
            .await
        {
            assert!(
                status == 200 || status == 201,
                "refund refused: {status} {r}"
            );
            self.record(pick, |t| t.refund.as_mut().unwrap().answered = true);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the database
// ---------------------------------------------------------------------------------------------

async fn rows(db: &paycore_store::Db, sql: &str) -> Vec<sqlx::any::AnyRow> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(db.reader())
        .await
        .unwrap()
}

fn s(r: &sqlx::any::AnyRow, col: &str) -> String {
    r.try_get::<String, _>(col).unwrap()
}

fn i(r: &sqlx::any::AnyRow, col: &str) -> i64 {
    r.try_get::<i64, _>(col).unwrap()
}

/// What is still unfinished, as readable lines (empty: the jobs are done).
async fn unfinished(db: &paycore_store::Db) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows(
        db,
        "SELECT payment_id, status FROM payments WHERE status IN ('created', 'processing')",
    )
    .await
    {
        out.push(format!(
            "payment {} {}",
            s(&r, "payment_id"),
            s(&r, "status")
        ));
    }
    // Refunds the channel has heard of must finish (`unsent_refunds`: the others).
    for r in rows(
        db,
        "SELECT r.refund_id, r.status FROM refunds r JOIN sandbox_refunds c ON c.refund_id = r.attempt_id
         WHERE r.status NOT IN ('succeeded', 'failed')",
    )
    .await
    {
        out.push(format!("refund {} {}", s(&r, "refund_id"), s(&r, "status")));
    }
    for r in rows(
        db,
        "SELECT event_id, status FROM notifications WHERE status <> 'delivered'",
    )
    .await
    {
        out.push(format!(
            "notification {} {}",
            s(&r, "event_id"),
            s(&r, "status")
        ));
    }
    // A charge at the channel that paycore has not yet recorded (the query-back will).
    for r in rows(
        db,
        "SELECT o.attempt_id, o.channel FROM sandbox_orders o LEFT JOIN channel_attempts a ON a.attempt_id = o.attempt_id
         WHERE o.status = 'paid' AND (a.status IS NULL OR a.status <> 'succeeded')",
    )
    .await
    {
        out.push(format!("charge {} at {} not recorded", s(&r, "attempt_id"), s(&r, "channel")));
    }
    for r in rows(
        db,
        "SELECT channel, notify_id FROM sandbox_notifications WHERE status = 'pending'",
    )
    .await
    {
        out.push(format!(
            "channel notification {} of {}",
            s(&r, "notify_id"),
            s(&r, "channel")
        ));
    }
    out
}

/// Refunds that are not final and that the channel has never seen: a refund cut off by a kill
/// after it committed and before the channel got it. The refund query-back sends those again,
/// so none may be left once the jobs have finished.
async fn unsent_refunds(db: &paycore_store::Db) -> Vec<(String, String, String, i64)> {
    rows(
        db,
        "SELECT r.refund_id, r.attempt_id, r.payment_id, r.amount FROM refunds r
         LEFT JOIN sandbox_refunds c ON c.refund_id = r.attempt_id
         WHERE r.status NOT IN ('succeeded', 'failed') AND c.refund_id IS NULL",
    )
    .await
    .iter()
    .map(|r| {
        (
            s(r, "refund_id"),
            s(r, "attempt_id"),
            s(r, "payment_id"),
            i(r, "amount"),
        )
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn survives_sigkill_and_sigterm_under_a_mixed_workload() {
    let started = Instant::now();
    let test_db = paycore_store::testing::empty().await.unwrap();
    let mut node = Node::new(&test_db.dir, test_db.url.clone());
    node.start().await;
    let api = Api::new(&node.base_url);

    // Channels: names from the sandbox; misbehaviour on most of them.
    let channels: Vec<String> = api
        .http
        .get(format!("{}/sandbox/channels", api.base))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let channel = |part: &str| {
        channels
            .iter()
            .find(|c| c.contains(part))
            .unwrap_or_else(|| panic!("no {part} channel in {channels:?}"))
            .clone()
    };
    let misbehaviour = [
        // Charged, answered after the 10 s channel timeout: "unknown", settled by the query-back.
        (
            channel("quickpay"),
            json!({"unknown_rate": 0.15, "unknown_hold_ms": 12_000, "decline_rate": 0.1}),
        ),
        (
            channel("alipay"),
            json!({"duplicate_notifications": 2, "notification_delay_ms": 300}),
        ),
        (
            channel("wechat"),
            json!({"decline_rate": 0.2, "out_of_order": true, "duplicate_notifications": 1}),
        ),
        (
            channel("netbank"),
            json!({"notification_delay_ms": 1500, "duplicate_notifications": 1, "latency_ms": 20}),
        ),
    ];
    for (c, b) in &misbehaviour {
        api.behave(c, b.clone()).await;
    }

    let mut merchants = Vec::new();
    for n in 0..MERCHANTS {
        merchants.push(new_merchant(&api, n).await);
    }
    let receiver = Receiver::default();
    let notify_url = receiver.start().await;
    let load = Arc::new(Workload {
        api: api.clone(),
        merchants: merchants.clone(),
        notify_url,
        book: Mutex::new(Book::default()),
        created: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(load.clone().worker(w)))
        .collect();

    // Stop at random moments while the workload runs, alternately SIGKILL and SIGTERM;
    // restart on the same port each time.
    for k in 0..KILLS {
        let pause = rand::rng().random_range(2_000..6_000u64);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if k % 2 == 1 {
            node.terminate().await;
        } else {
            node.kill();
        }
        node.start().await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let workload_secs = started.elapsed().as_secs();

    // Normal behaviour again; then wait (with a deadline) until the jobs have finished.
    for (c, _) in &misbehaviour {
        api.behave(c, json!({})).await;
    }
    let deadline = Instant::now() + DRAIN_DEADLINE;
    let mut next_progress = Instant::now();
    loop {
        let left = unfinished(&test_db.db).await;
        let book = load.book.lock().unwrap().payments.clone();
        let ev_rows = rows(&test_db.db, "SELECT event_id FROM notifications").await;
        let undelivered = {
            let seen = receiver.0.lock().unwrap();
            ev_rows
                .iter()
                .filter(|r| !seen.0.contains_key(&s(r, "event_id")))
                .count()
        };
        let unsent = unsent_refunds(&test_db.db).await;
        if left.is_empty() && undelivered == 0 && unsent.is_empty() {
            break;
        }
        if Instant::now() >= next_progress {
            eprintln!(
                "drain at {}s: {} unfinished {:?}, {undelivered} events not received, {} unsent refunds",
                started.elapsed().as_secs(),
                left.len(),
                &left[..left.len().min(5)],
                unsent.len()
            );
            next_progress = Instant::now() + Duration::from_secs(15);
        }
        assert!(
            Instant::now() < deadline,
            "not finished after {DRAIN_DEADLINE:?}: {} unfinished ({:?}), {undelivered} events not received; {} payments tracked; log:\n{}",
            left.len(),
            &left[..left.len().min(20)],
            book.len(),
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_secs = started.elapsed().as_secs() - workload_secs;

    // What the API answers now about every payment the workload asked for.
    let mut api_status: HashMap<(usize, String), String> = HashMap::new();
    {
        let tracked = load.book.lock().unwrap().payments.clone();
        for (idx, t) in tracked.iter().enumerate() {
            let m = &merchants[t.merchant];
            let pq = format!("/v1/payments?out_trade_no={}", t.out_trade_no);
            let (status, p) = api
                .signed(m, "GET", &pq, None)
                .await
                .expect("the server is up");
            match status {
                200 => {
                    if let Some(id) = &t.id {
                        assert_eq!(p["id"].as_str(), Some(id.as_str()), "{t:?}: {p}");
                    }
                    let st = p["status"].as_str().unwrap().to_string();
                    if st == "succeeded" {
                        load.record(idx, |t| t.answered_succeeded = true);
                    }
                    api_status.insert((t.merchant, t.out_trade_no.clone()), st);
                }
                404 => assert!(t.id.is_none(), "{t:?} was answered but is not found now"),
                other => panic!("{t:?}: {other} {p}"),
            }
        }
    }
    node.kill();

    // ---- checks, on the database of the stopped server
    let db = paycore_store::Db::open(&test_db.dir, test_db.url.as_deref())
        .await
        .unwrap();
    let book = load.book.lock().unwrap().payments.clone();
    // (merchant, out_trade_no) → (payment id, status, amount, current attempt)
    type Stored = HashMap<(String, String), (String, String, i64, Option<String>)>;
    let payments: Stored = rows(
        &db,
        "SELECT merchant_id, out_trade_no, payment_id, status, amount, attempt_id FROM payments",
    )
    .await
    .iter()
    .map(|r| {
        (
            (s(r, "merchant_id"), s(r, "out_trade_no")),
            (
                s(r, "payment_id"),
                s(r, "status"),
                i(r, "amount"),
                r.try_get::<Option<String>, _>("attempt_id").unwrap(),
            ),
        )
    })
    .collect();
    let unsent = unsent_refunds(&db).await;
    let mut answered_succeeded = 0;
    for t in &book {
        let key = (merchants[t.merchant].id.clone(), t.out_trade_no.clone());
        let found = payments.get(&key);
        if let Some(id) = &t.id {
            let (pid, status, amount, _) =
                found.unwrap_or_else(|| panic!("payment {t:?} was answered but is missing"));
            assert_eq!(pid, id, "{t:?}");
            assert_eq!(*amount, t.amount, "{t:?}");
            if t.answered_succeeded {
                answered_succeeded += 1;
                assert!(
                    status == "succeeded" || status == "canceled",
                    "{t:?} was answered succeeded, is {status}"
                );
            }
            assert!(is_final_payment(status), "{t:?} is {status}");
        }
        if let Some((_, status, _, _)) = found {
            let said = api_status.get(&(t.merchant, t.out_trade_no.clone()));
            assert_eq!(
                said,
                Some(status),
                "{t:?}: the API and the database disagree"
            );
        }
        if let Some(r) = &t.refund {
            if r.answered {
                let n = rows(&db, &format!("SELECT refund_id, status FROM refunds WHERE out_refund_no = '{}' AND merchant_id = '{}'", r.out_refund_no, key.0)).await;
                assert_eq!(n.len(), 1, "refund {r:?} answered but not stored once");
                let (refund_id, st) = (s(&n[0], "refund_id"), s(&n[0], "status"));
                assert!(st == "succeeded", "refund {r:?} ({refund_id}) is {st}");
            }
        }
    }
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { i(&rows(&db, sql).await[0], "n") }
    };
    // Exactly one payment per merchant number (the unique index, seen from the data).
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM payments").await,
        payments.len() as i64
    );

    // Ledger: balanced per currency and per voucher; each voucher number once; every succeeded
    // payment attempt has its payment voucher and nothing else has one; likewise refunds.
    let sums = rows(&db, "SELECT a.currency, e.side, CAST(SUM(e.amount) AS BIGINT) AS total FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id GROUP BY a.currency, e.side").await;
    let mut by_currency: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &sums {
        let e = by_currency.entry(s(r, "currency")).or_default();
        match s(r, "side").as_str() {
            "D" => e.0 += i(r, "total"),
            _ => e.1 += i(r, "total"),
        }
    }
    assert!(!by_currency.is_empty(), "nothing was posted");
    for (cur, (d, c)) in &by_currency {
        assert_eq!(d, c, "debits and credits differ in {cur}");
    }
    let unbalanced = rows(&db, "SELECT voucher_id, SUM(CASE WHEN side = 'D' THEN amount ELSE -amount END) AS diff FROM ledger_entries GROUP BY voucher_id HAVING SUM(CASE WHEN side = 'D' THEN amount ELSE -amount END) <> 0").await;
    assert!(
        unbalanced.is_empty(),
        "{} vouchers do not balance",
        unbalanced.len()
    );
    assert!(rows(
        &db,
        "SELECT voucher_no FROM ledger_vouchers GROUP BY voucher_no HAVING COUNT(*) > 1"
    )
    .await
    .is_empty());
    let vouchers: HashSet<String> = rows(
        &db,
        "SELECT voucher_no FROM ledger_vouchers WHERE status = 'posted'",
    )
    .await
    .iter()
    .map(|r| s(r, "voucher_no"))
    .collect();
    let attempts = rows(
        &db,
        "SELECT attempt_id, kind, payment_id, status, amount, channel FROM channel_attempts",
    )
    .await;
    let mut succeeded_pay_attempts = HashMap::new();
    for a in &attempts {
        let (id, kind, status) = (s(a, "attempt_id"), s(a, "kind"), s(a, "status"));
        let voucher = format!("{id}.{}", if kind == "pay" { "pay" } else { "refund" });
        if kind == "pay" || kind == "refund" {
            assert_eq!(
                vouchers.contains(&voucher),
                status == "succeeded",
                "attempt {id} ({kind}) is {status}; voucher present: {}",
                vouchers.contains(&voucher)
            );
        }
        if kind == "pay" && status == "succeeded" {
            succeeded_pay_attempts
                .insert(id, (s(a, "payment_id"), i(a, "amount"), s(a, "channel")));
        }
    }
    let report = paycore_ledger::Ledger::new(db.clone(), Arc::new(paycore_kernel::SystemClock))
        .verify()
        .await
        .unwrap();
    assert!(report.ok(), "ledger verify: {:?}", report.problems);

    // Channel side: every paid order is one succeeded attempt whose payment is succeeded (or
    // canceled), or whose late success was refunded automatically; and the reverse.
    let paid_orders = rows(
        &db,
        "SELECT attempt_id, channel, amount FROM sandbox_orders WHERE status = 'paid'",
    )
    .await;
    let payment_by_id: HashMap<String, (String, Option<String>)> = payments
        .values()
        .map(|(id, st, _, att)| (id.clone(), (st.clone(), att.clone())))
        .collect();
    let auto_refunds: HashMap<String, String> = rows(
        &db,
        "SELECT payment_id, status FROM refunds WHERE kind = 'auto'",
    )
    .await
    .iter()
    .map(|r| (s(r, "payment_id"), s(r, "status")))
    .collect();
    let mut auto_refunded = 0;
    for o in &paid_orders {
        let attempt = s(o, "attempt_id");
        let (payment_id, amount, channel) =
            succeeded_pay_attempts.get(&attempt).unwrap_or_else(|| {
                panic!(
                    "charge {attempt} at {} has no succeeded attempt",
                    s(o, "channel")
                )
            });
        assert_eq!(
            (*amount, channel.as_str()),
            (i(o, "amount"), s(o, "channel").as_str())
        );
        let (status, current) = &payment_by_id[payment_id];
        let paid_by_it = current.as_deref() == Some(attempt.as_str())
            && (status == "succeeded" || status == "canceled");
        if !paid_by_it {
            assert_eq!(auto_refunds.get(payment_id).map(String::as_str), Some("succeeded"), "charge {attempt} of payment {payment_id} ({status}) neither pays it nor was refunded");
            auto_refunded += 1;
        }
    }
    let paid_attempts: HashSet<String> = paid_orders.iter().map(|o| s(o, "attempt_id")).collect();
    let canceled_orders: HashSet<String> = rows(
        &db,
        "SELECT attempt_id FROM sandbox_orders WHERE status = 'canceled'",
    )
    .await
    .iter()
    .map(|r| s(r, "attempt_id"))
    .collect();
    for (attempt, (payment_id, _, _)) in &succeeded_pay_attempts {
        assert!(
            paid_attempts.contains(attempt) || canceled_orders.contains(attempt),
            "attempt {attempt} of {payment_id} succeeded without a charge"
        );
    }
    for (id, (status, current)) in &payment_by_id {
        if status == "succeeded" {
            let a = current.as_ref().unwrap();
            assert!(
                paid_attempts.contains(a),
                "succeeded payment {id}: its attempt {a} is not charged at the channel"
            );
        }
    }

    // Refunds: every one final (one cut off before the channel got it was sent again).
    assert!(unsent.is_empty(), "refunds never sent: {unsent:?}");
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM refunds WHERE status NOT IN ('succeeded', 'failed')")
            .await,
        unsent.len() as i64
    );
    let refund_totals = rows(
        &db,
        "SELECT p.payment_id, p.amount, p.refunded_amount, COALESCE(CAST(SUM(r.amount) AS BIGINT), 0) AS refunded
         FROM payments p LEFT JOIN refunds r ON r.payment_id = p.payment_id AND r.status = 'succeeded' AND r.kind = 'merchant'
         GROUP BY p.payment_id, p.amount, p.refunded_amount",
    )
    .await;
    for r in &refund_totals {
        assert_eq!(
            i(r, "refunded_amount"),
            i(r, "refunded"),
            "payment {}: refunded amount differs from its refunds",
            s(r, "payment_id")
        );
        assert!(
            i(r, "refunded") <= i(r, "amount"),
            "payment {} refunded above its amount",
            s(r, "payment_id")
        );
    }

    // Notifications: all delivered; the merchant saw every event, each with one body.
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM notifications WHERE status <> 'delivered'").await,
        0
    );
    let events: Vec<String> = rows(&db, "SELECT event_id FROM notifications")
        .await
        .iter()
        .map(|r| s(r, "event_id"))
        .collect();
    let (seen, deliveries) = receiver.0.lock().unwrap().clone();
    for e in &events {
        let bodies = seen
            .get(e)
            .unwrap_or_else(|| panic!("event {e} never reached the merchant"));
        assert_eq!(
            bodies.len(),
            1,
            "event {e} was delivered with {} different bodies",
            bodies.len()
        );
    }
    let stored: HashSet<&String> = events.iter().collect();
    for e in seen.keys() {
        assert!(
            stored.contains(e),
            "the merchant received an event paycore has no record of: {e:?}"
        );
    }

    let final_count = |st: &str| payments.values().filter(|p| p.1 == st).count();
    let mut by_product: BTreeMap<&str, usize> = BTreeMap::new();
    for t in book.iter().filter(|t| t.answered_succeeded) {
        *by_product.entry(t.product).or_default() += 1;
    }
    println!("answered succeeded by product: {by_product:?}");
    let refunds =
        count("SELECT COUNT(*) AS n FROM refunds WHERE kind = 'merchant' AND status = 'succeeded'")
            .await;
    println!(
        "crash test on {}: {} starts, {} payments tracked ({} answered succeeded), {} stored: {} succeeded, {} failed, {} closed, {} canceled; \
         {refunds} merchant refunds; {auto_refunded} automatic refunds; {} events ({deliveries} deliveries); workload {workload_secs}s, drain {drain_secs}s",
        if test_db.url.is_some() { "PostgreSQL" } else { "SQLite" },
        node.starts,
        book.len(),
        answered_succeeded,
        payments.len(),
        final_count("succeeded"),
        final_count("failed"),
        final_count("closed"),
        final_count("canceled"),
        events.len(),
    );
    assert!(node.starts > KILLS);
    assert!(
        answered_succeeded > 10,
        "too few successes to prove anything"
    );
    assert!(refunds > 0, "no refund succeeded");
    db.close().await;
}

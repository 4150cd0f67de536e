//! Merchant notifications (B3) against a real HTTP receiver and a real database (SQLite, or
//! PostgreSQL by PAYCORE_TEST_DATABASE_URL). Time is a ManualClock driven by the tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use paycore_kernel::crypto::{random_token, Algorithm, PlatformSigner, VerifyingKey};
use paycore_kernel::{Clock, ManualClock};
use paycore_notify::{
    self as notify, NewNotification, NotificationSigner, NotificationStatus, Notifier,
    NotifyConfig, NotifyError,
};
use paycore_store::testing::{self, TestDb};
use paycore_store::{outbox, Db};
use time::macros::datetime;

// ---------------------------------------------------------------------------------------------
// The merchant's endpoint: records every request; each path answers as told.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Holds the request open far longer than any test runs.
    Hang,
}

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct ReceiverState {
    answers: Mutex<HashMap<String, Answer>>,
    received: Mutex<Vec<Received>>,
    /// Requests being answered now, and the most ever at once, per path.
    open: Mutex<HashMap<String, (usize, usize)>>,
}

#[derive(Clone)]
struct Receiver {
    state: Arc<ReceiverState>,
    base: String,
}

struct OpenGuard(Arc<ReceiverState>, String);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(e) = self.0.open.lock().unwrap().get_mut(&self.1) {
            e.0 -= 1;
        }
    }
}

async fn receive(
    State(s): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path().to_string();
    s.received.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    let answer = s
        .answers
        .lock()
        .unwrap()
        .get(&path)
        .copied()
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            format!("answer {code} {}", "x".repeat(400)),
        )
            .into_response(),
        Answer::Hang => {
            {
                let mut open = s.open.lock().unwrap();
                let e = open.entry(path.clone()).or_default();
                e.0 += 1;
                e.1 = e.1.max(e.0);
            }
            let _guard = OpenGuard(s.clone(), path);
            // The merchant's server being slow, not the test waiting for a result.
            tokio::time::sleep(Duration::from_secs(600)).await;
            StatusCode::OK.into_response()
        }
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            state,
            base: format!("http://{addr}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer(&self, path: &str, a: Answer) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(path.to_string(), a);
    }

    fn received(&self, path: &str) -> Vec<Received> {
        let all = self.state.received.lock().unwrap();
        all.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// (open now, most ever open at once) for a path answered with `Hang`.
    fn open(&self, path: &str) -> (usize, usize) {
        self.state
            .open
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or((0, 0))
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The platform's signature, as the gateway's PlatformKeys makes it.
// ---------------------------------------------------------------------------------------------

struct TestSigner {
    key: PlatformSigner,
    clock: ManualClock,
}

impl NotificationSigner for TestSigner {
    fn sign(&self, body: &[u8]) -> Vec<(String, String)> {
        let ts = self.clock.unix_seconds().to_string();
        let nonce = random_token(24).unwrap();
        let sig = B64.encode(self.key.sign(&signed_string(&ts, &nonce, body)));
        vec![
            ("Paycore-Key-Id".into(), "pk-test".into()),
            ("Paycore-Timestamp".into(), ts),
            ("Paycore-Nonce".into(), nonce),
            ("Paycore-Signature".into(), sig),
        ]
    }
}

fn signed_string(ts: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("{ts}\n{nonce}\n").into_bytes();
    msg.extend_from_slice(body);
    msg.push(b'\n');
    msg
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Checks the platform signature headers of a received notification.
fn assert_signed(r: &Received, public_pem: &str) {
    assert_eq!(header(r, "content-type"), "application/json");
    assert_eq!(header(r, "paycore-key-id"), "pk-test");
    let key = VerifyingKey::from_public_pem(Algorithm::Ed25519, public_pem).unwrap();
    let msg = signed_string(
        header(r, "paycore-timestamp"),
        header(r, "paycore-nonce"),
        r.body.as_bytes(),
    );
    let sig = B64.decode(header(r, "paycore-signature")).unwrap();
    key.verify(&msg, &sig).expect("platform signature verifies");
    // And it is bound to the body: one changed byte no longer verifies.
    let mut tampered = msg.clone();
    let i = tampered.len() - 3;
    tampered[i] ^= 1;
    assert!(key.verify(&tampered, &sig).is_err());
}

// ---------------------------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------------------------

struct Env {
    t: TestDb,
    clock: ManualClock,
    rx: Receiver,
    signer: Arc<TestSigner>,
    public_pem: String,
    notifier: Notifier,
    config: NotifyConfig,
}

impl Env {
    async fn new(config: NotifyConfig) -> Env {
        let t = testing::migrated_with(&[&paycore_notify::SCHEMA])
            .await
            .unwrap();
        let clock = ManualClock::new(datetime!(2026-11-22 10:00:00 UTC));
        let key = PlatformSigner::generate().unwrap();
        let public_pem = key.public_key_pem();
        let signer = Arc::new(TestSigner {
            key,
            clock: clock.clone(),
        });
        let notifier = Notifier::new(
            t.db.clone(),
            Arc::new(clock.clone()),
            signer.clone(),
            config.clone(),
        )
        .unwrap();
        Env {
            t,
            clock,
            rx: Receiver::start().await,
            signer,
            public_pem,
            notifier,
            config,
        }
    }

    /// Another process on the same database: its own connections, its own worker identity.
    async fn second_process(&self) -> Notifier {
        let db = Db::open(&self.t.dir, self.t.url.as_deref()).await.unwrap();
        Notifier::new(
            db,
            Arc::new(self.clock.clone()),
            self.signer.clone(),
            self.config.clone(),
        )
        .unwrap()
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }

    async fn enqueue(&self, n: &NewNotification<'_>) -> bool {
        let mut tx = self.t.db.begin().await.unwrap();
        let fresh = notify::enqueue(&mut tx, n).await.unwrap();
        tx.commit().await.unwrap();
        fresh
    }

    /// A payment.succeeded notification for `merchant`, to `path` on the receiver.
    async fn payment(&self, event: u64, merchant: &str, path: &str, created_at: i64) -> String {
        self.payment_to(event, merchant, &self.rx.url(path), created_at)
            .await
    }

    /// A payment.succeeded notification for `merchant`, to any `url`.
    async fn payment_to(&self, event: u64, merchant: &str, url: &str, created_at: i64) -> String {
        let event_id = event_id(event);
        let data = payment_data(&format!("pay-{event}"), 100);
        assert!(
            self.enqueue(&NewNotification {
                event_id: &event_id,
                event_type: "payment.succeeded",
                merchant_id: merchant,
                object_id: &format!("pay-{event}"),
                notify_url: url,
                data: &data,
                created_at,
            })
            .await
        );
        event_id
    }
}

fn event_id(n: u64) -> String {
    format!("2026112210110401869921{n:010}")
}

fn payment_data(id: &str, amount: i64) -> serde_json::Value {
    serde_json::json!({"id": id, "amount": amount, "currency": "CNY", "status": "succeeded"})
}

fn fast_config() -> NotifyConfig {
    NotifyConfig {
        poll_interval: Duration::from_millis(20),
        // The test receivers listen on loopback, as in sandbox mode.
        outbound: paycore_notify::OutboundPolicy {
            allow_loopback: true,
            ..Default::default()
        },
        ..NotifyConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delivered_once_on_2xx_signed_with_the_exact_body() {
    let env = Env::new(fast_config()).await;
    env.rx.answer("/m1", Answer::Status(200));
    let created = env.now();
    let id = env.payment(1, "M1", "/m1", created).await;

    assert_eq!(env.notifier.tick().await.unwrap(), 1);
    let got = env.rx.received("/m1");
    assert_eq!(got.len(), 1);
    let expected = format!(
        r#"{{"id":"{id}","type":"payment.succeeded","created_at":"2026-11-22T10:00:00Z","data":{{"amount":100,"currency":"CNY","id":"pay-1","merchant_id":"M1","status":"succeeded"}}}}"#
    );
    assert_eq!(got[0].body, expected);
    assert_signed(&got[0], &env.public_pem);

    let view = env.notifier.get("M1", &id).await.unwrap();
    assert_eq!(view.status, NotificationStatus::Delivered);
    assert_eq!(view.event_type, "payment.succeeded");
    assert_eq!(view.object_id, "pay-1");
    assert_eq!(view.url, env.rx.url("/m1"));
    assert_eq!(view.attempts, 1);
    assert_eq!(view.delivered_at, Some(env.now()));
    assert_eq!(view.next_attempt_at, None);
    assert_eq!(view.body, expected);
    assert_eq!(view.deliveries.len(), 1);
    let d = &view.deliveries[0];
    assert_eq!(
        (d.attempt, d.at, d.status_code, d.error.as_deref()),
        (1, created, Some(200), None)
    );
    // The answer is kept, cut at 256 bytes.
    let response = d.response.as_deref().unwrap();
    assert!(response.starts_with("answer 200 xxx"));
    assert_eq!(response.len(), 256);

    // Delivered is final until resent: later rounds send nothing.
    env.clock.advance(time::Duration::days(1));
    assert_eq!(env.notifier.tick().await.unwrap(), 0);
    assert_eq!(env.rx.received("/m1").len(), 1);

    // The same event reached the outbox, with the same body, for in-process subscribers.
    let events = outbox::by_aggregate(&env.t.db, "pay-1").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].event_id.as_str(),
            events[0].topic.as_str(),
            events[0].shard_key.as_str()
        ),
        (id.as_str(), "payment.succeeded", "M1")
    );
    assert_eq!(events[0].payload, expected);

    // Only its merchant sees it.
    assert!(matches!(
        env.notifier.get("M2", &id).await,
        Err(NotifyError::NotFound)
    ));
    assert!(matches!(
        env.notifier.resend("M2", &id, "merchant").await,
        Err(NotifyError::NotFound)
    ));
    assert!(env.notifier.list("M2", None).await.unwrap().is_empty());
    assert_eq!(
        env.notifier.list("M1", Some("pay-1")).await.unwrap().len(),
        1
    );
    assert!(env
        .notifier
        .list("M1", Some("pay-2"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn retried_on_500_per_schedule_then_failed_then_resend_delivers() {
    let env = Env::new(fast_config()).await;
    env.rx.answer("/m1", Answer::Status(500));
    let id = env.payment(1, "M1", "/m1", env.now()).await;
    let start = env.now();

    assert_eq!(env.notifier.tick().await.unwrap(), 1);
    let schedule = env.config.retry_schedule.clone();
    assert_eq!(schedule.len(), 15);
    for (i, delay) in schedule.iter().enumerate() {
        let view = env.notifier.get("M1", &id).await.unwrap();
        assert_eq!(view.status, NotificationStatus::Pending);
        let due = env.now() + delay.as_millis() as i64;
        assert_eq!(view.next_attempt_at, Some(due), "retry {}", i + 1);
        // Not a millisecond early...
        env.clock
            .advance(time::Duration::try_from(*delay).unwrap() - time::Duration::milliseconds(1));
        assert_eq!(
            env.notifier.tick().await.unwrap(),
            0,
            "early retry {}",
            i + 1
        );
        // ...and on time.
        env.clock.advance(time::Duration::milliseconds(1));
        assert_eq!(env.notifier.tick().await.unwrap(), 1, "retry {}", i + 1);
    }

    let view = env.notifier.get("M1", &id).await.unwrap();
    assert_eq!(view.status, NotificationStatus::Failed);
    assert_eq!(view.next_attempt_at, None);
    assert_eq!(view.attempts, 16);
    assert_eq!(view.last_error.as_deref(), Some("HTTP 500"));
    let log = &view.deliveries;
    assert_eq!(log.len(), 16);
    assert_eq!(
        log.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        (1..=16).collect::<Vec<_>>()
    );
    assert!(log
        .iter()
        .all(|d| d.status_code == Some(500) && d.error.as_deref() == Some("HTTP 500")));
    assert_eq!(log[0].at, start);
    for (i, delay) in schedule.iter().enumerate() {
        assert_eq!(log[i + 1].at - log[i].at, delay.as_millis() as i64);
    }

    // Failed stays failed, whatever the time.
    env.clock.advance(time::Duration::days(7));
    assert_eq!(env.notifier.tick().await.unwrap(), 0);

    // Resend: due now, same body, and this time the merchant answers.
    env.rx.answer("/m1", Answer::Status(204));
    let view = env.notifier.resend("M1", &id, "merchant").await.unwrap();
    assert_eq!(view.status, NotificationStatus::Pending);
    assert_eq!(view.next_attempt_at, Some(env.now()));
    assert_eq!(env.notifier.tick().await.unwrap(), 1);
    let view = env.notifier.get("M1", &id).await.unwrap();
    assert_eq!(view.status, NotificationStatus::Delivered);
    assert_eq!(view.attempts, 17);
    assert_eq!(
        view.deliveries.last().map(|d| d.status_code),
        Some(Some(204))
    );

    // A delivered one can be resent too.
    env.notifier.resend("M1", &id, "merchant").await.unwrap();
    assert_eq!(env.notifier.tick().await.unwrap(), 1);

    // Every attempt sent the same bytes, each signed afresh.
    let got = env.rx.received("/m1");
    assert_eq!(got.len(), 18);
    assert!(got.iter().all(|r| r.body == got[0].body));
    let nonces: HashSet<&str> = got.iter().map(|r| header(r, "paycore-nonce")).collect();
    assert_eq!(nonces.len(), 18);
    for r in &got {
        assert_signed(r, &env.public_pem);
    }
}

#[tokio::test]
async fn enqueue_is_idempotent_and_part_of_the_callers_transaction() {
    let env = Env::new(fast_config()).await;
    let id = event_id(7);
    let url = env.rx.url("/m1");
    let first = payment_data("pay-7", 100);
    let second = payment_data("pay-7", 999);
    let n = |data| NewNotification {
        event_id: &id,
        event_type: "payment.succeeded",
        merchant_id: "M1",
        object_id: "pay-7",
        notify_url: &url,
        data,
        created_at: env.now(),
    };
    assert!(env.enqueue(&n(&first)).await);
    // The same event again, even with other data, changes nothing.
    assert!(!env.enqueue(&n(&second)).await);
    assert!(!env.enqueue(&n(&first)).await);

    let list = env.notifier.list("M1", None).await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].body.contains(r#""amount":100"#));
    assert_eq!(
        outbox::by_aggregate(&env.t.db, "pay-7")
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(env.notifier.tick().await.unwrap(), 1);
    let got = env.rx.received("/m1");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, list[0].body);

    // A business transaction that rolls back takes its notification with it.
    let other = event_id(8);
    let mut tx = env.t.db.begin().await.unwrap();
    assert!(notify::enqueue(
        &mut tx,
        &NewNotification {
            event_id: &other,
            object_id: "pay-8",
            ..n(&first)
        }
    )
    .await
    .unwrap());
    drop(tx);
    assert!(matches!(
        env.notifier.get("M1", &other).await,
        Err(NotifyError::NotFound)
    ));
    assert!(outbox::by_aggregate(&env.t.db, "pay-8")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(env.notifier.tick().await.unwrap(), 0);

    // What cannot be a notification is refused.
    let mut tx = env.t.db.begin().await.unwrap();
    let bad_id = notify::enqueue(
        &mut tx,
        &NewNotification {
            event_id: "42",
            ..n(&first)
        },
    )
    .await;
    assert!(matches!(bad_id, Err(NotifyError::Invalid(_))));
    let not_object = serde_json::json!([1, 2]);
    let bad_data = notify::enqueue(&mut tx, &n(&not_object)).await;
    assert!(matches!(bad_data, Err(NotifyError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_deliver_the_same_attempt() {
    let env = Env::new(NotifyConfig {
        batch: 3,
        ..fast_config()
    })
    .await;
    let other = env.second_process().await;
    const N: u64 = 40;
    let mut ids = HashSet::new();
    for i in 0..N {
        // Ten merchants, so the per-merchant limit is not what spreads the work.
        let merchant = format!("M{}", i % 10);
        ids.insert(env.payment(i, &merchant, "/all", env.now()).await);
    }

    let (mut a, mut b) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while a + b < N as usize {
        assert!(Instant::now() < deadline, "only {} of {N} delivered", a + b);
        let (x, y) = tokio::join!(env.notifier.tick(), other.tick());
        a += x.unwrap();
        b += y.unwrap();
    }
    // Nothing left, and nothing was attempted twice.
    let (x, y) = tokio::join!(env.notifier.tick(), other.tick());
    assert_eq!((x.unwrap(), y.unwrap()), (0, 0));
    assert_eq!(a + b, N as usize);

    let got = env.rx.received("/all");
    assert_eq!(got.len(), N as usize);
    let seen: HashSet<String> = got
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(seen, ids);
    for m in 0..10 {
        for v in env.notifier.list(&format!("M{m}"), None).await.unwrap() {
            assert_eq!(v.status, NotificationStatus::Delivered);
            assert_eq!((v.attempts, v.deliveries.len()), (1, 1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_merchant_does_not_hold_up_the_others() {
    let env = Env::new(NotifyConfig {
        per_merchant_concurrency: 2,
        batch: 8,
        // Longer than the test: the slow merchant's requests stay open throughout.
        timeout: Duration::from_secs(300),
        lease: Duration::from_secs(600),
        ..fast_config()
    })
    .await;
    env.rx.answer("/slow", Answer::Hang);
    env.rx.answer("/fast", Answer::Status(200));
    // The slow merchant's notifications are older, so they come first in every claim.
    let t0 = env.now();
    for i in 0..12 {
        env.payment(i, "SLOW", "/slow", t0 - 60_000 + i as i64)
            .await;
    }
    let fast: Vec<String> = {
        let mut v = Vec::new();
        for i in 100..103 {
            v.push(env.payment(i, "FAST", "/fast", t0).await);
        }
        v
    };

    let worker = env.notifier.spawn(std::future::pending());
    wait_until("the fast merchant's notifications", || {
        env.rx.received("/fast").len() == 3
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let views = env.notifier.list("FAST", None).await.unwrap();
        if views
            .iter()
            .all(|v| v.status == NotificationStatus::Delivered)
        {
            assert_eq!(views.len(), fast.len());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fast merchant not marked delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The slow merchant has exactly its limit open, never more, and the rest wait their turn.
    wait_until("the slow merchant's requests", || {
        env.rx.open("/slow").0 == 2
    })
    .await;
    assert_eq!(env.rx.open("/slow").1, 2);
    assert_eq!(env.rx.received("/slow").len(), 2);
    let waiting = env.notifier.list("SLOW", None).await.unwrap();
    assert_eq!(waiting.len(), 12);
    assert_eq!(waiting.iter().filter(|v| v.attempts == 0).count(), 10);
    worker.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_mid_delivery_is_redelivered_after_the_lease() {
    let env = Env::new(fast_config()).await;
    env.rx.answer("/m1", Answer::Hang);
    let id = env.payment(1, "M1", "/m1", env.now()).await;

    // The process claims the notification and dies while the request is open.
    let crashed = {
        let n = env.notifier.clone();
        tokio::spawn(async move { n.tick().await })
    };
    wait_until("the first attempt", || env.rx.received("/m1").len() == 1).await;
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());
    let view = env.notifier.get("M1", &id).await.unwrap();
    assert_eq!(
        (view.status, view.attempts, view.deliveries.len()),
        (NotificationStatus::Pending, 1, 0)
    );

    // After the restart: the lease still holds it, so nobody sends it again yet...
    let restarted = env.second_process().await;
    assert_eq!(restarted.tick().await.unwrap(), 0);
    env.clock.advance(time::Duration::seconds(59));
    assert_eq!(restarted.tick().await.unwrap(), 0);
    // ...and once the lease has run out, it is delivered.
    env.rx.answer("/m1", Answer::Status(200));
    env.clock.advance(time::Duration::seconds(2));
    assert_eq!(restarted.tick().await.unwrap(), 1);
    let view = restarted.get("M1", &id).await.unwrap();
    assert_eq!(view.status, NotificationStatus::Delivered);
    assert_eq!(view.attempts, 2);
    assert_eq!(view.deliveries.len(), 1);
    assert_eq!(
        (view.deliveries[0].attempt, view.deliveries[0].status_code),
        (2, Some(200))
    );
    let got = env.rx.received("/m1");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
}

#[tokio::test]
async fn a_timeout_or_unreachable_endpoint_is_a_failed_attempt() {
    let env = Env::new(NotifyConfig {
        timeout: Duration::from_millis(300),
        ..fast_config()
    })
    .await;
    env.rx.answer("/hang", Answer::Hang);
    let slow = env.payment(1, "M1", "/hang", env.now()).await;
    // A port nobody listens on (bound, then released).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gone = env
        .payment_to(2, "M1", &format!("http://{closed}/n"), env.now())
        .await;

    assert_eq!(env.notifier.tick().await.unwrap(), 2);
    let retry_at = env.now() + 15_000;
    let v = env.notifier.get("M1", &slow).await.unwrap();
    assert_eq!(v.status, NotificationStatus::Pending);
    assert_eq!(v.next_attempt_at, Some(retry_at));
    assert_eq!(v.deliveries[0].status_code, None);
    assert!(v.deliveries[0]
        .error
        .as_deref()
        .unwrap()
        .starts_with("timeout"));
    let v = env.notifier.get("M1", &gone).await.unwrap();
    assert_eq!(v.next_attempt_at, Some(retry_at));
    assert_eq!(v.deliveries[0].status_code, None);
    // The merchant sees the class of the failure, not the platform's internal error text.
    assert_eq!(v.deliveries[0].error.as_deref(), Some("connection refused"));
}

/// An endpoint on the platform's own network, as a merchant's `notify_url`: the notifier must
/// not call it, by address or by a name that resolves to it.
#[tokio::test]
async fn internal_addresses_are_never_called_outside_sandbox_mode() {
    let env = Env::new(NotifyConfig {
        outbound: paycore_notify::OutboundPolicy::default(),
        ..fast_config()
    })
    .await;
    let by_address = env.payment(1, "M1", "/internal", env.now()).await;
    // The receiver again, by a name that resolves to it.
    let by_name = env.rx.url("/internal").replace("127.0.0.1", "localhost");
    let by_name = env.payment_to(2, "M1", &by_name, env.now()).await;

    assert_eq!(env.notifier.tick().await.unwrap(), 2);
    assert!(
        env.rx.received("/internal").is_empty(),
        "the internal endpoint was called"
    );
    // A literal internal address can never be delivered: failed at once.
    let v = env.notifier.get("M1", &by_address).await.unwrap();
    assert_eq!(v.status, NotificationStatus::Failed);
    assert_eq!(
        v.deliveries[0].error.as_deref(),
        Some("address not allowed")
    );
    // A name is refused by the resolver when connecting, and retried (its DNS may change).
    let v = env.notifier.get("M1", &by_name).await.unwrap();
    assert_eq!(v.status, NotificationStatus::Pending);
    assert_eq!(
        v.deliveries[0].error.as_deref(),
        Some("address not allowed")
    );
    assert_eq!(v.deliveries[0].status_code, None);
}

paycore_store::machine_properties!(notification_machine, NotificationStatus);

//! The sandbox channels over real HTTP: a server on 127.0.0.1:0 serves `sandbox_router` plus a
//! tiny notification receiver standing in for the platform; the platform-side connectors drive
//! it. Runs on SQLite, or PostgreSQL with `PAYCORE_TEST_DATABASE_URL`.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use paycore_channels::*;
use paycore_kernel::id::MemorySequenceSource;
use paycore_kernel::product::Product;
use paycore_kernel::{BizId, BizType, Clock, Currency, IdGenerator, IdLayout, Money, SystemClock};
use paycore_sandbox::{
    parse_settlement_csv, sandbox_connectors, sandbox_router, sms, SandboxConnectorConfig,
    SandboxState,
};
use paycore_store::testing::TestDb;

#[derive(Clone, Debug)]
struct Received {
    channel: String,
    msg: InboundNotification,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// What the "platform" answers; 0 means 200.
    status: Arc<AtomicU16>,
}

async fn receive(
    State(r): State<Receiver>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    r.got.lock().unwrap().push(Received {
        channel,
        msg: InboundNotification {
            headers,
            body: body.to_vec(),
            query: String::new(),
        },
    });
    match r.status.load(Ordering::SeqCst) {
        0 => StatusCode::OK,
        s => StatusCode::from_u16(s).unwrap(),
    }
}

struct Harness {
    db: TestDb,
    base: String,
    registry: ChannelRegistry,
    receiver: Receiver,
    ids: IdGenerator,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Harness {
        Self::start_with(Duration::from_secs(5)).await
    }

    async fn start_with(timeout: Duration) -> Harness {
        let db = paycore_store::testing::migrated_with(&[
            &paycore_channels::SCHEMA,
            &paycore_sandbox::SCHEMA,
        ])
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = SandboxState::new(db.db.clone(), clock.clone(), vault(), base.clone());
        let receiver = Receiver::default();
        let platform = axum::Router::new()
            .route("/channels/{channel}/notify", post(receive))
            .with_state(receiver.clone());
        let app = sandbox_router(state).merge(platform);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let connectors = sandbox_connectors(
            &base,
            &db,
            clock.as_ref(),
            &vault(),
            &SandboxConnectorConfig { timeout },
        )
        .await
        .unwrap();
        Harness {
            registry: ChannelRegistry::from_connectors(connectors),
            ids: IdGenerator::new(
                IdLayout::default(),
                Arc::new(MemorySequenceSource::new()),
                clock,
            ),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            db,
            base,
            receiver,
        }
    }

    fn channel(&self, code: &str) -> Arc<dyn Connector> {
        self.registry.get(code).unwrap()
    }

    async fn attempt(&self) -> BizId {
        self.ids.next(BizType::ChannelAttempt, "m1").await.unwrap()
    }

    fn pay_request(&self, channel: &str, attempt_id: BizId, amount: Money) -> PayRequest {
        PayRequest {
            attempt_id,
            order_id: None,
            merchant_id: "m1".into(),
            product: Product::QuickPay,
            amount,
            subject: "Tea <green>".into(),
            payer: PayerInfo {
                phone: Some("13800000001".into()),
                ..PayerInfo::default()
            },
            return_url: Some(format!("{}/return?from=bank", self.base)),
            notify_url: notify_url(&self.base, channel),
            expire_at: None,
        }
    }

    async fn behave(&self, channel: &str, json: serde_json::Value) {
        let r = self
            .http
            .put(format!(
                "{}/sandbox/channels/{channel}/behaviour",
                self.base
            ))
            .json(&json)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Notifications received for `attempt_id` so far, verified by the channel's connector.
    async fn notifications_for(
        &self,
        channel: &str,
        attempt_id: BizId,
    ) -> Vec<ChannelNotification> {
        let got = self.receiver.got.lock().unwrap().clone();
        let mut out = Vec::new();
        for r in got.into_iter().filter(|r| r.channel == channel) {
            let n = self
                .channel(channel)
                .parse_notification(&r.msg)
                .await
                .unwrap();
            if n.attempt_id == attempt_id {
                out.push(n);
            }
        }
        out
    }

    /// Polls (every 20 ms, up to 10 s) until `n` notifications for the attempt arrived.
    async fn wait_notifications(
        &self,
        channel: &str,
        attempt_id: BizId,
        n: usize,
    ) -> Vec<ChannelNotification> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.notifications_for(channel, attempt_id).await;
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} notifications for {attempt_id}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn raw_for(&self, channel: &str) -> Vec<InboundNotification> {
        self.receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.channel == channel)
            .map(|r| r.msg.clone())
            .collect()
    }

    async fn settlement(&self, channel: &str) -> Vec<paycore_sandbox::SettlementLine> {
        let today = time::OffsetDateTime::now_utc().date();
        let csv = self.channel(channel).settlement_file(today).await.unwrap();
        parse_settlement_csv(&csv).unwrap()
    }
}

/// The master key of these tests (the same every time, so that the sandbox and its
/// connectors open each other's sealed keys).
fn vault() -> paycore_kernel::crypto::Vault {
    paycore_kernel::crypto::Vault::new(&paycore_kernel::Secret::new([7u8; 32])).unwrap()
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

fn tamper(msg: &InboundNotification) -> InboundNotification {
    // Change the first digit of the amount: a field every notification signs.
    let mut m = msg.clone();
    let at = String::from_utf8_lossy(&m.body)
        .find("amount")
        .expect("amount field");
    let digit = m.body[at..]
        .iter()
        .position(u8::is_ascii_digit)
        .expect("digit")
        + at;
    m.body[digit] = b'0' + (m.body[digit] - b'0' + 1) % 10;
    m
}

#[tokio::test]
async fn netbank_page_form_return_and_notification() {
    let h = Harness::start().await;
    let nb = h.channel(paycore_sandbox::codes::NETBANK);
    assert_eq!(nb.capabilities().interaction, Interaction::Redirect);
    let id = h.attempt().await;
    let req = h.pay_request(paycore_sandbox::codes::NETBANK, id, cny(12_345));
    let PayOutcome::Pending {
        next_action: Some(NextAction::Redirect { url }),
        channel_txn_id: Some(txn),
    } = nb.pay(&req).await.unwrap()
    else {
        panic!("net-bank must redirect");
    };
    assert!(url.starts_with(&format!("{}/sandbox/netbank/pay/", h.base)));
    assert!(matches!(
        nb.query(&QueryRequest {
            attempt_id: id,
            channel_txn_id: None
        })
        .await
        .unwrap(),
        QueryOutcome::Pending { .. }
    ));

    // The person's page: the order and a Pay button; the subject is escaped.
    let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("123.45 CNY"), "{page}");
    assert!(page.contains("Tea &lt;green&gt;"));
    assert!(page.contains("<button type=\"submit\" id=\"pay\">Pay</button>"));

    // Submitting the form pays and sends the browser back with the signed result.
    let r = h
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{}/return?from=bank&", h.base)));
    let query = location.split_once('?').unwrap().1.to_string();
    let back = nb
        .parse_notification(&InboundNotification {
            query: query.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(back.from_return);
    assert_eq!(back.result, NotifiedResult::Succeeded);
    assert_eq!(back.attempt_id, id);
    assert_eq!(back.amount, cny(12_345));
    let forged = query.replace("amount=12345", "amount=1");
    assert_eq!(
        nb.parse_notification(&InboundNotification {
            query: forged,
            ..Default::default()
        })
        .await,
        Err(ChannelError::BadSignature)
    );

    // And the bank notifies the platform asynchronously.
    let n = h
        .wait_notifications(paycore_sandbox::codes::NETBANK, id, 1)
        .await;
    assert_eq!(n[0].kind, NotificationKind::Payment);
    assert_eq!(n[0].channel_txn_id, txn);
    assert_eq!(n[0].result, NotifiedResult::Succeeded);
    assert!(!n[0].from_return);
    assert_eq!(n[0].ack.body, "OK");
    let raw = h.raw_for(paycore_sandbox::codes::NETBANK);
    assert_eq!(
        nb.parse_notification(&tamper(&raw[0])).await,
        Err(ChannelError::BadSignature)
    );
    // Another channel's connector does not accept it either.
    assert!(h
        .channel(paycore_sandbox::codes::WECHAT)
        .parse_notification(&raw[0])
        .await
        .is_err());

    // Paying the same attempt again charges nothing more.
    assert!(
        matches!(nb.pay(&req).await.unwrap(), PayOutcome::Succeeded { amount, .. } if amount == cny(12_345))
    );
    let q = nb
        .query(&QueryRequest {
            attempt_id: id,
            channel_txn_id: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(
            q,
            QueryOutcome::Succeeded {
                paid_at: Some(_),
                ..
            }
        ),
        "{q:?}"
    );

    // Partial refunds, idempotent by refund attempt id, never above the payment.
    let rid = h.attempt().await;
    let refund = RefundRequest {
        refund_attempt_id: rid,
        attempt_id: id,
        channel_txn_id: txn.clone(),
        amount: cny(2_345),
        payment_amount: cny(12_345),
        reason: None,
        notify_url: None,
    };
    let RefundOutcome::Succeeded {
        channel_refund_id,
        amount,
    } = nb.refund(&refund).await.unwrap()
    else {
        panic!("refund");
    };
    assert_eq!(amount, cny(2_345));
    assert!(matches!(nb.refund(&refund).await.unwrap(),
        RefundOutcome::Succeeded { channel_refund_id: ref again, .. } if *again == channel_refund_id));
    let too_much = RefundRequest {
        refund_attempt_id: h.attempt().await,
        amount: cny(10_001),
        ..refund.clone()
    };
    assert!(matches!(nb.refund(&too_much).await.unwrap(),
        RefundOutcome::Failed { code, .. } if code == "EXCEEDS_REFUNDABLE"));
    assert!(matches!(
        nb.refund_query(&RefundQueryRequest { refund_attempt_id: rid, attempt_id: id }).await.unwrap(),
        RefundQueryOutcome::Succeeded { amount, .. } if amount == cny(2_345)));
    assert_eq!(
        nb.refund_query(&RefundQueryRequest {
            refund_attempt_id: too_much.refund_attempt_id,
            attempt_id: id
        })
        .await
        .unwrap(),
        RefundQueryOutcome::NotFound
    );
    // A refunded payment can no longer be canceled.
    assert!(matches!(
        nb.cancel(&CancelRequest {
            attempt_id: id,
            channel_txn_id: None,
            amount: cny(12_345)
        })
        .await
        .unwrap(),
        CancelOutcome::Failed { .. }
    ));

    // The settlement file shows exactly the bank's books: one pay, one refund.
    let lines = h.settlement(paycore_sandbox::codes::NETBANK).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (lines[0].kind.as_str(), lines[0].amount),
        ("pay", cny(12_345))
    );
    assert_eq!(lines[0].attempt_id, id.to_string());
    assert_eq!(lines[0].fee, cny(25)); // 20 bps
    assert_eq!(
        (lines[1].kind.as_str(), lines[1].amount),
        ("refund", cny(2_345))
    );
    // Balance: 123.45 - 0.25 fee - 23.45 refund + 0.05 fee back.
    assert_eq!(nb.balance().await.unwrap(), cny(9_980));
}

#[tokio::test]
async fn wallets_pay_by_qr_code_and_notify() {
    let h = Harness::start().await;
    for (code, wallet, ack) in [
        (paycore_sandbox::codes::ALIPAY, "alipay", "success"),
        (
            paycore_sandbox::codes::WECHAT,
            "wechat",
            "<xml><return_code>SUCCESS</return_code><return_msg>OK</return_msg></xml>",
        ),
    ] {
        let w = h.channel(code);
        let id = h.attempt().await;
        let PayOutcome::Pending {
            next_action: Some(NextAction::QrCode { code: qr }),
            ..
        } = w.pay(&h.pay_request(code, id, cny(800))).await.unwrap()
        else {
            panic!("{code} must answer a QR code");
        };
        assert!(matches!(
            w.query(&QueryRequest {
                attempt_id: id,
                channel_txn_id: None
            })
            .await
            .unwrap(),
            QueryOutcome::Pending { .. }
        ));
        // The other wallet does not know this code.
        let other = if wallet == "alipay" {
            "wechat"
        } else {
            "alipay"
        };
        let r = h
            .http
            .post(format!("{}/sandbox/wallets/{other}/pay", h.base))
            .json(&serde_json::json!({"code": qr}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "INVALID_REQUEST");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("next_action.code"),
            "{e}"
        );

        let r = h
            .http
            .post(format!("{}/sandbox/wallets/{wallet}/pay", h.base))
            .json(&serde_json::json!({"code": qr}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let n = h.wait_notifications(code, id, 1).await;
        assert_eq!(n[0].result, NotifiedResult::Succeeded);
        assert_eq!(n[0].amount, cny(800));
        assert_eq!(n[0].ack.body, ack);
        let raw = h.raw_for(code);
        assert_eq!(
            w.parse_notification(&tamper(&raw[0])).await,
            Err(ChannelError::BadSignature)
        );
        let mut unsigned = raw[0].clone();
        unsigned.body = b"{}".to_vec();
        assert!(w.parse_notification(&unsigned).await.is_err());
        assert!(matches!(
            w.query(&QueryRequest {
                attempt_id: id,
                channel_txn_id: None
            })
            .await
            .unwrap(),
            QueryOutcome::Succeeded { .. }
        ));

        // Wallet refunds are confirmed by notification too.
        let rid = h.attempt().await;
        let refund = RefundRequest {
            refund_attempt_id: rid,
            attempt_id: id,
            channel_txn_id: n[0].channel_txn_id.clone(),
            amount: cny(300),
            payment_amount: cny(800),
            reason: Some("changed mind".into()),
            notify_url: Some(notify_url(&h.base, code)),
        };
        assert!(matches!(
            w.refund(&refund).await.unwrap(),
            RefundOutcome::Succeeded { .. }
        ));
        let rn = h.wait_notifications(code, rid, 1).await;
        assert_eq!(rn[0].kind, NotificationKind::Refund);
        assert_eq!(rn[0].payment_attempt_id, Some(id));
        assert_eq!(rn[0].amount, cny(300));
        // A repeated refund call is answered, not notified again.
        assert!(matches!(
            w.refund(&refund).await.unwrap(),
            RefundOutcome::Succeeded { .. }
        ));
        let (queued,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM sandbox_notifications WHERE notify_id = $1",
        )
        .bind(&rn[0].notify_id)
        .fetch_one(h.db.reader())
        .await
        .unwrap();
        assert_eq!(queued, 1);

        // Cancel on the same day reverses an unrefunded payment.
        let id = h.attempt().await;
        let PayOutcome::Pending {
            next_action: Some(NextAction::QrCode { code: qr }),
            ..
        } = w.pay(&h.pay_request(code, id, cny(800))).await.unwrap()
        else {
            panic!()
        };
        let r = h
            .http
            .post(format!("{}/sandbox/wallets/{wallet}/pay", h.base))
            .json(&serde_json::json!({"code": qr}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(matches!(
            w.cancel(&CancelRequest {
                attempt_id: id,
                channel_txn_id: None,
                amount: cny(800)
            })
            .await
            .unwrap(),
            CancelOutcome::Canceled { .. }
        ));
        assert!(matches!(
            w.query(&QueryRequest {
                attempt_id: id,
                channel_txn_id: None
            })
            .await
            .unwrap(),
            QueryOutcome::Canceled { .. }
        ));
        // Cancel of an unpaid order closes it; the code no longer pays.
        let id2 = h.attempt().await;
        let PayOutcome::Pending {
            next_action: Some(NextAction::QrCode { code: qr2 }),
            ..
        } = w.pay(&h.pay_request(code, id2, cny(100))).await.unwrap()
        else {
            panic!()
        };
        assert!(matches!(
            w.cancel(&CancelRequest {
                attempt_id: id2,
                channel_txn_id: None,
                amount: cny(100)
            })
            .await
            .unwrap(),
            CancelOutcome::Canceled { .. }
        ));
        let r = h
            .http
            .post(format!("{}/sandbox/wallets/{wallet}/pay", h.base))
            .json(&serde_json::json!({"code": qr2}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let unknown = h.attempt().await;
        assert_eq!(
            w.query(&QueryRequest {
                attempt_id: unknown,
                channel_txn_id: None
            })
            .await
            .unwrap(),
            QueryOutcome::NotFound
        );

        let kinds: Vec<String> = h
            .settlement(code)
            .await
            .into_iter()
            .map(|l| l.kind)
            .collect();
        assert_eq!(kinds, ["pay", "refund", "pay", "cancel"]);
    }
}

#[tokio::test]
async fn carrier_enforces_its_monthly_limit_per_phone() {
    let h = Harness::start().await;
    let c = h.channel(paycore_sandbox::codes::CARRIER);
    let pay = |phone: &str, id: BizId, amount: i64| {
        let mut r = h.pay_request(paycore_sandbox::codes::CARRIER, id, cny(amount));
        r.product = Product::PhoneBill;
        r.payer.phone = Some(phone.to_string());
        r
    };
    let id1 = h.attempt().await;
    assert!(matches!(
        c.pay(&pay("13900000001", id1, 30_000)).await.unwrap(),
        PayOutcome::Succeeded { .. }
    ));
    let id2 = h.attempt().await;
    match c.pay(&pay("13900000001", id2, 25_000)).await.unwrap() {
        PayOutcome::Failed {
            code,
            safe_to_retry_elsewhere,
            ..
        } => {
            assert_eq!(code, "LIMIT_EXCEEDED");
            assert!(safe_to_retry_elsewhere);
        }
        other => panic!("{other:?}"),
    }
    let id3 = h.attempt().await;
    assert!(matches!(
        c.pay(&pay("13900000002", id3, 25_000)).await.unwrap(),
        PayOutcome::Succeeded { .. }
    ));
    // Raising the limit lets the first phone pay again.
    h.behave(
        paycore_sandbox::codes::CARRIER,
        serde_json::json!({"monthly_limit": 60_000}),
    )
    .await;
    let id4 = h.attempt().await;
    assert!(matches!(
        c.pay(&pay("13900000001", id4, 25_000)).await.unwrap(),
        PayOutcome::Succeeded { .. }
    ));
    // The carrier confirms by notification too.
    let n = h
        .wait_notifications(paycore_sandbox::codes::CARRIER, id1, 1)
        .await;
    assert_eq!(n[0].result, NotifiedResult::Succeeded);
    let mut no_phone = pay("x", h.attempt().await, 100);
    no_phone.payer.phone = None;
    assert!(matches!(
        c.pay(&no_phone).await,
        Err(ChannelError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn quickpay_is_synchronous_and_misbehaves_on_request() {
    let h = Harness::start().await;
    let q = h.channel(paycore_sandbox::codes::QUICKPAY);
    let id = h.attempt().await;
    let PayOutcome::Succeeded {
        channel_txn_id,
        amount,
    } = q
        .pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, id, cny(5_000)))
        .await
        .unwrap()
    else {
        panic!("quick-pay answers at once");
    };
    assert_eq!(amount, cny(5_000));
    assert!(!channel_txn_id.is_empty());
    let usd = Money::from_minor(700, Currency::USD);
    assert!(matches!(
        q.pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, h.attempt().await, usd))
            .await
            .unwrap(),
        PayOutcome::Succeeded { .. }
    ));
    // A different amount under a used attempt id is refused, and is not safe to move.
    assert!(matches!(
        q.pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, id, cny(5_001)))
            .await
            .unwrap(),
        PayOutcome::Failed {
            safe_to_retry_elsewhere: false,
            ..
        }
    ));

    h.behave(
        paycore_sandbox::codes::QUICKPAY,
        serde_json::json!({"decline_rate": 1.0}),
    )
    .await;
    let declined = h.attempt().await;
    match q
        .pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, declined, cny(100)))
        .await
        .unwrap()
    {
        PayOutcome::Failed {
            code,
            safe_to_retry_elsewhere: true,
            ..
        } => assert_eq!(code, "DECLINED"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        q.query(&QueryRequest {
            attempt_id: declined,
            channel_txn_id: None
        })
        .await
        .unwrap(),
        QueryOutcome::Failed { .. }
    ));
    h.behave(
        paycore_sandbox::codes::QUICKPAY,
        serde_json::json!({"decline_rate": 0.5}),
    )
    .await;
    let mut declines = 0;
    for _ in 0..4 {
        if let PayOutcome::Failed { .. } = q
            .pay(&h.pay_request(
                paycore_sandbox::codes::QUICKPAY,
                h.attempt().await,
                cny(100),
            ))
            .await
            .unwrap()
        {
            declines += 1;
        }
    }
    assert_eq!(declines, 2);

    // Refused before processing: a bad behaviour is a 400 and changes nothing.
    let r = h
        .http
        .put(format!(
            "{}/sandbox/channels/{}/behaviour",
            h.base,
            paycore_sandbox::codes::QUICKPAY
        ))
        .json(&serde_json::json!({"decline_rate": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = h
        .http
        .put(format!("{}/sandbox/channels/nope/behaviour", h.base))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn unknown_result_means_the_channel_did_charge() {
    let h = Harness::start_with(Duration::from_millis(1500)).await;
    let q = h.channel(paycore_sandbox::codes::QUICKPAY);
    h.behave(
        paycore_sandbox::codes::QUICKPAY,
        serde_json::json!({"unknown_rate": 1.0, "unknown_hold_ms": 5000}),
    )
    .await;
    let id = h.attempt().await;
    match q
        .pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, id, cny(4_200)))
        .await
        .unwrap()
    {
        PayOutcome::Unknown { reason } => assert!(reason.contains("timeout"), "{reason}"),
        other => panic!("{other:?}"),
    }
    h.behave(paycore_sandbox::codes::QUICKPAY, serde_json::json!({}))
        .await;
    let outcome = q
        .query(&QueryRequest {
            attempt_id: id,
            channel_txn_id: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, QueryOutcome::Succeeded { amount, .. } if amount == cny(4_200)),
        "{outcome:?}"
    );

    // Latency beyond the client's timeout: a read-only call reports a timeout.
    h.behave(
        paycore_sandbox::codes::QUICKPAY,
        serde_json::json!({"latency_ms": 4000}),
    )
    .await;
    assert_eq!(
        q.query(&QueryRequest {
            attempt_id: id,
            channel_txn_id: None
        })
        .await,
        Err(ChannelError::Timeout)
    );
    h.behave(paycore_sandbox::codes::QUICKPAY, serde_json::json!({}))
        .await;

    // Nothing listening: certainly not charged, safe to try elsewhere.
    let dead = sandbox_connectors(
        "http://127.0.0.1:9",
        &h.db,
        &SystemClock,
        &vault(),
        &SandboxConnectorConfig::default(),
    )
    .await
    .unwrap();
    let dead = ChannelRegistry::from_connectors(dead)
        .get(paycore_sandbox::codes::QUICKPAY)
        .unwrap();
    assert!(matches!(
        dead.pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, h.attempt().await, cny(1)))
            .await
            .unwrap(),
        PayOutcome::Failed {
            safe_to_retry_elsewhere: true,
            ..
        }
    ));
    assert!(
        matches!(dead.query(&QueryRequest { attempt_id: id, channel_txn_id: None }).await,
        Err(e) if e.is_transient())
    );
}

#[tokio::test]
async fn notifications_are_duplicated_on_request_and_retried_until_accepted() {
    let h = Harness::start().await;
    let w = h.channel(paycore_sandbox::codes::WECHAT);
    h.behave(
        paycore_sandbox::codes::WECHAT,
        serde_json::json!({"duplicate_notifications": 1}),
    )
    .await;
    let id = h.attempt().await;
    let PayOutcome::Pending {
        next_action: Some(NextAction::QrCode { code }),
        ..
    } = w
        .pay(&h.pay_request(paycore_sandbox::codes::WECHAT, id, cny(300)))
        .await
        .unwrap()
    else {
        panic!()
    };
    h.http
        .post(format!("{}/sandbox/wallets/wechat/pay", h.base))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    let n = h
        .wait_notifications(paycore_sandbox::codes::WECHAT, id, 2)
        .await;
    assert_eq!(n[0].notify_id, n[1].notify_id);
    assert_eq!(n[0], n[1]);

    // The platform answers 500: the channel keeps trying, then stops once it gets a 2xx.
    h.behave(paycore_sandbox::codes::ALIPAY, serde_json::json!({}))
        .await;
    h.receiver.status.store(500, Ordering::SeqCst);
    let a = h.channel(paycore_sandbox::codes::ALIPAY);
    let id = h.attempt().await;
    let PayOutcome::Pending {
        next_action: Some(NextAction::QrCode { code }),
        ..
    } = a
        .pay(&h.pay_request(paycore_sandbox::codes::ALIPAY, id, cny(300)))
        .await
        .unwrap()
    else {
        panic!()
    };
    h.http
        .post(format!("{}/sandbox/wallets/alipay/pay", h.base))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    h.wait_notifications(paycore_sandbox::codes::ALIPAY, id, 2)
        .await;
    h.receiver.status.store(0, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row: (String,) = sqlx::query_as(
            "SELECT status FROM sandbox_notifications WHERE channel = 'sandbox-alipay'",
        )
        .fetch_one(h.db.reader())
        .await
        .unwrap();
        if row.0 == "delivered" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        h.notifications_for(paycore_sandbox::codes::ALIPAY, id)
            .await
            .len()
            >= 3
    );
}

#[tokio::test]
async fn settlement_files_carry_injected_differences() {
    let h = Harness::start().await;
    let q = h.channel(paycore_sandbox::codes::QUICKPAY);
    let mut ids = Vec::new();
    for amount in [1_000, 2_000, 3_000] {
        let id = h.attempt().await;
        assert!(matches!(
            q.pay(&h.pay_request(paycore_sandbox::codes::QUICKPAY, id, cny(amount)))
                .await
                .unwrap(),
            PayOutcome::Succeeded { .. }
        ));
        ids.push(id.to_string());
    }
    let exact = h.settlement(paycore_sandbox::codes::QUICKPAY).await;
    assert_eq!(
        exact
            .iter()
            .map(|l| l.attempt_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert_eq!(
        exact.iter().map(|l| l.amount.minor()).collect::<Vec<_>>(),
        [1_000, 2_000, 3_000]
    );

    h.behave(
        paycore_sandbox::codes::QUICKPAY,
        serde_json::json!({"settlement_differences":
        {"missing_lines": 1, "extra_lines": 1, "changed_amounts": 1, "amount_delta": 5}}),
    )
    .await;
    let lines = h.settlement(paycore_sandbox::codes::QUICKPAY).await;
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].attempt_id, ids[1]);
    assert_eq!(lines[0].amount, cny(2_005));
    assert_eq!(lines[1].amount, cny(3_000));
    assert!(lines[2].channel_txn_id.starts_with("XT"));
    assert!(!ids.contains(&lines[2].attempt_id));

    // The raw file over HTTP, as an operator downloads it.
    let day = time::OffsetDateTime::now_utc().date();
    let url = format!(
        "{}/sandbox/channels/{}/settlement-files/{}-{:02}-{:02}",
        h.base,
        paycore_sandbox::codes::QUICKPAY,
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    let r = h.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .starts_with("channel_txn_id,attempt_id,type,amount,currency,fee,time\n"));
    let r = h
        .http
        .get(format!(
            "{}/sandbox/channels/{}/settlement-files/22-1-1",
            h.base,
            paycore_sandbox::codes::QUICKPAY
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn channel_list_and_sms_inbox() {
    let h = Harness::start().await;
    let v: serde_json::Value = h
        .http
        .get(format!("{}/sandbox/channels", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names, paycore_sandbox::codes::ALL);
    assert_eq!(h.registry.codes().len(), 5);

    sms::record_sms(
        &h.db,
        &SystemClock,
        "13700000000",
        "Your code is 123456",
        Some("123456"),
    )
    .await
    .unwrap();
    sms::record_sms(
        &h.db,
        &SystemClock,
        "13700000000",
        "Your code is 654321",
        Some("654321"),
    )
    .await
    .unwrap();
    let v: serde_json::Value = h
        .http
        .get(format!("{}/sandbox/sms?phone=13700000000", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["messages"][0]["code"], "654321");
    assert_eq!(v["messages"][1]["code"], "123456");
    let v: serde_json::Value = h
        .http
        .get(format!("{}/sandbox/sms?phone=13900000000", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn late_and_out_of_order_notifications() {
    let h = Harness::start().await;
    let w = h.channel(paycore_sandbox::codes::WECHAT);
    let pay_by_qr = |id: BizId| {
        let h = &h;
        let w = w.clone();
        async move {
            let PayOutcome::Pending {
                next_action: Some(NextAction::QrCode { code }),
                ..
            } = w
                .pay(&h.pay_request(paycore_sandbox::codes::WECHAT, id, cny(300)))
                .await
                .unwrap()
            else {
                panic!("qr")
            };
            let r = h
                .http
                .post(format!("{}/sandbox/wallets/wechat/pay", h.base))
                .json(&serde_json::json!({"code": code}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };

    // Out of order: the first notification is held back, the second overtakes it.
    h.behave(
        paycore_sandbox::codes::WECHAT,
        serde_json::json!({"out_of_order": true}),
    )
    .await;
    let first = h.attempt().await;
    let second = h.attempt().await;
    pay_by_qr(first).await;
    pay_by_qr(second).await;
    h.wait_notifications(paycore_sandbox::codes::WECHAT, first, 1)
        .await;
    let order: Vec<BizId> = {
        let mut v = Vec::new();
        for m in h.raw_for(paycore_sandbox::codes::WECHAT) {
            v.push(w.parse_notification(&m).await.unwrap().attempt_id);
        }
        v
    };
    assert_eq!(order, [second, first]);

    // Late: paid at the wallet, the notification still waits; a query tells the truth.
    h.behave(
        paycore_sandbox::codes::WECHAT,
        serde_json::json!({"notification_delay_ms": 600_000}),
    )
    .await;
    let late = h.attempt().await;
    pay_by_qr(late).await;
    assert!(matches!(
        w.query(&QueryRequest {
            attempt_id: late,
            channel_txn_id: None
        })
        .await
        .unwrap(),
        QueryOutcome::Succeeded { .. }
    ));
    let (pending,): (i64,) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM sandbox_notifications WHERE status = 'pending' AND attempts = 0",
    )
    .fetch_one(h.db.reader())
    .await
    .unwrap();
    assert_eq!(pending, 1);
    assert!(h
        .notifications_for(paycore_sandbox::codes::WECHAT, late)
        .await
        .is_empty());
}

#[tokio::test]
async fn an_expired_order_can_no_longer_be_paid() {
    let h = Harness::start().await;
    let a = h.channel(paycore_sandbox::codes::ALIPAY);
    let id = h.attempt().await;
    let mut req = h.pay_request(paycore_sandbox::codes::ALIPAY, id, cny(100));
    req.expire_at = Some(time::OffsetDateTime::now_utc() - time::Duration::seconds(1));
    let PayOutcome::Pending {
        next_action: Some(NextAction::QrCode { code }),
        ..
    } = a.pay(&req).await.unwrap()
    else {
        panic!()
    };
    let r = h
        .http
        .post(format!("{}/sandbox/wallets/alipay/pay", h.base))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(matches!(
        a.query(&QueryRequest {
            attempt_id: id,
            channel_txn_id: None
        })
        .await
        .unwrap(),
        QueryOutcome::Canceled { .. }
    ));
}

/// The channels' keys are sealed at rest: the database never holds a shared secret or a
/// signing key in clear.
#[tokio::test]
async fn channel_keys_are_sealed_at_rest() {
    let h = Harness::start().await;
    let rows = sqlx::query("SELECT channel, shared_secret, signing_pkcs8 FROM sandbox_keys")
        .fetch_all(h.db.writer())
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        use sqlx::Row;
        let shared: String = r.try_get("shared_secret").unwrap();
        assert!(shared.starts_with("sealed:"), "{shared}");
        let signing: Option<String> = r.try_get("signing_pkcs8").unwrap();
        assert!(signing.is_none_or(|s| s.starts_with("sealed:")));
    }
}

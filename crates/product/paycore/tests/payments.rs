//! The payment flow end to end over HTTP: a merchant's signed calls, the sandbox channels'
//! pages, wallets and notifications, the merchant's own notification endpoint.

mod common;

use std::sync::{Arc, Mutex};

use axum::routing::post;
use common::*;
use paycore::testing::TestServer;
use serde_json::{json, Value};

/// The merchant's notify endpoint: records every delivery (headers and body).
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Delivery>>>);

type Delivery = (reqwest::header::HeaderMap, Vec<u8>);

impl Receiver {
    async fn start(&self) -> String {
        let rec = self.clone();
        let app = axum::Router::new().route(
            "/notify",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let rec = rec.clone();
                    async move {
                        let mut h = reqwest::header::HeaderMap::new();
                        for (k, v) in headers.iter() {
                            if let (Ok(k), Ok(v)) = (
                                reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()),
                                reqwest::header::HeaderValue::from_bytes(v.as_bytes()),
                            ) {
                                h.insert(k, v);
                            }
                        }
                        rec.0.lock().unwrap().push((h, body.to_vec()));
                        "ok"
                    }
                },
            ),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        url
    }

    fn bodies(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }
}

async fn shop(s: &TestServer) -> Merchant {
    let m = merchant(s, "HMAC-SHA256").await;
    for product in ["NET_BANK", "ALIPAY", "WECHAT", "PHONE_BILL"] {
        let (st, _) = admin(
            s,
            "POST",
            &format!("/admin/v1/merchants/{}/products", m.merchant_id),
            Some(json!({"product": product, "fee_rate_bps": 60})),
        )
        .await;
        assert_eq!(st, 200);
    }
    m
}

async fn pay(s: &TestServer, m: &Merchant, body: Value) -> Sent {
    send(s, m, "POST", "/v1/payments", body.to_string().as_bytes()).await
}

async fn get_payment(s: &TestServer, m: &Merchant, id: &str) -> Value {
    send(s, m, "GET", &format!("/v1/payments/{id}"), b"")
        .await
        .json()
}

#[tokio::test]
async fn net_bank_payment_by_the_bank_page_return_and_notification() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s).await;
    let rx = Receiver::default();
    let notify_url = rx.start().await;
    let r = pay(&s, &m, json!({"out_trade_no": "NB-1", "amount": 50000, "currency": "CNY", "subject": "Tea set",
        "product": "NET_BANK", "notify_url": notify_url, "return_url": "https://shop.example/done"})).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(verify_platform_signature(&s, &r).await);
    let p = r.json();
    assert_eq!(p["status"], "created");
    assert_eq!(p["fee"], 300);
    assert_eq!(p["next_action"]["type"], "redirect");
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    // The payer opens the bank page and presses Pay.
    let page_url = p["next_action"]["url"].as_str().unwrap().to_string();
    let page = http()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"pay\""), "{page}");
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let submitted = no_redirect
        .post(&page_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .unwrap();
    assert!(
        submitted.status().is_redirection(),
        "{}",
        submitted.status()
    );
    let back = submitted.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(back.contains("/channels/sandbox-netbank/return"), "{back}");
    // The browser comes back through paycore and on to the merchant.
    let returned = no_redirect.get(&back).send().await.unwrap();
    let status = returned.status();
    assert!(
        status.is_redirection(),
        "{status}: {}",
        returned.text().await.unwrap()
    );
    let returned = no_redirect.get(&back).send().await.unwrap();
    let to_merchant = returned.headers()["location"].to_str().unwrap();
    assert!(
        to_merchant.starts_with("https://shop.example/done?payment_id="),
        "{to_merchant}"
    );
    assert!(to_merchant.contains("status=succeeded"), "{to_merchant}");
    let p = get_payment(&s, &m, &id).await;
    assert_eq!(p["status"], "succeeded");
    // The bank's async notification arrives too; it changes nothing. The merchant is told once.
    eventually("the merchant's notification", || async {
        rx.bodies().iter().any(|b| b["type"] == "payment.succeeded")
    })
    .await;
    let events: Vec<Value> = rx
        .bodies()
        .into_iter()
        .filter(|b| b["data"]["id"] == id.as_str())
        .collect();
    let ids: std::collections::HashSet<_> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["status"], "succeeded");
    // The merchant has the body; the delivery is recorded right after its answer.
    eventually("the delivery recorded", || async {
        let history = send(
            &s,
            &m,
            "GET",
            &format!("/v1/notifications?object_id={id}"),
            b"",
        )
        .await
        .json();
        history["notifications"][0]["status"] == "delivered"
    })
    .await;
    // The outbox's subscriber counted it in the day's statistics.
    let day = time::OffsetDateTime::now_utc().date().to_string();
    eventually("the daily statistics", || async {
        let (_, report) = admin(
            &s,
            "GET",
            &format!("/admin/v1/reports/daily?day={day}"),
            None,
        )
        .await;
        report["rows"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["merchant_id"] == m.merchant_id.as_str()
                    && r["product"] == "NET_BANK"
                    && r["succeeded_count"] == 1
                    && r["succeeded_amount"] == 50000
                    && r["fee_amount"] == 300
            })
        })
    })
    .await;
    // The merchant's balance holds the amount less the fee.
    let bal = send(&s, &m, "GET", "/v1/balance", b"").await.json();
    assert_eq!(bal["balances"][0]["pending_settlement"], 49700, "{bal}");
}

#[tokio::test]
async fn wallet_qr_payments_complete_by_notification_and_query() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s).await;
    for (product, wallet) in [("ALIPAY", "alipay"), ("WECHAT", "wechat")] {
        let r = pay(&s, &m, json!({"out_trade_no": format!("QR-{wallet}"), "amount": 1234, "currency": "CNY", "subject": "Coffee", "product": product})).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let p = r.json();
        assert_eq!(p["next_action"]["type"], "qr_code", "{p}");
        let code = p["next_action"]["code"].as_str().unwrap();
        pay_code(&s.base_url, wallet, code).await;
        let id = p["id"].as_str().unwrap().to_string();
        eventually("the wallet's notification", || async {
            get_payment(&s, &m, &id).await["status"] == "succeeded"
        })
        .await;
    }
}

#[tokio::test]
async fn payment_requests_are_idempotent_and_bad_ones_refused() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s).await;
    let body = json!({"out_trade_no": "ID-1", "amount": 100, "currency": "CNY", "subject": "x", "product": "ALIPAY"});
    let first = pay(&s, &m, body.clone()).await;
    let again = pay(&s, &m, body.clone()).await;
    assert_eq!((first.status, again.status), (201, 200));
    assert_eq!(first.json()["id"], again.json()["id"]);
    let mut changed = body.clone();
    changed["amount"] = json!(101);
    let r = pay(&s, &m, changed).await;
    assert_eq!((r.status, r.code().as_str()), (409, "IDEMPOTENCY_CONFLICT"));
    let by_no = send(&s, &m, "GET", "/v1/payments?out_trade_no=ID-1", b"")
        .await
        .json();
    assert_eq!(by_no["id"], first.json()["id"]);
    // Another merchant cannot see it.
    let other = shop(&s).await;
    let r = send(
        &s,
        &other,
        "GET",
        &format!("/v1/payments/{}", first.json()["id"].as_str().unwrap()),
        b"",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));

    let base = json!({"out_trade_no": "BAD", "amount": 100, "currency": "CNY", "subject": "x", "product": "ALIPAY"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("amount", json!(0)), 400, "INVALID_REQUEST"),
        (with("amount", json!(-5)), 400, "INVALID_REQUEST"),
        (with("amount", json!(1.5)), 400, "INVALID_REQUEST"),
        (with("amount", json!("100")), 400, "INVALID_REQUEST"),
        (with("currency", json!("XYZ")), 400, "INVALID_REQUEST"),
        (with("product", json!("TELEPORT")), 400, "INVALID_REQUEST"),
        (with("out_trade_no", json!("")), 400, "INVALID_REQUEST"),
        (with("notify_url", json!("ftp://x")), 400, "INVALID_REQUEST"),
        // Notifications never go to the platform's own network (sandbox mode allows loopback
        // only, for the demo's receivers).
        (
            with("notify_url", json!("http://10.1.2.3/n")),
            400,
            "INVALID_REQUEST",
        ),
        (
            with(
                "notify_url",
                json!("http://169.254.169.254/latest/meta-data"),
            ),
            400,
            "INVALID_REQUEST",
        ),
        (
            with("notify_url", json!("http://[::ffff:a9fe:a9fe]/n")),
            400,
            "INVALID_REQUEST",
        ),
        (
            with("notify_url", json!("http://[fd00:ec2::254]/n")),
            400,
            "INVALID_REQUEST",
        ),
        (
            with("notify_url", json!("http://192.168.1.1:8080/admin")),
            400,
            "INVALID_REQUEST",
        ),
        (with("product", json!("AGREEMENT")), 400, "INVALID_REQUEST"),
        // The contract accepts CNY only.
        (with("currency", json!("USD")), 403, "PRODUCT_NOT_ENABLED"),
    ];
    for (body, status, code) in cases {
        let r = pay(&s, &m, body.clone()).await;
        assert_eq!((r.status, r.code().as_str()), (status, code), "{body}");
    }
    // Not contracted.
    let bare = merchant(&s, "HMAC-SHA256").await;
    let r = pay(&s, &bare, base.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (403, "PRODUCT_NOT_ENABLED"));
    // Outside the contract's limits.
    admin(
        &s,
        "POST",
        &format!("/admin/v1/merchants/{}/products", m.merchant_id),
        Some(json!({"product": "WECHAT", "fee_rate_bps": 60, "max_amount": 1000})),
    )
    .await;
    let r = pay(
        &s,
        &m,
        with("product", json!("WECHAT"))
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("amount".into(), json!(1001));
                Value::Object(o)
            })
            .unwrap(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (422, "LIMIT_EXCEEDED"));
    // A contract that accepts USD, for a product no channel offers in USD: a permanent refusal
    // that names what is offered, without the channels' internal names.
    admin(
        &s,
        "POST",
        &format!("/admin/v1/merchants/{}/products", m.merchant_id),
        Some(
            json!({"product": "ALIPAY", "fee_rate_bps": 60, "currencies": [
            {"currency": "CNY", "fixed_fee": 0, "min_amount": null, "max_amount": null},
            {"currency": "USD", "fixed_fee": 0, "min_amount": null, "max_amount": null}]}),
        ),
    )
    .await;
    let r = pay(&s, &m, with("currency", json!("USD"))).await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_REQUEST"));
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("takes CNY"), "{message}");
    assert!(!message.contains("sandbox-"), "{message}");
    // None of the refused requests left a payment behind.
    let r = send(&s, &m, "GET", "/v1/payments?out_trade_no=BAD", b"").await;
    assert_eq!(r.status, 404);
}

/// A channel's signed word counts for its own attempts only: a notification that names an
/// attempt another channel carries is refused and raises an alert.
#[tokio::test]
async fn a_channel_cannot_report_on_another_channels_attempt() {
    let s = TestServer::start_with(paycore::testing::Options {
        workers: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let m = shop(&s).await;
    let r = pay(&s, &m, json!({"out_trade_no": "WRONG-CH", "amount": 500, "currency": "CNY", "subject": "Tea", "product": "WECHAT"})).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    // The books say another channel carries this attempt; the wallet's notification comes
    // from the channel that really made it.
    sqlx::query("UPDATE channel_attempts SET channel = 'sandbox-alipay' WHERE payment_id = $1")
        .bind(&id)
        .execute(s.db.writer())
        .await
        .unwrap();
    pay_code(
        &s.base_url,
        "wechat",
        p["next_action"]["code"].as_str().unwrap(),
    )
    .await;
    eventually("the wrong-channel alert", || async {
        let (_, alerts) = admin(&s, "GET", "/admin/v1/alerts", None).await;
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "wrong_channel")
    })
    .await;
    assert_eq!(
        get_payment(&s, &m, &id).await["status"],
        p["status"],
        "unchanged: the notification was refused"
    );
}

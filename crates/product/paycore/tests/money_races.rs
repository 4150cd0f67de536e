//! Where money used to be lost: a refund slipping in while a cancel is at the channel, a charge
//! that arrives after the merchant closed its payment (whether the channel then applies the
//! close as a cancel or answers quickly again), concurrent refunds against a pending settlement
//! that covers only one, and contracts that silently skipped their limits in other currencies.
//! Each ends with the books as the money moved.

mod common;

use std::time::Duration;

use common::*;
use paycore::testing::{Options, TestServer};
use paycore_store::Row;
use serde_json::{json, Value};

fn options() -> Options {
    let mut o = Options::default();
    o.acquiring.query_back.steps_ms = vec![200, 400, 800];
    o.acquiring.query_back.then_every_ms = 1000;
    o.channel_timeout = Duration::from_secs(8);
    o
}

async fn shop(s: &TestServer, fee_rate_bps: u32) -> Merchant {
    let m = merchant(s, "HMAC-SHA256").await;
    for product in ["QUICK_PAY", "WECHAT"] {
        let (st, b) = admin(
            s,
            "POST",
            &format!("/admin/v1/merchants/{}/products", m.merchant_id),
            Some(json!({"product": product, "fee_rate_bps": fee_rate_bps})),
        )
        .await;
        assert_eq!(st, 200, "{b}");
    }
    m
}

async fn behave(s: &TestServer, channel: &str, b: Value) {
    let r = http()
        .put(format!(
            "{}/sandbox/channels/{channel}/behaviour",
            s.base_url
        ))
        .json(&b)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn post(s: &TestServer, m: &Merchant, path: &str, body: Value) -> Sent {
    send(s, m, "POST", path, body.to_string().as_bytes()).await
}

async fn quick_pay(s: &TestServer, m: &Merchant, no: &str, amount: i64) -> String {
    let r = post(
        s,
        m,
        "/v1/payments",
        json!({"out_trade_no": no, "amount": amount,
        "currency": "CNY", "subject": "tea", "product": "QUICK_PAY"}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (201, Some("succeeded")),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["id"].as_str().unwrap().to_string()
}

/// (status, refunded_amount, refunding_amount) of the payment row.
async fn row(s: &TestServer, id: &str) -> (String, i64, i64) {
    let r = sqlx::query(
        "SELECT status, refunded_amount, refunding_amount FROM payments WHERE payment_id = $1",
    )
    .bind(id)
    .fetch_one(s.platform.db.reader())
    .await
    .unwrap();
    (
        r.try_get("status").unwrap(),
        r.try_get("refunded_amount").unwrap(),
        r.try_get("refunding_amount").unwrap(),
    )
}

async fn posted(s: &TestServer, account: &str) -> i64 {
    s.platform
        .ledger
        .balance(account)
        .await
        .unwrap()
        .posted
        .minor()
}

/// The books balance and verify, whatever happened.
async fn books_hold(s: &TestServer) {
    let tb = s.platform.ledger.trial_balance(None).await.unwrap();
    assert!(tb.balanced(), "{}", tb.to_text());
    let v = s.platform.ledger.verify().await.unwrap();
    assert!(v.ok(), "{:?}", v.problems);
}

#[tokio::test]
async fn a_refund_cannot_slip_in_while_a_cancel_is_at_the_channel() {
    let s = TestServer::start_with(options()).await.unwrap();
    let m = shop(&s, 60).await;
    let id = quick_pay(&s, &m, "CR-1", 10_000).await;
    behave(&s, "sandbox-quickpay", json!({"latency_ms": 1500})).await;
    let cancel_path = format!("/v1/payments/{id}/cancel");
    let cancel = send(&s, &m, "POST", &cancel_path, b"");
    let refund_meanwhile = async {
        // The cancel has reserved the whole payment before it went to the channel.
        eventually("the cancel's reservation", || async {
            row(&s, &id).await.2 == 10_000
        })
        .await;
        post(
            &s,
            &m,
            "/v1/refunds",
            json!({"payment_id": id, "out_refund_no": "RF-1",
            "amount": 100}),
        )
        .await
    };
    let (c, r) = tokio::join!(cancel, refund_meanwhile);
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "AMOUNT_EXCEEDS_REFUNDABLE"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        (c.status, c.json()["status"].as_str()),
        (200, Some("canceled")),
        "{}",
        String::from_utf8_lossy(&c.body)
    );
    assert_eq!(row(&s, &id).await, ("canceled".to_string(), 0, 0));
    let refunds = s.state.acquiring.refunds_of(&id).await.unwrap();
    assert_eq!(refunds.len(), 1, "only the cancel went back: {refunds:?}");
    assert_eq!(refunds[0].kind.as_str(), "cancel");
    let pending = format!("224101:{}:CNY", m.merchant_id);
    assert_eq!(posted(&s, &pending).await, 0);
    books_hold(&s).await;
    // And the other way round: a cancel while a refund is in flight is refused at once.
    behave(&s, "sandbox-quickpay", json!({})).await;
    let id2 = quick_pay(&s, &m, "CR-2", 5_000).await;
    behave(&s, "sandbox-quickpay", json!({"latency_ms": 1500})).await;
    let body = json!({"payment_id": id2, "out_refund_no": "RF-2", "amount": 100}).to_string();
    let refund = send(&s, &m, "POST", "/v1/refunds", body.as_bytes());
    let cancel_meanwhile = async {
        eventually("the refund's reservation", || async {
            row(&s, &id2).await.2 == 100
        })
        .await;
        post(&s, &m, &format!("/v1/payments/{id2}/cancel"), json!({})).await
    };
    let (rf, c) = tokio::join!(refund, cancel_meanwhile);
    assert_eq!((c.status, c.code().as_str()), (409, "INVALID_STATE"));
    assert_eq!(rf.status, 201, "{}", String::from_utf8_lossy(&rf.body));
    assert_eq!(row(&s, &id2).await, ("succeeded".to_string(), 100, 0));
    books_hold(&s).await;
}

/// A WECHAT payment waiting for its payer.
async fn wechat(s: &TestServer, m: &Merchant, no: &str) -> (String, String) {
    behave(s, "sandbox-wechat", json!({})).await;
    let r = post(
        s,
        m,
        "/v1/payments",
        json!({"out_trade_no": no, "amount": 10_000,
        "currency": "CNY", "subject": "tea", "product": "WECHAT"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let code = r.json()["next_action"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    (id, code)
}

/// Once the merchant's close is committed (and on its way to the slow wallet), the payer pays.
async fn payer_pays_after_close(s: &TestServer, id: &str, code: &str) {
    eventually("the close", || async { row(s, id).await.0 == "closed" }).await;
    let paid = http()
        .post(format!("{}/sandbox/wallets/wechat/pay", s.base_url))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
}

/// Whatever the order, the payment stays closed, nothing is reserved, the late charge was given
/// back exactly once, and the platform's, the merchant's and the channel's books all say zero.
async fn ends_as_the_money_did(s: &TestServer, m: &Merchant, id: &str) {
    eventually("the late charge given back", || async {
        let r = s.state.acquiring.refunds_of(id).await.unwrap();
        r.len() == 1 && r[0].status.as_str() == "succeeded"
    })
    .await;
    assert_eq!(row(s, id).await, ("closed".to_string(), 0, 0));
    let r = s.state.acquiring.refunds_of(id).await.unwrap();
    assert_eq!(r[0].kind.as_str(), "auto");
    assert_eq!(posted(s, &format!("224101:{}:CNY", m.merchant_id)).await, 0);
    assert_eq!(
        posted(s, "112201:sandbox-wechat:CNY").await,
        0,
        "the channel owes us nothing"
    );
    let (st, b) = admin(s, "GET", "/admin/v1/channels/sandbox-wechat/balance", None).await;
    assert_eq!((st, b["amount"].as_i64()), (200, Some(0)), "{b}");
    let day = time::OffsetDateTime::now_utc().date();
    let bill = send(s, m, "GET", &format!("/v1/bills/{day}"), b"").await;
    let text = String::from_utf8_lossy(&bill.body).to_string();
    assert!(text.contains("late_charge,"), "{text}");
    assert!(text.contains("auto_refund,"), "{text}");
    let total: Vec<&str> = text.lines().last().unwrap().split(',').collect();
    assert_eq!(
        (total[4], total[7]),
        ("0", "0"),
        "the bill nets to the balance: {text}"
    );
    books_hold(s).await;
}

#[tokio::test]
async fn a_late_success_after_close_is_given_back_when_the_channel_cancels_it() {
    let s = TestServer::start_with(options()).await.unwrap();
    let m = shop(&s, 60).await;
    // The wallet stays slow: the automatic refund reaches it after the close, which the wallet
    // applied as a cancel of the charge (its file: pay, then cancel).
    let (id, code) = wechat(&s, &m, "LATE-1").await;
    behave(&s, "sandbox-wechat", json!({"latency_ms": 3000})).await;
    let close_path = format!("/v1/payments/{id}/close");
    let (c, ()) = tokio::join!(
        send(&s, &m, "POST", &close_path, b""),
        payer_pays_after_close(&s, &id, &code)
    );
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
    ends_as_the_money_did(&s, &m, &id).await;
}

#[tokio::test]
async fn a_late_success_after_close_is_given_back_when_the_channel_answers_fast_again() {
    let s = TestServer::start_with(options()).await.unwrap();
    let m = shop(&s, 60).await;
    let (id, code) = wechat(&s, &m, "LATE-2").await;
    behave(&s, "sandbox-wechat", json!({"latency_ms": 3000})).await;
    let close_path = format!("/v1/payments/{id}/close");
    // The wallet is fast again once the payer has paid: the automatic refund succeeds before
    // the slow close arrives, which the wallet then refuses (a refunded payment cannot be
    // canceled).
    let meanwhile = async {
        payer_pays_after_close(&s, &id, &code).await;
        behave(&s, "sandbox-wechat", json!({})).await;
        eventually("the automatic refund", || async {
            let r = s.state.acquiring.refunds_of(&id).await.unwrap();
            r.first().is_some_and(|r| r.status.as_str() == "succeeded")
        })
        .await;
    };
    let (c, ()) = tokio::join!(send(&s, &m, "POST", &close_path, b""), meanwhile);
    assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
    ends_as_the_money_did(&s, &m, &id).await;
}

#[tokio::test]
async fn concurrent_refunds_cannot_overdraw_the_pending_settlement() {
    let s = TestServer::start_with(options()).await.unwrap();
    let m = shop(&s, 0).await;
    for round in 0..4 {
        let a = quick_pay(&s, &m, &format!("OD-{round}-A"), 10_000).await;
        let b = quick_pay(&s, &m, &format!("OD-{round}-B"), 10_000).await;
        // Settle most of it away: the pending settlement covers one of the two refunds only.
        let pending = format!("224101:{}:CNY", m.merchant_id);
        let settle = posted(&s, &pending).await - 5_000;
        let ev = paycore_ledger::BusinessEvent::new(
            &format!("settle-{round}"),
            "SETTLE_TO_BALANCE",
            &format!("settlement-{round}"),
            paycore_kernel::Money::from_minor(settle, paycore_kernel::Currency::CNY),
        )
        .party("merchant", &m.merchant_id);
        s.platform.ledger.post_event(&ev).await.unwrap();
        let body = |id: &str, no: String| {
            json!({"payment_id": id, "out_refund_no": no, "amount": 5_000}).to_string()
        };
        let (ba, bb) = (
            body(&a, format!("OD-{round}-RA")),
            body(&b, format!("OD-{round}-RB")),
        );
        let (r1, r2) = tokio::join!(
            send(&s, &m, "POST", "/v1/refunds", ba.as_bytes()),
            send(&s, &m, "POST", "/v1/refunds", bb.as_bytes())
        );
        let mut outcomes = vec![(r1.status, r1.code()), (r2.status, r2.code())];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [
                (201, String::new()),
                (422, "INSUFFICIENT_BALANCE".to_string())
            ],
            "round {round}"
        );
        assert_eq!(posted(&s, &pending).await, 0, "round {round}");
    }
    books_hold(&s).await;
}

#[tokio::test]
async fn a_contract_names_its_currencies_each_with_its_fee_and_limits() {
    let s = TestServer::start_with(options()).await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let set = |body: Value| {
        let path = format!("/admin/v1/merchants/{}/products", m.merchant_id);
        let s = &s;
        async move { admin(s, "POST", &path, Some(body)).await }
    };
    let (st, c) = set(
        json!({"product": "QUICK_PAY", "fee_rate_bps": 100, "currencies": [
        {"currency": "CNY", "fixed_fee": 10, "min_amount": null, "max_amount": null},
        {"currency": "USD", "fixed_fee": 0, "min_amount": null, "max_amount": 500}]}),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["currencies"].as_array().unwrap().len(), 2);
    let pay = |no: &str, amount: i64, currency: &str| {
        post(
            &s,
            &m,
            "/v1/payments",
            json!({"out_trade_no": no, "amount": amount,
            "currency": currency, "subject": "tea", "product": "QUICK_PAY"}),
        )
    };
    // USD has its own limit and no fixed fee; CNY has its fixed fee.
    let r = pay("CUR-1", 600, "USD").await;
    assert_eq!((r.status, r.code().as_str()), (422, "LIMIT_EXCEEDED"));
    let r = pay("CUR-2", 400, "USD").await;
    assert_eq!(
        (r.status, r.json()["fee"].as_i64()),
        (201, Some(4)),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = pay("CUR-3", 1_000, "CNY").await;
    assert_eq!((r.status, r.json()["fee"].as_i64()), (201, Some(20)));
    // A currency the contract does not name is refused, with the accepted ones named.
    let r = pay("CUR-4", 1_000, "JPY").await;
    assert_eq!((r.status, r.code().as_str()), (403, "PRODUCT_NOT_ENABLED"));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("CNY, USD"));
    // Both the list and the single-currency fields at once is ambiguous.
    let (st, _) = set(json!({"product": "QUICK_PAY", "fee_rate_bps": 100, "fee_currency": "USD",
        "currencies": [{"currency": "CNY", "fixed_fee": 0, "min_amount": null, "max_amount": null}]}))
    .await;
    assert_eq!(st, 400);
}

//! Refunds, cancel, close and the unknown-result paths over HTTP, with misbehaving channels.

mod common;

use std::time::Duration;

use common::*;
use paycore::testing::{Options, TestServer};
use serde_json::{json, Value};

fn fast() -> Options {
    let mut o = Options::default();
    o.acquiring.query_back.steps_ms = vec![100, 200, 400, 800];
    o.acquiring.query_back.then_every_ms = 1000;
    o.channel_timeout = Duration::from_millis(700);
    o
}

async fn shop(s: &TestServer) -> Merchant {
    let m = merchant(s, "HMAC-SHA256").await;
    for product in ["NET_BANK", "ALIPAY", "WECHAT", "PHONE_BILL"] {
        let (st, _) = admin(
            s,
            "POST",
            &format!("/admin/v1/merchants/{}/products", m.merchant_id),
            Some(json!({"product": product, "fee_rate_bps": 100})),
        )
        .await;
        assert_eq!(st, 200);
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

async fn get(s: &TestServer, m: &Merchant, path: &str) -> Value {
    send(s, m, "GET", path, b"").await.json()
}

async fn refund(s: &TestServer, m: &Merchant, payment: &str, no: &str, amount: i64) -> Sent {
    send(
        s,
        m,
        "POST",
        "/v1/refunds",
        json!({"payment_id": payment, "out_refund_no": no, "amount": amount, "reason": "returned"})
            .to_string()
            .as_bytes(),
    )
    .await
}

#[tokio::test]
async fn refunds_are_partial_several_and_never_above_what_was_paid() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let id = paid(&s, &m, "R-1", 1000).await;
    let r1 = refund(&s, &m, &id, "RF-1", 300).await;
    assert_eq!(r1.status, 201, "{}", String::from_utf8_lossy(&r1.body));
    let rid = r1.json()["id"].as_str().unwrap().to_string();
    eventually("first refund", || async {
        get(&s, &m, &format!("/v1/refunds/{rid}")).await["status"] == "succeeded"
    })
    .await;
    // Same number, same fields: the same refund. Different fields: a conflict.
    let again = refund(&s, &m, &id, "RF-1", 300).await;
    assert_eq!(
        (again.status, again.json()["id"].as_str()),
        (200, Some(rid.as_str()))
    );
    let r = refund(&s, &m, &id, "RF-1", 301).await;
    assert_eq!((r.status, r.code().as_str()), (409, "IDEMPOTENCY_CONFLICT"));
    // Above what is left.
    let r = refund(&s, &m, &id, "RF-2", 701).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "AMOUNT_EXCEEDS_REFUNDABLE")
    );
    // Concurrent refunds of 100 over the 700 left: at most 7 go through.
    let (s, m) = (std::sync::Arc::new(s), std::sync::Arc::new(m));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (s, m, id) = (s.clone(), m.clone(), id.clone());
        set.spawn(async move {
            let r = refund(&s, &m, &id, &format!("RF-C{i}"), 100).await;
            (r.status, r.code())
        });
    }
    let mut statuses = Vec::new();
    while let Some(r) = set.join_next().await {
        statuses.push(r.unwrap());
    }
    let ok = statuses.iter().filter(|(st, _)| *st == 201).count();
    let refused = statuses
        .iter()
        .filter(|(st, c)| *st == 422 && c == "AMOUNT_EXCEEDS_REFUNDABLE")
        .count();
    assert_eq!((ok, refused), (7, 3), "{statuses:?}");
    eventually("all refunds final", || async {
        get(&s, &m, &format!("/v1/payments/{id}")).await["refunded_amount"] == 1000
    })
    .await;
    let r = refund(&s, &m, &id, "RF-X", 1).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "AMOUNT_EXCEEDS_REFUNDABLE")
    );
    // The fee went back in proportion: nothing is left on the merchant's pending settlement.
    let bal = get(&s, &m, "/v1/balance").await;
    assert_eq!(bal["balances"][0]["pending_settlement"], 0, "{bal}");
}

#[tokio::test]
async fn cancel_reverses_a_payment_of_the_day_in_full() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let id = paid(&s, &m, "C-1", 2000).await;
    let r = send(&s, &m, "POST", &format!("/v1/payments/{id}/cancel"), b"").await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("canceled")),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let again = send(&s, &m, "POST", &format!("/v1/payments/{id}/cancel"), b"").await;
    assert_eq!(again.json()["status"], "canceled");
    let r = refund(&s, &m, &id, "C-RF", 10).await;
    assert_eq!((r.status, r.code().as_str()), (409, "INVALID_STATE"));
    let bal = get(&s, &m, "/v1/balance").await;
    assert_eq!(bal["balances"][0]["pending_settlement"], 0, "{bal}");
    // Unpaid payments cannot be canceled; paid ones cannot be closed.
    let p2 = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "C-2", "amount": 10, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await.json();
    let r = send(
        &s,
        &m,
        "POST",
        &format!("/v1/payments/{}/cancel", p2["id"].as_str().unwrap()),
        b"",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (409, "INVALID_STATE"));
    let r = send(&s, &m, "POST", &format!("/v1/payments/{id}/close"), b"").await;
    assert_eq!((r.status, r.code().as_str()), (409, "INVALID_STATE"));
    // The day's bill shows the payment, its fee and its cancel.
    let day = time::OffsetDateTime::now_utc().date();
    let bill = send(&s, &m, "GET", &format!("/v1/bills/{day}"), b"").await;
    let text = String::from_utf8_lossy(&bill.body).to_string();
    assert!(text.starts_with("type,id,merchant_no"), "{text}");
    assert!(text.contains(&format!("payment,{id},C-1")), "{text}");
    assert!(text.contains(&format!("cancel,{id},C-1")), "{text}");
    assert!(text.lines().last().unwrap().starts_with("total,"), "{text}");
    let r = send(&s, &m, "GET", "/v1/bills/2026-13-01", b"").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_success_after_the_payment_ended_is_refunded_automatically() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let p = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "L-1", "amount": 777, "currency": "CNY", "subject": "x", "product": "WECHAT"}).to_string().as_bytes()).await.json();
    let id = p["id"].as_str().unwrap().to_string();
    let code = p["next_action"]["code"].as_str().unwrap().to_string();
    // Our side learns the attempt failed (as a channel may say before changing its mind)...
    let attempt: String = paycore_store::Row::try_get(
        &sqlx::query("SELECT attempt_id FROM payments WHERE payment_id = $1")
            .bind(&id)
            .fetch_one(s.platform.db.reader())
            .await
            .unwrap(),
        "attempt_id",
    )
    .unwrap();
    let failed = paycore_acquiring::ChannelResult::Failed {
        code: "SYSTEM_ERROR".into(),
        message: "try later".into(),
    };
    let after = s
        .state
        .acquiring
        .apply_payment_result(&attempt, failed, paycore_acquiring::ResultSource::Query)
        .await
        .unwrap();
    assert_eq!(after.status.as_str(), "failed");
    // ...and then the payer pays the QR code anyway: the wallet charges and notifies.
    let paid = http()
        .post(format!("{}/sandbox/wallets/wechat/pay", s.base_url))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_success(), "{}", paid.text().await.unwrap());
    eventually("the automatic refund", || async {
        let refunds = s.state.acquiring.refunds_of(&id).await.unwrap();
        refunds.len() == 1
            && refunds[0].kind.as_str() == "auto"
            && refunds[0].status.as_str() == "succeeded"
    })
    .await;
    assert_eq!(
        get(&s, &m, &format!("/v1/payments/{id}")).await["status"],
        "failed"
    );
    let (_, alerts) = admin(&s, "GET", "/admin/v1/alerts", None).await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "late_success"),
        "{alerts}"
    );
    let bal = get(&s, &m, "/v1/balance").await;
    assert_eq!(
        bal["balances"][0]["pending_settlement"], 0,
        "the merchant keeps nothing: {bal}"
    );
}

#[tokio::test]
async fn a_stale_success_after_a_cancel_changes_nothing() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    behave(&s, "sandbox-wechat", json!({"notification_delay_ms": 1500})).await;
    let p = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "S-1", "amount": 555, "currency": "CNY", "subject": "x", "product": "WECHAT"}).to_string().as_bytes()).await.json();
    let id = p["id"].as_str().unwrap().to_string();
    let code = p["next_action"]["code"].as_str().unwrap().to_string();
    http()
        .post(format!("{}/sandbox/wallets/wechat/pay", s.base_url))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    // Closed before the (delayed) success notification: the wallet reverses the charge.
    let r = send(&s, &m, "POST", &format!("/v1/payments/{id}/close"), b"").await;
    assert_eq!(
        r.json()["status"],
        "closed",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    eventually("the stale notification", || async {
        let (_, alerts) = admin(&s, "GET", "/admin/v1/alerts", None).await;
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "stale_success")
    })
    .await;
    assert!(s.state.acquiring.refunds_of(&id).await.unwrap().is_empty());
    assert_eq!(
        get(&s, &m, &format!("/v1/payments/{id}")).await["status"],
        "closed"
    );
}

#[tokio::test]
async fn an_unknown_result_is_queried_back_until_final() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    behave(
        &s,
        "sandbox-carrier",
        json!({"unknown_rate": 1.0, "unknown_hold_ms": 1500, "notification_delay_ms": 60000}),
    )
    .await;
    let r = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "U-1", "amount": 500, "currency": "CNY", "subject": "credit", "product": "PHONE_BILL", "payer": {"phone": "13800000000"}}).to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // The answer timed out; whether the payment is still processing or the query-back (the
    // notification is held back for a minute) already found the charge depends on timing.
    let status = r.json()["status"].as_str().unwrap().to_string();
    assert!(status == "processing" || status == "succeeded", "{status}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    eventually("query-back", || async {
        get(&s, &m, &format!("/v1/payments/{id}")).await["status"] == "succeeded"
    })
    .await;
    let sources: Vec<String> = sqlx::query(
        "SELECT actor FROM payment_history WHERE payment_id = $1 AND to_status = 'succeeded'",
    )
    .bind(&id)
    .fetch_all(s.platform.db.reader())
    .await
    .unwrap()
    .iter()
    .map(|r| paycore_store::Row::try_get(r, "actor").unwrap())
    .collect();
    assert_eq!(sources, ["query"], "the success came from the query-back");
    // Declines are final failures.
    behave(&s, "sandbox-carrier", json!({"decline_rate": 1.0})).await;
    let r = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "U-2", "amount": 500, "currency": "CNY", "subject": "credit", "product": "PHONE_BILL", "payer": {"phone": "13800000001"}}).to_string().as_bytes()).await;
    assert_eq!(
        r.json()["status"],
        "failed",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.json()["failure_code"].is_string());
}

#[tokio::test]
async fn forged_channel_notifications_are_recorded_never_applied() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let p = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "F-1", "amount": 900, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await.json();
    let id = p["id"].as_str().unwrap().to_string();
    let forged = json!({"out_trade_no": id, "trade_status": "TRADE_SUCCESS", "total_amount": "9.00", "sign": "AAAA"});
    let r = http()
        .post(format!("{}/channels/sandbox-alipay/notify", s.base_url))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!("{}/channels/sandbox-alipay/notify", s.base_url))
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!("{}/channels/no-such-channel/notify", s.base_url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        get(&s, &m, &format!("/v1/payments/{id}")).await["status"],
        "created"
    );
    let (_, alerts) = admin(&s, "GET", "/admin/v1/alerts", None).await;
    assert!(alerts["alerts"].as_array().unwrap().len() >= 2, "{alerts}");
}

#[tokio::test]
async fn cancel_is_only_for_the_payments_accounting_day() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let id = paid(&s, &m, "D-1", 3000).await;
    // Day-end closes the day (its checks pass on the books the payment wrote).
    let report = s.platform.ledger.day_end_now().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.closed.len(), 1);
    let r = send(&s, &m, "POST", &format!("/v1/payments/{id}/cancel"), b"").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "INVALID_STATE"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // A refund is the way now.
    let r = refund(&s, &m, &id, "D-RF", 3000).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn a_result_with_another_amount_is_an_alert_and_never_applied() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let p = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "A-1", "amount": 1000, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await.json();
    let id = p["id"].as_str().unwrap().to_string();
    let attempt: String = paycore_store::Row::try_get(
        &sqlx::query("SELECT attempt_id FROM payments WHERE payment_id = $1")
            .bind(&id)
            .fetch_one(s.platform.db.reader())
            .await
            .unwrap(),
        "attempt_id",
    )
    .unwrap();
    let cny = paycore_kernel::Currency::from_code("CNY").unwrap();
    let wrong = paycore_acquiring::ChannelResult::Succeeded {
        channel_txn_id: "T1".into(),
        amount: paycore_kernel::Money::from_minor(10, cny),
    };
    let err = s
        .state
        .acquiring
        .apply_payment_result(&attempt, wrong, paycore_acquiring::ResultSource::Notify)
        .await;
    assert!(err.is_err());
    assert_eq!(
        get(&s, &m, &format!("/v1/payments/{id}")).await["status"],
        "created"
    );
    let (_, alerts) = admin(&s, "GET", "/admin/v1/alerts", None).await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "amount_mismatch"),
        "{alerts}"
    );
}

#[tokio::test]
async fn operators_switch_channels_off_and_on() {
    let s = TestServer::start_with(fast()).await.unwrap();
    let m = shop(&s).await;
    let (st, off) = admin(
        &s,
        "POST",
        "/admin/v1/channels/sandbox-alipay",
        Some(json!({"enabled": false, "weight": 7})),
    )
    .await;
    assert_eq!(st, 200, "{off}");
    assert_eq!(
        (off["enabled"].as_bool(), off["weight"].as_u64()),
        (Some(false), Some(7)),
        "{off}"
    );
    let r = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "W-1", "amount": 100, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await;
    assert_eq!((r.status, r.code().as_str()), (503, "CHANNEL_UNAVAILABLE"));
    admin(
        &s,
        "POST",
        "/admin/v1/channels/sandbox-alipay",
        Some(json!({"enabled": true})),
    )
    .await;
    let r = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "W-1", "amount": 100, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (st, _) = admin(
        &s,
        "POST",
        "/admin/v1/channels/no-such",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(st, 404);
    let (st, list) = admin(&s, "GET", "/admin/v1/channels", None).await;
    assert_eq!(st, 200);
    assert_eq!(list["channels"].as_array().unwrap().len(), 5, "{list}");
    let (st, bal) = admin(&s, "GET", "/admin/v1/channels/sandbox-alipay/balance", None).await;
    assert_eq!((st, bal["currency"].as_str()), (200, Some("CNY")), "{bal}");
}

/// A clean stop does not wait out a slow channel: once the platform stops waiting, the call in
/// flight ends as a timeout would, the merchant's request answers `processing` at once, and
/// the attempt is handed to the query-back (which settles it after the restart).
#[tokio::test]
async fn a_stop_does_not_wait_for_a_slow_channel() {
    let mut o = fast();
    o.channel_timeout = Duration::from_secs(60);
    o.workers = false;
    let s = TestServer::start_with(o).await.unwrap();
    let m = shop(&s).await;
    behave(&s, "sandbox-alipay", json!({"latency_ms": 30_000})).await;
    let body = json!({"out_trade_no": "STOP-1", "amount": 500, "currency": "CNY", "subject": "x", "product": "ALIPAY"})
        .to_string();
    let started = std::time::Instant::now();
    let call = send(&s, &m, "POST", "/v1/payments", body.as_bytes());
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.state.acquiring.stop_waiting();
    };
    let (r, ()) = tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(call, stop) })
        .await
        .expect("the request still waits for the channel");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    assert_eq!(p["status"], "processing", "{p}");
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'acquiring.query' AND status = 'pending'",
    )
    .fetch_one(s.db.db.reader())
    .await
    .unwrap();
    let jobs: i64 = paycore_store::Row::try_get(&row, "n").unwrap();
    assert_eq!(jobs, 1, "the attempt is handed to the query-back");
}

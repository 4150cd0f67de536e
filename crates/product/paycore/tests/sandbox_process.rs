//! The sandbox channels as a process of their own (`paycore sandbox`): the platform calls them
//! over HTTP with the credentials file they wrote, their notifications come back to the
//! platform, and the platform itself serves no sandbox routes.

mod common;

use common::*;
use paycore::sandbox_cmd::SandboxProcess;
use paycore::testing::{Options, TestServer};
use serde_json::json;

#[tokio::test]
async fn a_separate_sandbox_charges_notifies_and_refunds() {
    let sandbox = SandboxProcess::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_paycore")))
        .await
        .unwrap();
    let s = TestServer::start_with(Options {
        sandbox_channels: Some(sandbox.credentials.clone()),
        ..Options::default()
    })
    .await
    .unwrap();
    assert_ne!(sandbox.credentials.base_url, s.base_url);
    // The platform no longer serves the sandbox.
    let own = http()
        .get(format!("{}/sandbox/channels", s.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 404);
    let m = merchant(&s, "HMAC-SHA256").await;
    for product in ["QUICK_PAY", "ALIPAY"] {
        let (st, _) = admin(
            &s,
            "POST",
            &format!("/admin/v1/merchants/{}/products", m.merchant_id),
            Some(json!({"product": product, "fee_rate_bps": 60})),
        )
        .await;
        assert_eq!(st, 200);
    }
    // A synchronous charge.
    let body = json!({"out_trade_no": "SB-1", "amount": 1000, "currency": "CNY", "subject": "x", "product": "QUICK_PAY"});
    let r = send(&s, &m, "POST", "/v1/payments", body.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "succeeded", "{}", r.json());
    // A wallet payment, paid on the sandbox's side, settled by its notification.
    let body = json!({"out_trade_no": "SB-2", "amount": 1234, "currency": "CNY", "subject": "x", "product": "ALIPAY"});
    let p = send(&s, &m, "POST", "/v1/payments", body.to_string().as_bytes())
        .await
        .json();
    let code = p["next_action"]["code"].as_str().unwrap();
    pay_code(&sandbox.credentials.base_url, "alipay", code).await;
    let id = p["id"].as_str().unwrap().to_string();
    eventually("the remote wallet's notification", || async {
        status_of(&s, &m, &format!("/v1/payments/{id}")).await == "succeeded"
    })
    .await;
    // A refund through the remote channel.
    let body =
        json!({"payment_id": id, "out_refund_no": "SBR-1", "amount": 234, "reason": "returned"});
    let r = send(&s, &m, "POST", "/v1/refunds", body.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let rid = r.json()["id"].as_str().unwrap().to_string();
    eventually("the refund", || async {
        status_of(&s, &m, &format!("/v1/refunds/{rid}")).await == "succeeded"
    })
    .await;
    // The sandbox keeps its own books: the platform's database has none of its orders.
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sandbox_orders")
        .fetch_one(s.platform.db.reader())
        .await
        .unwrap();
    assert_eq!(rows, 0);
    s.stop().await;
}

/// A refund and a cancel the channel never received (it is down) are not failed: they stay
/// `processing` and the query-back sends them again once the channel is back.
#[tokio::test]
async fn refunds_and_cancels_wait_for_a_channel_that_is_down() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_paycore"));
    let mut sandbox = SandboxProcess::spawn(exe).await.unwrap();
    let mut o = Options {
        sandbox_channels: Some(sandbox.credentials.clone()),
        ..Options::default()
    };
    o.acquiring.query_back.steps_ms = vec![100, 200, 400];
    o.acquiring.query_back.then_every_ms = 400;
    let s = TestServer::start_with(o).await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/admin/v1/merchants/{}/products", m.merchant_id),
        Some(json!({"product": "QUICK_PAY", "fee_rate_bps": 60})),
    )
    .await;
    assert_eq!(st, 200);
    let mut paid = Vec::new();
    for n in 1..=2 {
        let body = json!({"out_trade_no": format!("DOWN-{n}"), "amount": 1000, "currency": "CNY", "subject": "x", "product": "QUICK_PAY"});
        let r = send(&s, &m, "POST", "/v1/payments", body.to_string().as_bytes()).await;
        assert_eq!(r.json()["status"], "succeeded", "{}", r.json());
        paid.push(r.json()["id"].as_str().unwrap().to_string());
    }
    sandbox.kill().await.unwrap();
    let body = json!({"payment_id": paid[0], "out_refund_no": "DOWN-R", "amount": 400, "reason": "returned"});
    let r = send(&s, &m, "POST", "/v1/refunds", body.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "processing", "{}", r.json());
    let rid = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/payments/{}/cancel", paid[1]);
    let c = send(&s, &m, "POST", &path, b"{}").await;
    assert_eq!(
        (c.status, c.code().as_str()),
        (503, "CHANNEL_UNAVAILABLE"),
        "{}",
        String::from_utf8_lossy(&c.body)
    );
    // Several query-back rounds against the dead channel change nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        status_of(&s, &m, &format!("/v1/refunds/{rid}")).await,
        "processing"
    );
    assert_eq!(
        status_of(&s, &m, &format!("/v1/payments/{}", paid[1])).await,
        "succeeded"
    );
    sandbox.restart(exe).await.unwrap();
    eventually("the refund, sent again", || async {
        status_of(&s, &m, &format!("/v1/refunds/{rid}")).await == "succeeded"
    })
    .await;
    eventually("the cancel, sent again", || async {
        status_of(&s, &m, &format!("/v1/payments/{}", paid[1])).await == "canceled"
    })
    .await;
    s.stop().await;
}

//! The books through the operator API, after real payments: day-end, trial balance, balances,
//! statements, and verification that catches a tampered entry.

mod common;

use std::time::Duration;

use common::*;
use paycore::testing::TestServer;
use serde_json::json;

#[tokio::test]
async fn the_books_of_real_payments_balance_close_and_verify() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    admin(
        &s,
        "POST",
        &format!("/admin/v1/merchants/{}/products", m.merchant_id),
        Some(json!({"product": "ALIPAY", "fee_rate_bps": 60})),
    )
    .await;
    let p = send(&s, &m, "POST", "/v1/payments", json!({"out_trade_no": "B-1", "amount": 50000, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await.json();
    let code = p["next_action"]["code"].as_str().unwrap();
    http()
        .post(format!("{}/sandbox/wallets/alipay/pay", s.base_url))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    let id = p["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while send(&s, &m, "GET", &format!("/v1/payments/{id}"), b"")
        .await
        .json()["status"]
        != "succeeded"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "payment never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The merchant's pending settlement account: 500.00 less the 3.00 fee.
    let account = format!("224101:{}:CNY", m.merchant_id);
    let (st, bal) = admin(
        &s,
        "GET",
        &format!("/admin/v1/ledger/accounts/{account}"),
        None,
    )
    .await;
    assert_eq!(
        (st, bal["posted"]["minor"].as_i64()),
        (200, Some(49700)),
        "{bal}"
    );
    let (_, lines) = admin(
        &s,
        "GET",
        &format!("/admin/v1/ledger/accounts/{account}/statement"),
        None,
    )
    .await;
    assert_eq!(lines["lines"].as_array().unwrap().len(), 1, "{lines}");
    let (st, _) = admin(&s, "GET", "/admin/v1/ledger/accounts/nope", None).await;
    assert_eq!(st, 404);
    let (st, tb) = admin(&s, "GET", "/admin/v1/ledger/trial-balance", None).await;
    assert_eq!((st, tb["balanced"].as_bool()), (200, Some(true)), "{tb}");
    let text = http()
        .get(format!(
            "{}/admin/v1/ledger/trial-balance?format=text",
            s.base_url
        ))
        .bearer_auth(paycore::testing::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("224101"), "{text}");
    // Day-end closes today on request; running it again closes nothing more.
    let (st, first) = admin(
        &s,
        "POST",
        "/admin/v1/ledger/day-end",
        Some(json!({"now": true})),
    )
    .await;
    assert_eq!((st, first["ok"].as_bool()), (200, Some(true)), "{first}");
    let (st, again) = admin(&s, "POST", "/admin/v1/ledger/day-end", None).await;
    assert_eq!(
        (st, again["report"]["closed"].as_array().map(|a| a.len())),
        (200, Some(0)),
        "{again}"
    );
    let (_, v) = admin(&s, "GET", "/admin/v1/ledger/verify", None).await;
    assert_eq!(v["problems"].as_array().map(|p| p.len()), Some(0), "{v}");
    // Someone edits an entry behind the ledger's back: verify says so.
    sqlx::query("UPDATE ledger_entries SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM ledger_entries)")
        .execute(s.platform.db.writer())
        .await
        .unwrap();
    let (_, v) = admin(&s, "GET", "/admin/v1/ledger/verify", None).await;
    assert!(!v["problems"].as_array().unwrap().is_empty(), "{v}");
}

//! Paying at the cashier over HTTP (issue 10: P1, P7–P9, P11, S5, S14): a merchant's CASHIER
//! payment paid by a coupon, the balance and a bound card together; refunds back to the
//! instruments in order; a refused card gives everything back; parallel payments cannot
//! overspend a balance; credit lines paid, given back and repaid; the books balance.

mod common;

use common::*;
use paycore::testing::TestServer;
use serde_json::{json, Value};

/// A member with pay password `135790`; its id and token.
async fn member(s: &TestServer, phone: &str) -> (String, String) {
    let creds = json!({"phone": phone, "password": "cashier2026"});
    let (st, m) = call(s, "POST", "/v1/members", None, Some(creds.clone())).await;
    assert_eq!(st, 201, "{m}");
    let (_, t) = call(s, "POST", "/v1/members/login", None, Some(creds)).await;
    let token = t["token"].as_str().unwrap().to_string();
    let purpose = json!({"purpose": "pay_password"});
    call(s, "POST", "/v1/members/me/sms", Some(&token), Some(purpose)).await;
    let sms = newest_sms(s, phone).await;
    let body = json!({"pay_password": "135790", "sms_code": sms});
    let (st, b) = call(
        s,
        "PUT",
        "/v1/members/me/pay-password",
        Some(&token),
        Some(body),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    (m["member_id"].as_str().unwrap().to_string(), token)
}

async fn card(s: &TestServer, token: &str, phone: &str) -> String {
    let body = json!({"pan": "6222021234567890128", "holder_name": "张三", "expiry": "12/30", "phone": phone});
    let (st, c) = call(s, "POST", "/v1/members/me/cards", Some(token), Some(body)).await;
    assert_eq!(st, 201, "{c}");
    let id = c["card_id"].as_str().unwrap().to_string();
    let sms = json!({"sms_code": newest_sms(s, phone).await});
    let path = format!("/v1/members/me/cards/{id}/confirm");
    let (st, c) = call(s, "POST", &path, Some(token), Some(sms)).await;
    assert_eq!((st, c["status"].as_str()), (200, Some("bound")), "{c}");
    id
}

async fn top_up(s: &TestServer, token: &str, card_id: &str, no: &str, amount: i64) {
    let body = json!({"request_no": no, "amount": amount, "currency": "CNY", "card_id": card_id});
    let (st, t) = call(s, "POST", "/v1/members/me/top-ups", Some(token), Some(body)).await;
    assert_eq!((st, t["status"].as_str()), (201, Some("succeeded")), "{t}");
}

async fn shop(s: &TestServer, products: &[&str]) -> Merchant {
    let m = merchant(s, "HMAC-SHA256").await;
    for p in products {
        let path = format!("/admin/v1/merchants/{}/products", m.merchant_id);
        let body = json!({"product": p, "fee_rate_bps": 60});
        let (st, b) = admin(s, "POST", &path, Some(body)).await;
        assert_eq!(st, 200, "{b}");
    }
    m
}

async fn post(s: &TestServer, m: &Merchant, path: &str, body: Value) -> (u16, Value) {
    let r = send(s, m, "POST", path, body.to_string().as_bytes()).await;
    (r.status, r.json())
}

async fn payment(s: &TestServer, m: &Merchant, no: &str, amount: i64, extra: Value) -> Value {
    let mut body = json!({"out_trade_no": no, "amount": amount, "currency": "CNY",
        "subject": "Tea set", "product": "CASHIER"});
    if let Value::Object(e) = extra {
        body.as_object_mut().unwrap().extend(e);
    }
    let (st, p) = post(s, m, "/v1/payments", body).await;
    assert_eq!(st, 201, "{p}");
    p
}

async fn cny(s: &TestServer, token: &str) -> i64 {
    let (_, b) = call(s, "GET", "/v1/members/me/balance", Some(token), None).await;
    b["balances"][0]["available"].as_i64().unwrap()
}

/// The books verify, the wallet clearing nets to zero, and `bean-check` accepts the export
/// (money and coins, every account, the balance assertions).
async fn books_balance(s: &TestServer) {
    let (_, v) = admin(s, "GET", "/admin/v1/ledger/verify", None).await;
    assert_eq!(v["problems"].as_array().map(|p| p.len()), Some(0), "{v}");
    let (_, a) = admin(
        s,
        "GET",
        "/admin/v1/ledger/accounts/112201:wallet:CNY",
        None,
    )
    .await;
    assert_eq!(
        a["posted"]["minor"], 0,
        "the wallet clearing nets to zero: {a}"
    );
    let mut out = Vec::new();
    s.platform.ledger.export_beancount(&mut out).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.beancount");
    std::fs::write(&file, &out).unwrap();
    let check = std::process::Command::new("bean-check")
        .arg(&file)
        .output()
        .expect("bean-check must be installed (pip install beancount)");
    assert!(
        check.status.success(),
        "bean-check failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

async fn coupon(s: &TestServer, member_id: &str, value: i64) -> String {
    let tpl = json!({"kind": "FIXED", "value": value, "currency": "CNY", "valid_days": 30});
    let (st, t) = admin(s, "POST", "/admin/v1/coupon-templates", Some(tpl)).await;
    assert_eq!(st, 201, "{t}");
    let issue = json!({"template_id": t["template_id"], "member_id": member_id});
    let (st, c) = admin(s, "POST", "/admin/v1/coupons", Some(issue)).await;
    assert_eq!(st, 201, "{c}");
    c["coupon_id"].as_str().unwrap().to_string()
}

async fn refund(s: &TestServer, m: &Merchant, pid: &str, no: &str, amount: i64) -> Value {
    let body = json!({"payment_id": pid, "out_refund_no": no, "amount": amount});
    let (st, r) = post(s, m, "/v1/refunds", body).await;
    assert_eq!((st, r["status"].as_str()), (201, Some("succeeded")), "{r}");
    r
}

#[tokio::test]
async fn coupon_balance_and_card_pay_one_payment_and_refunds_go_back_in_order() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s, &["CASHIER"]).await;
    let (mid, token) = member(&s, "13600000001").await;
    let card_id = card(&s, &token, "13600000001").await;
    top_up(&s, &token, &card_id, "T-1", 10_000).await;
    let coupon_id = coupon(&s, &mid, 1_000).await;

    let p = payment(&s, &m, "CASH-1", 15_000, json!({})).await;
    let pid = p["id"].as_str().unwrap();
    assert_eq!(p["status"], "created");
    assert_eq!(p["channel"], "wallet");
    let url = p["next_action"]["url"].as_str().unwrap();
    assert_eq!(p["next_action"]["type"], "cashier");
    assert!(url.ends_with(&format!("/cashier/{pid}")), "{url}");

    let path = format!("/v1/members/me/payments/{pid}/methods");
    let (st, ways) = call(&s, "GET", &path, Some(&token), None).await;
    assert_eq!(st, 200, "{ways}");
    assert_eq!(ways["merchant_name"], "Test Shop");
    assert_eq!(ways["balance"]["available"], 10_000);
    assert_eq!(ways["balance"]["sufficient"], false);
    assert_eq!(ways["coupons"][0]["discount"], 1_000);
    assert_eq!(ways["cards"][0]["card_id"], card_id.as_str());

    let pay = format!("/v1/members/me/payments/{pid}/pay");
    // Instruments that do not add up change nothing.
    let short = json!({"request_no": "P-0", "pay_password": "135790", "instruments": [
        {"type": "BALANCE", "amount": 6_000}, {"type": "CARD", "card_id": card_id, "amount": 7_000}]});
    let (st, e) = call(&s, "POST", &pay, Some(&token), Some(short)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    // Without the pay password above the password-free limit: refused.
    let body = json!({"request_no": "P-1", "instruments": [
        {"type": "COUPON", "coupon_id": coupon_id},
        {"type": "BALANCE", "amount": 6_000},
        {"type": "CARD", "card_id": card_id, "amount": 8_000}]});
    let (st, _) = call(&s, "POST", &pay, Some(&token), Some(body.clone())).await;
    assert_eq!(st, 400);
    let mut body = body;
    body["pay_password"] = "135790".into();
    let (st, paid) = call(&s, "POST", &pay, Some(&token), Some(body.clone())).await;
    assert_eq!(
        (st, paid["status"].as_str()),
        (200, Some("succeeded")),
        "{paid}"
    );
    let kinds: Vec<&str> = paid["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["COUPON", "BALANCE", "CARD"], "{paid}");
    assert_eq!(cny(&s, &token).await, 4_000);
    // The same request again takes nothing again.
    let (st, again) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!((st, &again["id"]), (200, &paid["id"]));
    assert_eq!(cny(&s, &token).await, 4_000);
    books_balance(&s).await;

    // 50.00 back: all of it to the card (first in the refund order).
    refund(&s, &m, pid, "R-1", 5_000).await;
    assert_eq!(cny(&s, &token).await, 4_000);
    // A partial refund that would reach into the coupon's share is refused.
    let body = json!({"payment_id": pid, "out_refund_no": "R-2", "amount": 9_500});
    let (_, r) = post(&s, &m, "/v1/refunds", body).await;
    assert_eq!(r["status"], "failed", "{r}");
    // The rest: card 30.00, balance 60.00, and the coupon comes back.
    refund(&s, &m, pid, "R-3", 10_000).await;
    assert_eq!(cny(&s, &token).await, 10_000);
    let (_, list) = call(&s, "GET", "/v1/members/me/coupons", Some(&token), None).await;
    assert_eq!(list["coupons"][0]["status"], "available", "{list}");
    books_balance(&s).await;
}

#[tokio::test]
async fn a_refused_card_gives_every_part_back_and_the_payer_can_choose_again() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s, &["CASHIER"]).await;
    let (mid, token) = member(&s, "13600000002").await;
    let card_id = card(&s, &token, "13600000002").await;
    top_up(&s, &token, &card_id, "T-1", 5_000).await;
    let coupon_id = coupon(&s, &mid, 500).await;
    let p = payment(&s, &m, "CASH-2", 8_000, json!({})).await;
    let pid = p["id"].as_str().unwrap();
    let path = format!(
        "/sandbox/channels/{}/behaviour",
        paycore_sandbox::codes::QUICKPAY
    );
    let (st, b) = call(&s, "PUT", &path, None, Some(json!({"decline_rate": 1.0}))).await;
    assert_eq!(st, 200, "{b}");
    let pay = format!("/v1/members/me/payments/{pid}/pay");
    let body = json!({"request_no": "P-1", "pay_password": "135790", "instruments": [
        {"type": "COUPON", "coupon_id": coupon_id},
        {"type": "BALANCE", "amount": 4_500},
        {"type": "CARD", "card_id": card_id, "amount": 3_000}]});
    let (st, e) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("PAYMENT_DECLINED")),
        "{e}"
    );
    assert_eq!(cny(&s, &token).await, 5_000, "the balance part came back");
    let (_, list) = call(&s, "GET", "/v1/members/me/coupons", Some(&token), None).await;
    assert_eq!(list["coupons"][0]["status"], "available", "{list}");
    assert_eq!(
        status_of(&s, &m, &format!("/v1/payments/{pid}")).await,
        "created"
    );
    // More than the balance: refused, nothing taken.
    let body = json!({"request_no": "P-2", "pay_password": "135790",
        "instruments": [{"type": "BALANCE", "amount": 8_000}]});
    let (st, e) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("INSUFFICIENT_BALANCE")),
        "{e}"
    );
    // A payment for this member is not another member's to see or pay.
    let mine = payment(&s, &m, "CASH-3", 100, json!({"payer": {"member_id": mid}})).await;
    let (_, other) = member(&s, "13600000003").await;
    let path = format!(
        "/v1/members/me/payments/{}/methods",
        mine["id"].as_str().unwrap()
    );
    let (st, _) = call(&s, "GET", &path, Some(&other), None).await;
    assert_eq!(st, 404, "another member's payment is not shown");
    // The coupon with the balance pays it.
    let body = json!({"request_no": "P-3", "pay_password": "135790", "instruments": [
        {"type": "COUPON", "coupon_id": coupon_id}, {"type": "BALANCE", "amount": 7_500}]});
    let (st, e) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("INSUFFICIENT_BALANCE")),
        "{e}"
    );
    let body = json!({"request_no": "P-4", "pay_password": "135790", "instruments": [
        {"type": "COUPON", "coupon_id": coupon_id}, {"type": "BALANCE", "amount": 4_500},
        {"type": "CREDIT", "amount": 3_000}]});
    let (st, e) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("INSUFFICIENT_BALANCE")),
        "no credit line: {e}"
    );
    assert_eq!(cny(&s, &token).await, 5_000);
    books_balance(&s).await;
}

#[tokio::test]
async fn parallel_payments_cannot_overspend_the_balance() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s, &["CASHIER"]).await;
    let (_, token) = member(&s, "13600000004").await;
    let card_id = card(&s, &token, "13600000004").await;
    top_up(&s, &token, &card_id, "T-1", 10_000).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let p = payment(&s, &m, &format!("PAR-{i}"), 4_000, json!({})).await;
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, pid) in ids.iter().enumerate() {
        let (base, token, pid) = (s.base_url.clone(), token.clone(), pid.clone());
        set.spawn(async move {
            let body = json!({"request_no": format!("P-{i}"), "pay_password": "135790",
                "instruments": [{"type": "BALANCE", "amount": 4_000}]});
            let url = format!("{base}/v1/members/me/payments/{pid}/pay");
            let r = http()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        });
    }
    let mut codes = Vec::new();
    while let Some(st) = set.join_next().await {
        codes.push(st.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 422).count(), 2, "{codes:?}");
    assert_eq!(cny(&s, &token).await, 2_000);
    books_balance(&s).await;
}

#[tokio::test]
async fn credit_pays_comes_back_with_a_refund_and_is_repaid_from_the_balance() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s, &["CREDIT"]).await;
    let (mid, token) = member(&s, "13600000005").await;
    let card_id = card(&s, &token, "13600000005").await;
    top_up(&s, &token, &card_id, "T-1", 10_000).await;
    let path = format!("/admin/v1/members/{mid}/credit");
    let (st, line) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"limit": 50_000, "currency": "CNY"})),
    )
    .await;
    assert_eq!(
        (st, line["available"].as_i64()),
        (200, Some(50_000)),
        "{line}"
    );
    let p = payment(
        &s,
        &m,
        "CRED-1",
        30_000,
        json!({"product": "CREDIT", "payer": {"member_id": mid}}),
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    assert_eq!(p["next_action"]["type"], "cashier", "{p}");
    let pay = format!("/v1/members/me/payments/{pid}/pay");
    // A CREDIT payment is paid by credit only.
    let body = json!({"request_no": "P-0", "pay_password": "135790",
        "instruments": [{"type": "BALANCE", "amount": 30_000}]});
    let (st, _) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(st, 400);
    let body = json!({"request_no": "P-1", "pay_password": "135790",
        "instruments": [{"type": "CREDIT", "amount": 30_000}]});
    let (st, paid) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, paid["status"].as_str()),
        (200, Some("succeeded")),
        "{paid}"
    );
    let (_, b) = call(&s, "GET", "/v1/members/me/balance", Some(&token), None).await;
    assert_eq!(b["credit"]["used"], 30_000, "{b}");
    // Lowering the limit below what is used is refused.
    let (st, _) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"limit": 10_000, "currency": "CNY"})),
    )
    .await;
    assert_eq!(st, 400);
    refund(&s, &m, pid, "R-1", 10_000).await;
    let (_, b) = call(&s, "GET", "/v1/members/me/balance", Some(&token), None).await;
    assert_eq!(b["credit"]["used"], 20_000, "{b}");
    let repay = json!({"request_no": "R".repeat(64), "amount": 5_000, "currency": "CNY", "source": "BALANCE"});
    let (st, line) = call(
        &s,
        "POST",
        "/v1/members/me/credit/repayments",
        Some(&token),
        Some(repay.clone()),
    )
    .await;
    assert_eq!((st, line["used"].as_i64()), (200, Some(15_000)), "{line}");
    let (st, line) = call(
        &s,
        "POST",
        "/v1/members/me/credit/repayments",
        Some(&token),
        Some(repay),
    )
    .await;
    assert_eq!(
        (st, line["used"].as_i64()),
        (200, Some(15_000)),
        "repaid once: {line}"
    );
    assert_eq!(cny(&s, &token).await, 5_000);
    let (st, bills) = call(&s, "GET", "/v1/members/me/credit/bills", Some(&token), None).await;
    assert_eq!(st, 200);
    let bill = &bills["bills"][0];
    assert_eq!(
        (
            bill["spent"].as_i64(),
            bill["given_back"].as_i64(),
            bill["repaid"].as_i64(),
            bill["closing_used"].as_i64()
        ),
        (Some(30_000), Some(10_000), Some(5_000), Some(15_000)),
        "{bills}"
    );
    books_balance(&s).await;
}

#[tokio::test]
async fn risk_challenges_a_large_payment_until_the_sms_code_and_blocks_a_blacklisted_card() {
    // A clock the test moves: one SMS a minute goes to a phone.
    let clock = std::sync::Arc::new(paycore_kernel::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let opts = paycore::testing::Options {
        clock: clock.clone(),
        ..Default::default()
    };
    let s = TestServer::start_with(opts).await.unwrap();
    let m = shop(&s, &["CASHIER"]).await;
    let (_, token) = member(&s, "13600000006").await;
    let card_id = card(&s, &token, "13600000016").await;
    top_up(&s, &token, &card_id, "T-1", 20_000).await;
    let rule = json!({"name": "large payments confirm", "kind": "AMOUNT", "threshold": 5_000,
        "currency": "CNY", "action": "CHALLENGE"});
    let (st, r) = admin(&s, "POST", "/admin/v1/risk/rules", Some(rule)).await;
    assert_eq!(st, 201, "{r}");
    let block = json!({"name": "stolen cards", "kind": "BLACKLIST", "subject": "CARD",
        "values": [card_id], "action": "BLOCK"});
    let (st, _) = admin(&s, "POST", "/admin/v1/risk/rules", Some(block)).await;
    assert_eq!(st, 201);
    let bad = json!({"name": "no threshold", "kind": "AMOUNT", "action": "BLOCK"});
    let (st, _) = admin(&s, "POST", "/admin/v1/risk/rules", Some(bad)).await;
    assert_eq!(st, 400);
    let (_, list) = admin(&s, "GET", "/admin/v1/risk/rules", None).await;
    assert_eq!(list["rules"].as_array().map(Vec::len), Some(2), "{list}");

    clock.advance(time::Duration::seconds(61));
    let p = payment(&s, &m, "RISK-1", 6_000, json!({})).await;
    let pid = p["id"].as_str().unwrap();
    let pay = format!("/v1/members/me/payments/{pid}/pay");
    let body = json!({"request_no": "P-1", "pay_password": "135790",
        "instruments": [{"type": "BALANCE", "amount": 6_000}]});
    let (st, w) = call(&s, "POST", &pay, Some(&token), Some(body.clone())).await;
    assert_eq!(st, 200, "{w}");
    assert_eq!(
        (w["status"].as_str(), w["next_action"]["type"].as_str()),
        (Some("created"), Some("verify")),
        "{w}"
    );
    assert_eq!(w["next_action"]["method"], "sms");
    assert_eq!(
        cny(&s, &token).await,
        20_000,
        "nothing taken before the confirmation"
    );
    let (_, again) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        again["next_action"]["type"], "verify",
        "the same request waits: {again}"
    );
    let verify = format!("/v1/members/me/payments/{pid}/verify");
    let (st, e) = call(
        &s,
        "POST",
        &verify,
        Some(&token),
        Some(json!({"sms_code": "000000"})),
    )
    .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("VERIFICATION_FAILED")),
        "{e}"
    );
    let code = newest_sms(&s, "13600000006").await;
    let (st, paid) = call(
        &s,
        "POST",
        &verify,
        Some(&token),
        Some(json!({"sms_code": code})),
    )
    .await;
    assert_eq!(
        (st, paid["status"].as_str()),
        (200, Some("succeeded")),
        "{paid}"
    );
    assert_eq!(cny(&s, &token).await, 14_000);
    let (st, _) = call(
        &s,
        "POST",
        &verify,
        Some(&token),
        Some(json!({"sms_code": code})),
    )
    .await;
    assert_eq!(st, 409, "nothing waits any more");

    // A blacklisted card: refused, nothing taken.
    let p = payment(&s, &m, "RISK-2", 1_000, json!({})).await;
    let pay = format!("/v1/members/me/payments/{}/pay", p["id"].as_str().unwrap());
    let body = json!({"request_no": "P-2", "pay_password": "135790", "instruments": [
        {"type": "BALANCE", "amount": 500}, {"type": "CARD", "card_id": card_id, "amount": 500}]});
    let (st, e) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("RISK_REJECTED")),
        "{e}"
    );
    assert_eq!(cny(&s, &token).await, 14_000);
    books_balance(&s).await;
}

#[tokio::test]
async fn coins_are_granted_spent_on_a_payment_and_come_back_with_its_refund() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s, &["VIRTUAL_COIN", "CASHIER"]).await;
    let (mid, token) = member(&s, "13600000007").await;
    let path = format!("/admin/v1/members/{mid}/coins");
    // A request number of the longest kind (64 characters).
    let grant = json!({"request_no": "G".repeat(64), "coins": 5_000, "reason": "welcome"});
    let (st, c) = admin(&s, "POST", &path, Some(grant.clone())).await;
    assert_eq!((st, c["coins"].as_i64()), (200, Some(5_000)), "{c}");
    let (_, c) = admin(&s, "POST", &path, Some(grant)).await;
    assert_eq!(
        c["coins"], 5_000,
        "the same request_no issues nothing again"
    );
    let p = payment(
        &s,
        &m,
        "COIN-1",
        3_000,
        json!({"product": "VIRTUAL_COIN", "payer": {"member_id": mid}}),
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    let (_, ways) = call(
        &s,
        "GET",
        &format!("/v1/members/me/payments/{pid}/methods"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (
            ways["coins"]["coins"].as_i64(),
            ways["coins"]["available"].as_i64()
        ),
        (Some(5_000), Some(5_000)),
        "{ways}"
    );
    assert!(
        ways.get("balance").is_none(),
        "a VIRTUAL_COIN payment is paid by coins: {ways}"
    );
    let pay = format!("/v1/members/me/payments/{pid}/pay");
    let body = json!({"request_no": "P-1", "pay_password": "135790",
        "instruments": [{"type": "COIN", "amount": 3_000}]});
    let (st, paid) = call(&s, "POST", &pay, Some(&token), Some(body)).await;
    assert_eq!(
        (st, paid["status"].as_str()),
        (200, Some("succeeded")),
        "{paid}"
    );
    assert_eq!(paid["instruments"][0]["coins"], 3_000, "{paid}");
    let coins = |b: &Value| b["balances"][1]["available"].as_i64();
    let (_, b) = call(&s, "GET", "/v1/members/me/balance", Some(&token), None).await;
    assert_eq!(coins(&b), Some(2_000), "{b}");
    // More coins than held: refused, nothing taken.
    let p2 = payment(&s, &m, "COIN-2", 2_500, json!({})).await;
    let pay2 = format!("/v1/members/me/payments/{}/pay", p2["id"].as_str().unwrap());
    let body = json!({"request_no": "P-2", "pay_password": "135790",
        "instruments": [{"type": "COIN", "amount": 2_500}]});
    let (st, e) = call(&s, "POST", &pay2, Some(&token), Some(body)).await;
    assert_eq!((st, error_code(&e)), (422, "INSUFFICIENT_BALANCE"), "{e}");
    refund(&s, &m, pid, "R-1", 1_000).await;
    let (_, b) = call(&s, "GET", "/v1/members/me/balance", Some(&token), None).await;
    assert_eq!(coins(&b), Some(3_000), "{b}");
    books_balance(&s).await;
}

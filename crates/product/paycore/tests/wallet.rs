//! The wallet over HTTP (issue 10, P8 and S4): top-up from a bound card, transfers between
//! members, balances from the ledger; idempotent by request_no; never overspent in parallel.

mod common;

use common::{call, error_code, http, newest_sms};
use paycore::testing::TestServer;
use serde_json::json;

/// A member with a pay password (`135790`); its token.
async fn member(s: &TestServer, phone: &str) -> String {
    let creds = json!({"phone": phone, "password": "wallet2026"});
    assert_eq!(
        call(s, "POST", "/v1/members", None, Some(creds.clone()))
            .await
            .0,
        201
    );
    let (_, t) = call(s, "POST", "/v1/members/login", None, Some(creds)).await;
    let token = t["token"].as_str().unwrap().to_string();
    call(
        s,
        "POST",
        "/v1/members/me/sms",
        Some(&token),
        Some(json!({"purpose": "pay_password"})),
    )
    .await;
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
    token
}

/// Binds a card for the member; the card id.
async fn card(s: &TestServer, token: &str) -> String {
    let phone = "13812345670";
    let body = json!({"pan": "6222021234567890128", "holder_name": "张三", "expiry": "12/30", "phone": phone});
    let (st, c) = call(s, "POST", "/v1/members/me/cards", Some(token), Some(body)).await;
    assert_eq!(st, 201, "{c}");
    let id = c["card_id"].as_str().unwrap().to_string();
    let sms = newest_sms(s, phone).await;
    let path = format!("/v1/members/me/cards/{id}/confirm");
    let (st, c) = call(
        s,
        "POST",
        &path,
        Some(token),
        Some(json!({"sms_code": sms})),
    )
    .await;
    assert_eq!((st, c["status"].as_str()), (200, Some("bound")), "{c}");
    id
}

async fn cny(s: &TestServer, token: &str) -> (i64, i64) {
    let (st, b) = call(s, "GET", "/v1/members/me/balance", Some(token), None).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["balances"][1]["asset"], "XPC");
    let c = &b["balances"][0];
    assert_eq!(c["asset"], "CNY");
    (
        c["available"].as_i64().unwrap(),
        c["pending"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_member_tops_up_from_a_card_and_transfers_to_another() {
    let s = TestServer::start().await.unwrap();
    let alice = member(&s, "13900000001").await;
    let bob = member(&s, "13900000002").await;
    assert_eq!(cny(&s, &alice).await, (0, 0));
    let card_id = card(&s, &alice).await;
    let top = json!({"request_no": "T-1", "amount": 10000, "currency": "CNY", "card_id": card_id});
    let (st, t) = call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top.clone()),
    )
    .await;
    assert_eq!((st, t["status"].as_str()), (201, Some("succeeded")), "{t}");
    let (st, again) = call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top),
    )
    .await;
    assert_eq!(
        (st, &again["id"]),
        (200, &t["id"]),
        "the same request_no is the same top-up"
    );
    let other =
        json!({"request_no": "T-1", "amount": 20000, "currency": "CNY", "card_id": card_id});
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(other),
    )
    .await;
    assert_eq!((st, error_code(&b)), (409, "IDEMPOTENCY_CONFLICT"), "{b}");
    assert_eq!(cny(&s, &alice).await, (10000, 0), "charged once");
    // Bob's card is not Alice's.
    let bad = json!({"request_no": "T-2", "amount": 100, "currency": "CNY", "card_id": card_id});
    let (st, _) = call(&s, "POST", "/v1/members/me/top-ups", Some(&bob), Some(bad)).await;
    assert_eq!(st, 404);

    let transfer = |no: &str, amount: i64, pw: Option<&str>| {
        let mut b = json!({"request_no": no, "to_phone": "13900000002", "amount": amount, "currency": "CNY"});
        if let Some(p) = pw {
            b["pay_password"] = p.into();
        }
        b
    };
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/transfers",
        Some(&alice),
        Some(transfer("X-1", 3000, None)),
    )
    .await;
    assert_eq!(
        (st, error_code(&b)),
        (400, "INVALID_REQUEST"),
        "no password: {b}"
    );
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/transfers",
        Some(&alice),
        Some(transfer("X-1", 3000, Some("246802"))),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "VERIFICATION_FAILED"), "{b}");
    let (st, x) = call(
        &s,
        "POST",
        "/v1/members/me/transfers",
        Some(&alice),
        Some(transfer("X-1", 3000, Some("135790"))),
    )
    .await;
    assert_eq!((st, x["status"].as_str()), (201, Some("succeeded")), "{x}");
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/transfers",
        Some(&alice),
        Some(transfer("X-2", 7001, Some("135790"))),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "INSUFFICIENT_BALANCE"), "{b}");
    assert_eq!(cny(&s, &alice).await, (7000, 0));
    assert_eq!(cny(&s, &bob).await, (3000, 0));
    let ledger = s.state.acquiring.ledger();
    assert!(ledger.verify().await.unwrap().ok());
    assert!(ledger.trial_balance(None).await.unwrap().balanced());
}

/// Ten transfers of 30.00 at once from 100.00: three pass, the balance never goes below zero.
#[tokio::test]
async fn parallel_transfers_cannot_overspend_the_wallet() {
    let s = TestServer::start().await.unwrap();
    let alice = member(&s, "13900000003").await;
    member(&s, "13900000004").await;
    let card_id = card(&s, &alice).await;
    let top = json!({"request_no": "T-1", "amount": 10000, "currency": "CNY", "card_id": card_id});
    call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top),
    )
    .await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (base, token) = (s.base_url.clone(), alice.clone());
        set.spawn(async move {
            let body = json!({"request_no": format!("P-{i}"), "to_phone": "13900000004", "amount": 3000, "currency": "CNY", "pay_password": "135790"});
            http().post(format!("{base}/v1/members/me/transfers")).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16()
        });
    }
    let mut ok = 0;
    while let Some(st) = set.join_next().await {
        match st.unwrap() {
            201 => ok += 1,
            422 => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(cny(&s, &alice).await, (1000, 0));
}

/// The bank charges the card but answers too late: the top-up stays `processing`, credits
/// nothing, and the query-back finds the charge and credits it once.
#[tokio::test]
async fn a_top_up_the_bank_answered_late_is_queried_back() {
    let o = paycore::testing::Options {
        channel_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let s = TestServer::start_with(o).await.unwrap();
    let alice = member(&s, "13900000005").await;
    let card_id = card(&s, &alice).await;
    let slow = json!({"unknown_rate": 1.0, "unknown_hold_ms": 1500});
    let (st, b) = call(
        &s,
        "PUT",
        "/sandbox/channels/sandbox-quickpay/behaviour",
        None,
        Some(slow),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let top = json!({"request_no": "T-9", "amount": 2500, "currency": "CNY", "card_id": card_id});
    let (st, t) = call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top.clone()),
    )
    .await;
    assert_eq!((st, t["status"].as_str()), (201, Some("processing")), "{t}");
    assert_eq!(
        cny(&s, &alice).await,
        (0, 0),
        "nothing credited on an unknown result"
    );
    call(
        &s,
        "PUT",
        "/sandbox/channels/sandbox-quickpay/behaviour",
        None,
        Some(json!({})),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(s.state.funds.query_back(0).await.unwrap(), 1);
    assert_eq!(
        s.state.funds.query_back(0).await.unwrap(),
        0,
        "settled once"
    );
    let (_, again) = call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top),
    )
    .await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(cny(&s, &alice).await, (2500, 0));
}

/// A withdrawal holds the amount at once, the bank pays the card, the hold becomes the
/// withdrawal's vouchers; a declined payout gives the amount back; parallel withdrawals
/// cannot overdraw.
#[tokio::test]
async fn withdrawals_hold_then_pay_or_give_back() {
    let s = TestServer::start().await.unwrap();
    let alice = member(&s, "13900000006").await;
    let card_id = card(&s, &alice).await;
    let top = json!({"request_no": "T-1", "amount": 10000, "currency": "CNY", "card_id": card_id});
    call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top),
    )
    .await;
    let w = |no: &str, amount: i64, pw: &str| json!({"request_no": no, "card_id": card_id, "amount": amount, "currency": "CNY", "pay_password": pw});
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/withdrawals",
        Some(&alice),
        Some(w("W-1", 4000, "246802")),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "VERIFICATION_FAILED"), "{b}");
    let (st, o) = call(
        &s,
        "POST",
        "/v1/members/me/withdrawals",
        Some(&alice),
        Some(w("W-1", 4000, "135790")),
    )
    .await;
    assert_eq!((st, o["status"].as_str()), (201, Some("succeeded")), "{o}");
    assert_eq!(cny(&s, &alice).await, (6000, 0));
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/withdrawals",
        Some(&alice),
        Some(w("W-2", 6001, "135790")),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "INSUFFICIENT_BALANCE"), "{b}");
    // The bank declines: failed, the amount back in the wallet.
    let decline = json!({"decline_rate": 1.0});
    call(
        &s,
        "PUT",
        "/sandbox/channels/sandbox-quickpay/behaviour",
        None,
        Some(decline),
    )
    .await;
    let (st, o) = call(
        &s,
        "POST",
        "/v1/members/me/withdrawals",
        Some(&alice),
        Some(w("W-3", 1000, "135790")),
    )
    .await;
    assert_eq!(
        (st, o["status"].as_str(), o["fail_code"].as_str()),
        (201, Some("failed"), Some("PAYOUT_DECLINED")),
        "{o}"
    );
    assert_eq!(cny(&s, &alice).await, (6000, 0), "given back");
    call(
        &s,
        "PUT",
        "/sandbox/channels/sandbox-quickpay/behaviour",
        None,
        Some(json!({})),
    )
    .await;
    // Five withdrawals of 20.00 at once from 60.00: three pass.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..5 {
        let (base, token, body) = (
            s.base_url.clone(),
            alice.clone(),
            w(&format!("P-{i}"), 2000, "135790"),
        );
        set.spawn(async move {
            http()
                .post(format!("{base}/v1/members/me/withdrawals"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut ok = 0;
    while let Some(st) = set.join_next().await {
        match st.unwrap() {
            201 => ok += 1,
            422 => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(cny(&s, &alice).await, (0, 0));
    let ledger = s.state.acquiring.ledger();
    assert!(ledger.verify().await.unwrap().ok());
    assert!(ledger.trial_balance(None).await.unwrap().balanced());
}

/// Limits set by operators bound the wallet's movements: a transfer past the member's daily
/// limit is `LIMIT_EXCEEDED` and moves nothing; a declined withdrawal gives its share back.
#[tokio::test]
async fn the_members_limits_bound_transfers_and_withdrawals() {
    let s = TestServer::start().await.unwrap();
    let alice = member(&s, "13900000007").await;
    member(&s, "13900000008").await;
    let card_id = card(&s, &alice).await;
    let top = json!({"request_no": "T-1", "amount": 20000, "currency": "CNY", "card_id": card_id});
    call(
        &s,
        "POST",
        "/v1/members/me/top-ups",
        Some(&alice),
        Some(top),
    )
    .await;
    let (_, me) = call(&s, "GET", "/v1/members/me", Some(&alice), None).await;
    let member_id = me["member_id"].as_str().unwrap();
    let limit = json!({"scope": "MEMBER", "subject": member_id, "period": "DAY", "amount": 5000, "currency": "CNY"});
    let (st, q) = common::admin(&s, "POST", "/admin/v1/quotas", Some(limit)).await;
    assert_eq!(st, 200, "{q}");
    let t = |no: &str, amount: i64| json!({"request_no": no, "to_phone": "13900000008", "amount": amount, "currency": "CNY", "pay_password": "135790"});
    let (st, _) = call(
        &s,
        "POST",
        "/v1/members/me/transfers",
        Some(&alice),
        Some(t("X-1", 3000)),
    )
    .await;
    assert_eq!(st, 201);
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/transfers",
        Some(&alice),
        Some(t("X-2", 3000)),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "LIMIT_EXCEEDED"), "{b}");
    assert_eq!(
        cny(&s, &alice).await,
        (17000, 0),
        "nothing moved past the limit"
    );
    // A declined withdrawal releases the limit it took.
    call(
        &s,
        "PUT",
        "/sandbox/channels/sandbox-quickpay/behaviour",
        None,
        Some(json!({"decline_rate": 1.0})),
    )
    .await;
    let w = |no: &str, amount: i64| json!({"request_no": no, "card_id": card_id, "amount": amount, "currency": "CNY", "pay_password": "135790"});
    let (_, o) = call(
        &s,
        "POST",
        "/v1/members/me/withdrawals",
        Some(&alice),
        Some(w("W-1", 2000)),
    )
    .await;
    assert_eq!(o["status"], "failed", "{o}");
    call(
        &s,
        "PUT",
        "/sandbox/channels/sandbox-quickpay/behaviour",
        None,
        Some(json!({})),
    )
    .await;
    let (st, o) = call(
        &s,
        "POST",
        "/v1/members/me/withdrawals",
        Some(&alice),
        Some(w("W-2", 2000)),
    )
    .await;
    assert_eq!(
        (st, o["status"].as_str()),
        (201, Some("succeeded")),
        "the declined one gave its 20.00 back: {o}"
    );
    let (_, list) = common::admin(&s, "GET", "/admin/v1/quotas", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // A member whose wallet holds money is not closed.
    let close = format!("/admin/v1/members/{member_id}/status");
    let (st, b) = common::admin(&s, "POST", &close, Some(json!({"event": "close"}))).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("INVALID_STATE")),
        "{b}"
    );
}

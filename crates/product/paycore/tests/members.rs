//! The member (wallet) API over HTTP (issue 10, S8): registration, login and logout, one-time
//! codes from the sandbox SMS inbox, the pay password, the real-name check and the
//! password-free limit, each refusal with its code.

mod common;

use common::{call, error_code, newest_sms};
use paycore::testing::TestServer;
use serde_json::json;

/// The newest code the sandbox SMS inbox holds for `phone`.
const PHONE: &str = "13912345678";

async fn logged_in(s: &TestServer) -> String {
    let creds = json!({"phone": PHONE, "password": "wallet2026"});
    let (st, m) = call(s, "POST", "/v1/members", None, Some(creds.clone())).await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(
        (m["phone"].as_str(), m["status"].as_str()),
        (Some("139****5678"), Some("active"))
    );
    let (st, t) = call(s, "POST", "/v1/members/login", None, Some(creds)).await;
    assert_eq!(st, 200, "{t}");
    t["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_payer_registers_logs_in_and_sets_up_the_wallet() {
    let s = TestServer::start().await.unwrap();
    let token = logged_in(&s).await;
    let creds = json!({"phone": PHONE, "password": "other2026"});
    let (st, b) = call(&s, "POST", "/v1/members", None, Some(creds)).await;
    assert_eq!((st, error_code(&b)), (409, "INVALID_STATE"), "{b}");
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members",
        None,
        Some(json!({"phone": "12345", "password": "wallet2026"})),
    )
    .await;
    assert_eq!((st, error_code(&b)), (400, "INVALID_REQUEST"), "{b}");
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/login",
        None,
        Some(json!({"phone": PHONE, "password": "wrong2026"})),
    )
    .await;
    assert_eq!((st, error_code(&b)), (401, "UNAUTHENTICATED"), "{b}");

    let (st, me) = call(&s, "GET", "/v1/members/me", Some(&token), None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["phone"], "139****5678");
    assert_eq!(
        (
            me["has_pay_password"].as_bool(),
            me["real_name_verified"].as_bool()
        ),
        (Some(false), Some(false))
    );
    assert_eq!(
        me["password_free_limit"],
        json!({"amount": 0, "currency": "CNY"})
    );

    // The pay password needs a code sent for it; a wrong code is refused and changes nothing.
    let (st, sent) = call(
        &s,
        "POST",
        "/v1/members/me/sms",
        Some(&token),
        Some(json!({"purpose": "pay_password"})),
    )
    .await;
    assert_eq!(st, 200, "{sent}");
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/sms",
        Some(&token),
        Some(json!({"purpose": "pay_password"})),
    )
    .await;
    assert_eq!(
        (st, error_code(&b)),
        (429, "RATE_LIMITED"),
        "one a minute: {b}"
    );
    let sms = newest_sms(&s, PHONE).await;
    let wrong = if sms == "000000" { "000001" } else { "000000" };
    let set = |code: &str| json!({"pay_password": "135790", "sms_code": code});
    let (st, b) = call(
        &s,
        "PUT",
        "/v1/members/me/pay-password",
        Some(&token),
        Some(set(wrong)),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "VERIFICATION_FAILED"), "{b}");
    let (st, b) = call(
        &s,
        "PUT",
        "/v1/members/me/pay-password",
        Some(&token),
        Some(json!({"pay_password": "111111", "sms_code": sms})),
    )
    .await;
    assert_eq!((st, error_code(&b)), (400, "INVALID_REQUEST"), "{b}");
    let (st, me) = call(
        &s,
        "PUT",
        "/v1/members/me/pay-password",
        Some(&token),
        Some(set(&sms)),
    )
    .await;
    assert_eq!(
        (st, me["has_pay_password"].as_bool()),
        (200, Some(true)),
        "{me}"
    );
    let (st, b) = call(
        &s,
        "PUT",
        "/v1/members/me/pay-password",
        Some(&token),
        Some(set(&sms)),
    )
    .await;
    assert_eq!(
        (st, error_code(&b)),
        (422, "VERIFICATION_FAILED"),
        "a code is used once: {b}"
    );

    // Real name through the sandbox identity service (sequence 999 matches no one).
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/real-name",
        Some(&token),
        Some(json!({"name": "张三", "id_number": "110105194912319999"})),
    )
    .await;
    assert_eq!((st, error_code(&b)), (422, "VERIFICATION_FAILED"), "{b}");
    let (st, b) = call(
        &s,
        "POST",
        "/v1/members/me/real-name",
        Some(&token),
        Some(json!({"name": "张三", "id_number": "110105194912310021"})),
    )
    .await;
    assert_eq!(
        (st, error_code(&b)),
        (400, "INVALID_REQUEST"),
        "check digit: {b}"
    );
    let (st, me) = call(
        &s,
        "POST",
        "/v1/members/me/real-name",
        Some(&token),
        Some(json!({"name": "张三", "id_number": "11010519491231002X"})),
    )
    .await;
    assert_eq!(
        (st, me["real_name_verified"].as_bool()),
        (200, Some(true)),
        "{me}"
    );

    // The password-free limit: CNY, at most 2,000.00.
    let (st, me) = call(
        &s,
        "PUT",
        "/v1/members/me/password-free-limit",
        Some(&token),
        Some(json!({"amount": 50000, "currency": "CNY"})),
    )
    .await;
    assert_eq!(
        (st, me["password_free_limit"]["amount"].as_i64()),
        (200, Some(50000)),
        "{me}"
    );
    let (st, b) = call(
        &s,
        "PUT",
        "/v1/members/me/password-free-limit",
        Some(&token),
        Some(json!({"amount": 200001, "currency": "CNY"})),
    )
    .await;
    assert_eq!((st, error_code(&b)), (400, "INVALID_REQUEST"), "{b}");

    // Logout: the token stops working.
    let (st, _) = call(&s, "POST", "/v1/members/logout", Some(&token), None).await;
    assert_eq!(st, 204);
    let (st, b) = call(&s, "GET", "/v1/members/me", Some(&token), None).await;
    assert_eq!((st, error_code(&b)), (401, "UNAUTHENTICATED"), "{b}");
    let (st, b) = call(&s, "GET", "/v1/members/me", None, None).await;
    assert_eq!((st, error_code(&b)), (401, "UNAUTHENTICATED"), "{b}");
}

/// Neither passwords nor codes are kept in clear, and none is logged.
#[tokio::test]
async fn passwords_and_codes_are_never_stored_in_clear() {
    let s = TestServer::start().await.unwrap();
    let token = logged_in(&s).await;
    call(
        &s,
        "POST",
        "/v1/members/me/sms",
        Some(&token),
        Some(json!({"purpose": "pay_password"})),
    )
    .await;
    let sms = newest_sms(&s, PHONE).await;
    let (st, _) = call(
        &s,
        "PUT",
        "/v1/members/me/pay-password",
        Some(&token),
        Some(json!({"pay_password": "246813", "sms_code": sms})),
    )
    .await;
    assert_eq!(st, 200);
    let row = sqlx::query_as::<_, (String, String)>(
        "SELECT password_hash, pay_password_mac FROM members WHERE phone = $1",
    )
    .bind(PHONE)
    .fetch_one(s.db.db.reader())
    .await
    .unwrap();
    assert!(
        row.0.starts_with("argon2id$") && !row.0.contains("wallet2026"),
        "{}",
        row.0
    );
    assert!(!row.1.contains("246813") && row.1.len() == 64);
    let codes: Vec<String> = sqlx::query_scalar("SELECT code_mac FROM member_sms_codes")
        .fetch_all(s.db.db.reader())
        .await
        .unwrap();
    assert!(codes.iter().all(|c| c.len() == 64 && !c.contains(&sms)));
    let tokens: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM member_tokens")
        .fetch_all(s.db.db.reader())
        .await
        .unwrap();
    assert!(tokens.iter().all(|t| !t.contains(&token[3..])));
}

/// Operators freeze, unfreeze and close members: a frozen member's tokens stop and logins are
/// refused; closing needs an empty wallet.
#[tokio::test]
async fn operators_freeze_unfreeze_and_close_members() {
    let s = TestServer::start().await.unwrap();
    let token = logged_in(&s).await;
    let (_, me) = call(&s, "GET", "/v1/members/me", Some(&token), None).await;
    let id = me["member_id"].as_str().unwrap().to_string();
    let status = format!("/admin/v1/members/{id}/status");
    let (st, m) = common::admin(
        &s,
        "POST",
        &status,
        Some(json!({"event": "freeze", "reason": "fraud check"})),
    )
    .await;
    assert_eq!((st, m["status"].as_str()), (200, Some("frozen")), "{m}");
    let (st, _) = call(&s, "GET", "/v1/members/me", Some(&token), None).await;
    assert_eq!(st, 401, "a frozen member's token stops");
    let creds = json!({"phone": PHONE, "password": "wallet2026"});
    let (st, b) = call(&s, "POST", "/v1/members/login", None, Some(creds.clone())).await;
    assert_eq!((st, error_code(&b)), (403, "FORBIDDEN"), "{b}");
    let (st, b) = common::admin(&s, "POST", &status, Some(json!({"event": "freeze"}))).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("INVALID_STATE")),
        "{b}"
    );
    let (st, _) = common::admin(&s, "POST", &status, Some(json!({"event": "unfreeze"}))).await;
    assert_eq!(st, 200);
    let (st, _) = call(&s, "POST", "/v1/members/login", None, Some(creds)).await;
    assert_eq!(st, 200);
    let (st, m) = common::admin(&s, "GET", &format!("/admin/v1/members/{id}"), None).await;
    assert_eq!((st, m["status"].as_str()), (200, Some("active")));
    let (st, m) = common::admin(&s, "POST", &status, Some(json!({"event": "close"}))).await;
    assert_eq!(
        (st, m["status"].as_str()),
        (200, Some("closed")),
        "an empty wallet closes"
    );
    let (st, b) = common::admin(&s, "POST", &status, Some(json!({"event": "vanish"}))).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{b}"
    );
}

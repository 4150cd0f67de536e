//! The operator API: tokens and roles, merchants with KYB and status, keys, products with fee
//! plans, idempotent creation, the audit trail, and input refused without effect.

mod common;

use common::*;
use paycore::testing::{Options, TestServer, ADMIN_TOKEN};
use serde_json::json;

#[tokio::test]
async fn operators_need_a_token_and_viewers_only_read() {
    let s = TestServer::start().await.unwrap();
    let (st, b) = admin_as(&s, "wrong", "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let r = http()
        .get(format!("{}/admin/v1/merchants", s.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, viewer) = add_operator(&s, "viewer", "viewer").await;
    let (st, _) = admin_as(&s, &viewer, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(st, 200);
    let (st, b) = admin_as(
        &s,
        &viewer,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "x"})),
        None,
    )
    .await;
    assert_eq!((st, b["error"]["code"].as_str()), (403, Some("FORBIDDEN")));
    let (_, list) = admin(&s, "GET", "/admin/v1/merchants", None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "the refused create wrote nothing"
    );
}

#[tokio::test]
async fn merchant_lifecycle_with_kyb() {
    // Outside sandbox mode a merchant starts onboarding and needs its KYB to go live.
    let s = TestServer::start_with(Options {
        sandbox: false,
        ..Options::default()
    })
    .await
    .unwrap();
    let (st, m) = admin(
        &s,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "Shop", "kyb": {"country": "CN"}})),
    )
    .await;
    assert_eq!((st, m["status"].as_str()), (201, Some("onboarding")));
    let id = m["merchant_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    let status = format!("/admin/v1/merchants/{id}/status");
    let (st, b) = admin(&s, "POST", &status, Some(json!({"event": "activate"}))).await;
    assert_eq!(st, 400, "{b}");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("legal_name"));
    let (st, b) = admin(
        &s,
        "PATCH",
        &format!("/admin/v1/merchants/{id}"),
        Some(json!({"contact_email": "not-an-email"})),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    let kyb = json!({"legal_name": "Shop Ltd", "registration_number": "91310000", "contact_email": "ops@shop.example", "mcc": "5411"});
    let (st, b) = admin(&s, "PATCH", &format!("/admin/v1/merchants/{id}"), Some(kyb)).await;
    assert_eq!((st, b["kyb"]["country"].as_str()), (200, Some("CN")), "{b}");
    let (st, b) = admin(&s, "POST", &status, Some(json!({"event": "activate"}))).await;
    assert_eq!((st, b["status"].as_str()), (200, Some("active")), "{b}");
    let (st, b) = admin(&s, "POST", &status, Some(json!({"event": "explode"}))).await;
    assert_eq!(st, 400, "{b}");
    let history = s.platform.merchants.status_history(&id).await.unwrap();
    let moves: Vec<_> = history.iter().map(|h| (h.0.clone(), h.1.clone())).collect();
    assert_eq!(
        moves,
        vec![
            (None, "onboarding".into()),
            (Some("onboarding".into()), "active".into())
        ]
    );
    let (st, _) = admin(
        &s,
        "GET",
        "/admin/v1/merchants/20261122111010086600010000000999",
        None,
    )
    .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn keys_hmac_secret_is_shown_once_and_bad_keys_are_refused() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let keys_path = format!("/admin/v1/merchants/{}/keys", m.merchant_id);
    let (_, list) = admin(&s, "GET", &keys_path, None).await;
    assert!(list[0].get("secret").is_none(), "{list}");
    // The secret is stored sealed, never in clear.
    let (sealed_has_secret,): (bool,) = {
        let row = sqlx::query("SELECT secret_sealed FROM merchant_keys WHERE key_id = $1")
            .bind(&m.key_id)
            .fetch_one(s.platform.db.reader())
            .await
            .unwrap();
        let sealed: Vec<u8> = paycore_store::Row::try_get(&row, "secret_sealed").unwrap();
        let Signer::Hmac(secret) = &m.signer else {
            unreachable!()
        };
        (sealed.windows(secret.len()).any(|w| w == secret.as_slice()),)
    };
    assert!(!sealed_has_secret);

    const RSA_1024: &str = "-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDQw2SYtWp8adktVNvJzGJO2+39\nFK2nPL/HH0Ut0ZgqRgY5HtIRUayhMWeRuxgL+GJ/jXclYKDLQvTjCxSMAuXHy2Xk\nc/riLyMQiZgXUcxcBdVzZcuwN9wZvFxi1WFI0S2VK/3LEpqdIunVtpwtHWTwPojS\nTuvojq8muMf2ndvFHwIDAQAB\n-----END PUBLIC KEY-----\n";
    let (_, ed_pem) = new_ed25519();
    let bad = [
        json!({"algorithm": "RSA2", "public_key_pem": RSA_1024}),
        json!({"algorithm": "RSA2", "public_key_pem": ed_pem}),
        json!({"algorithm": "ED25519", "public_key_pem": "not a pem"}),
        json!({"algorithm": "ED25519"}),
        json!({"algorithm": "HMAC-SHA256", "public_key_pem": ed_pem}),
        json!({"algorithm": "DSA", "public_key_pem": ed_pem}),
        json!({"algorithm": 5}),
    ];
    for body in bad {
        let (st, b) = admin(&s, "POST", &keys_path, Some(body.clone())).await;
        assert_eq!(
            (st, b["error"]["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{body}: {b}"
        );
    }
    let (_, list) = admin(&s, "GET", &keys_path, None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "refused keys wrote nothing"
    );
    // Registering the same public key twice gives back the same key.
    let (st1, k1) = admin(
        &s,
        "POST",
        &keys_path,
        Some(json!({"algorithm": "ED25519", "public_key_pem": ed_pem})),
    )
    .await;
    let (st2, k2) = admin(
        &s,
        "POST",
        &keys_path,
        Some(json!({"algorithm": "ED25519", "public_key_pem": ed_pem})),
    )
    .await;
    assert_eq!((st1, st2), (201, 200));
    assert_eq!(k1["key_id"], k2["key_id"]);
}

#[tokio::test]
async fn products_and_fee_plans() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let path = format!("/admin/v1/merchants/{}/products", m.merchant_id);
    let (st, c) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": 10})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (
            c["version"].as_i64(),
            c["fee_currency"].as_str(),
            c["status"].as_str()
        ),
        (Some(1), Some("CNY"), Some("enabled"))
    );
    // Same terms: nothing changes. New terms: a new version.
    let (_, same) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": 10})),
    )
    .await;
    assert_eq!(same["version"], 1);
    let (_, v2) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"product": "NET_BANK", "fee_rate_bps": 45})),
    )
    .await;
    assert_eq!(
        (v2["version"].as_i64(), v2["fixed_fee"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(v2["contract_id"], c["contract_id"]);
    // Bad input: documented code, nothing written.
    let bad = [
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": "10"}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": 1.5}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": -1}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": 1_000_000_000_000_001i64}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "fixed_fee": i64::MAX}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "min_amount": 0}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "min_amount": 500, "max_amount": 100}),
        json!({"product": "NET_BANK", "fee_rate_bps": 10001}),
        json!({"product": "NET_BANK", "fee_rate_bps": -5}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "fee_currency": "XXX"}),
        json!({"product": "BITCOIN", "fee_rate_bps": 60}),
        json!({"product": "NET_BANK", "fee_rate_bps": 60, "surprise": true}),
        json!({"product": "NET_BANK"}),
    ];
    for body in bad {
        let (st, b) = admin(&s, "POST", &path, Some(body.clone())).await;
        assert_eq!(
            (st, b["error"]["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{body}: {b}"
        );
    }
    let raw = http()
        .post(format!("{}{}", s.base_url, path))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    // A body that is not declared as JSON is refused, not parsed anyway.
    let raw = http()
        .post(format!("{}{}", s.base_url, path))
        .bearer_auth(ADMIN_TOKEN)
        .body(json!({"product": "NET_BANK", "fee_rate_bps": 61}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 415);
    let b: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(b["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let (_, list) = admin(&s, "GET", &path, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["version"], 2, "refused requests changed nothing");
    // The merchant sees its products.
    let me = send(&s, &m, "GET", "/v1/merchant", b"").await.json();
    assert_eq!(me["products"][0]["product"], "NET_BANK");
    assert_eq!(me["products"][0]["fee_rate_bps"], 45);
}

#[tokio::test]
async fn idempotency_keys_replay_and_conflict_and_everything_is_audited() {
    let s = TestServer::start().await.unwrap();
    let body = json!({"name": "Scripted Shop"});
    let (st1, a) = admin_as(
        &s,
        ADMIN_TOKEN,
        "POST",
        "/admin/v1/merchants",
        Some(body.clone()),
        Some("deploy-1"),
    )
    .await;
    let (st2, b) = admin_as(
        &s,
        ADMIN_TOKEN,
        "POST",
        "/admin/v1/merchants",
        Some(body),
        Some("deploy-1"),
    )
    .await;
    assert_eq!((st1, st2), (201, 201));
    assert_eq!(a["merchant_id"], b["merchant_id"]);
    let (st, c) = admin_as(
        &s,
        ADMIN_TOKEN,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "Other"})),
        Some("deploy-1"),
    )
    .await;
    assert_eq!(
        (st, c["error"]["code"].as_str()),
        (409, Some("IDEMPOTENCY_CONFLICT"))
    );
    let (_, list) = admin(&s, "GET", "/admin/v1/merchants", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // A replayed HMAC key creation does not show the secret again.
    let id = a["merchant_id"].as_str().unwrap();
    let path = format!("/admin/v1/merchants/{id}/keys");
    let (_, k1) = admin_as(
        &s,
        ADMIN_TOKEN,
        "POST",
        &path,
        Some(json!({"algorithm": "HMAC-SHA256"})),
        Some("key-1"),
    )
    .await;
    let (_, k2) = admin_as(
        &s,
        ADMIN_TOKEN,
        "POST",
        &path,
        Some(json!({"algorithm": "HMAC-SHA256"})),
        Some("key-1"),
    )
    .await;
    assert!(k1["secret"].is_string());
    assert!(k2.get("secret").is_none());
    assert_eq!(k1["key_id"], k2["key_id"]);
    let (_, audit) = admin(&s, "GET", "/admin/v1/audit", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"POST /admin/v1/merchants"), "{actions:?}");
    assert!(actions.iter().any(|a| a.ends_with("/keys")), "{actions:?}");
    assert!(
        audit
            .to_string()
            .find(k1["secret"].as_str().unwrap())
            .is_none(),
        "no secret in the audit trail"
    );
}

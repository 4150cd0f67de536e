//! Agreements over HTTP (issue 10, M1/M4): a merchant asks, the member's SMS code confirms, the
//! merchant terminates; queried by id and by the merchant's number; each refusal with its code.

mod common;

use common::{admin, http, merchant, send, Merchant};
use paycore::testing::TestServer;
use serde_json::{json, Value};

const PHONE: &str = "13611112222";

async fn member(s: &TestServer) {
    let creds = json!({"phone": PHONE, "password": "agree2026x"});
    let r = http()
        .post(format!("{}/v1/members", s.base_url))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

async fn shop(s: &TestServer, contracted: bool) -> Merchant {
    let m = merchant(s, "HMAC-SHA256").await;
    if contracted {
        let path = format!("/admin/v1/merchants/{}/products", m.merchant_id);
        let (st, b) = admin(
            s,
            "POST",
            &path,
            Some(json!({"product": "AGREEMENT", "fee_rate_bps": 60})),
        )
        .await;
        assert_eq!(st, 200, "{b}");
    }
    m
}

async fn post(s: &TestServer, m: &Merchant, path: &str, body: Value) -> (u16, Value) {
    let r = send(s, m, "POST", path, body.to_string().as_bytes()).await;
    (r.status, r.json())
}

async fn sms(s: &TestServer) -> String {
    let r = http()
        .get(format!("{}/sandbox/sms?phone={PHONE}", s.base_url))
        .send()
        .await
        .unwrap();
    let inbox: Value = r.json().await.unwrap();
    inbox["messages"][0]["code"].as_str().unwrap().to_string()
}

fn ask(no: &str, max: i64) -> Value {
    json!({"out_agreement_no": no, "member_phone": PHONE, "max_amount": max, "currency": "CNY", "period": "MONTH"})
}

#[tokio::test]
async fn a_merchant_signs_with_the_members_code_and_terminates() {
    let s = TestServer::start().await.unwrap();
    member(&s).await;
    let m = shop(&s, true).await;
    let (st, a) = post(&s, &m, "/v1/agreements", ask("A-1", 50000)).await;
    assert_eq!((st, a["status"].as_str()), (201, Some("pending")), "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    let (st, again) = post(&s, &m, "/v1/agreements", ask("A-1", 50000)).await;
    assert_eq!(
        (st, &again["id"]),
        (200, &a["id"]),
        "the same number is the same agreement"
    );
    let (st, b) = post(&s, &m, "/v1/agreements", ask("A-1", 60000)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("IDEMPOTENCY_CONFLICT")),
        "{b}"
    );
    let code = sms(&s).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let confirm = format!("/v1/agreements/{id}/confirm");
    let (st, b) = post(&s, &m, &confirm, json!({"sms_code": wrong})).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (422, Some("VERIFICATION_FAILED")),
        "{b}"
    );
    let (st, a) = post(&s, &m, &confirm, json!({"sms_code": code})).await;
    assert_eq!((st, a["status"].as_str()), (200, Some("active")), "{a}");
    assert!(a["signed_at"].is_string());
    let got = send(&s, &m, "GET", &format!("/v1/agreements/{id}"), b"")
        .await
        .json();
    assert_eq!(got["status"], "active");
    let found = send(&s, &m, "GET", "/v1/agreements?out_agreement_no=A-1", b"")
        .await
        .json();
    assert_eq!(found["id"], id.as_str());
    // Another merchant sees nothing of it.
    let other = shop(&s, true).await;
    let r = send(&s, &other, "GET", &format!("/v1/agreements/{id}"), b"").await;
    assert_eq!(r.status, 404);
    let (st, a) = post(&s, &m, &format!("/v1/agreements/{id}/terminate"), json!({})).await;
    assert_eq!((st, a["status"].as_str()), (200, Some("terminated")), "{a}");
    let (st, b) = post(&s, &m, &confirm, json!({"sms_code": code})).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("INVALID_STATE")),
        "{b}"
    );
}

#[tokio::test]
async fn agreements_need_the_contract_a_known_member_and_the_members_card() {
    let s = TestServer::start().await.unwrap();
    member(&s).await;
    let plain = shop(&s, false).await;
    let (st, b) = post(&s, &plain, "/v1/agreements", ask("A-1", 100)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (403, Some("PRODUCT_NOT_ENABLED")),
        "{b}"
    );
    let m = shop(&s, true).await;
    let mut unknown = ask("A-2", 100);
    unknown["member_phone"] = "13699998888".into();
    let (st, b) = post(&s, &m, "/v1/agreements", unknown).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{b}"
    );
    let mut card = ask("A-3", 100);
    card["card_id"] = "20261204160000000000000000000001".into();
    let (st, b) = post(&s, &m, "/v1/agreements", card).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{b}"
    );
    let (st, b) = post(&s, &m, "/v1/agreements", ask("A-4", 0)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{b}"
    );
    let r = send(&s, &m, "GET", "/v1/agreements?out_agreement_no=nope", b"").await;
    assert_eq!(r.status, 404);
    // One never confirmed is ended by the housekeeping.
    let (st, a) = post(&s, &m, "/v1/agreements", ask("A-5", 100)).await;
    assert_eq!(st, 201, "{a}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        s.state.agreements.terminate_unconfirmed(0).await.unwrap(),
        1
    );
    let got = send(
        &s,
        &m,
        "GET",
        &format!("/v1/agreements/{}", a["id"].as_str().unwrap()),
        b"",
    )
    .await;
    assert_eq!(got.json()["status"], "terminated");
}

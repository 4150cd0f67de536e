//! Coupons over HTTP (issue 10, S14): operators define templates and issue coupons; a member
//! sees theirs with its status; refusals with their codes.

mod common;

use common::{add_operator, admin, admin_as, http};
use paycore::testing::TestServer;
use serde_json::{json, Value};

#[tokio::test]
async fn operators_issue_coupons_that_members_see() {
    let s = TestServer::start().await.unwrap();
    let creds = json!({"phone": "13711110000", "password": "coupon2026"});
    let r = http()
        .post(format!("{}/v1/members", s.base_url))
        .json(&creds)
        .send()
        .await
        .unwrap();
    let member: Value = r.json().await.unwrap();
    let member_id = member["member_id"].as_str().unwrap().to_string();
    let tpl = json!({"kind": "PERCENT", "value": 10, "cap": 2000, "threshold": 5000, "currency": "CNY", "valid_days": 30});
    let (_, op) = add_operator(&s, "olga", "operator").await;
    let (st, _) = admin_as(
        &s,
        &op,
        "POST",
        "/admin/v1/coupon-templates",
        Some(tpl.clone()),
        None,
    )
    .await;
    assert_eq!(st, 403, "coupons are money: the finance permission");
    let (st, t) = admin(&s, "POST", "/admin/v1/coupon-templates", Some(tpl)).await;
    assert_eq!((st, t["kind"].as_str()), (201, Some("PERCENT")), "{t}");
    let bad = json!({"kind": "PERCENT", "value": 150, "currency": "CNY", "valid_days": 30});
    let (st, b) = admin(&s, "POST", "/admin/v1/coupon-templates", Some(bad)).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{b}"
    );
    let issue = json!({"template_id": t["template_id"], "member_id": member_id});
    let (st, c) = admin(&s, "POST", "/admin/v1/coupons", Some(issue)).await;
    assert_eq!((st, c["status"].as_str()), (201, Some("available")), "{c}");
    let nobody =
        json!({"template_id": t["template_id"], "member_id": "20261204150000000000000000000009"});
    let (st, _) = admin(&s, "POST", "/admin/v1/coupons", Some(nobody)).await;
    assert_eq!(st, 400);
    let (_, login) = {
        let r = http()
            .post(format!("{}/v1/members/login", s.base_url))
            .json(&creds)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let token = login["token"].as_str().unwrap();
    let r = http()
        .get(format!("{}/v1/members/me/coupons", s.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    let coupons = list["coupons"].as_array().unwrap();
    assert_eq!(coupons.len(), 1, "{list}");
    assert_eq!(
        (coupons[0]["value"].as_i64(), coupons[0]["cap"].as_i64()),
        (Some(10), Some(2000))
    );
    assert_eq!(coupons[0]["coupon_id"], c["coupon_id"]);
}

//! Operator access (issue 9, §2): roles checked on every `/admin/v1` route from one declared
//! table, tokens that can be disabled, rotated and expire, the first-token variable replacing
//! rather than adding an admin, failed authentication throttled per client address, and every
//! call — succeeded, refused or forbidden — in the audit trail.

mod common;

use std::collections::BTreeSet;

use common::*;
use paycore::testing::{Options, TestServer, ADMIN_TOKEN};
use paycore_gateway::admin::ROUTES;
use paycore_operators::{Operators, Role};
use serde_json::{json, Value};

/// A route template with its parameters filled in with values that exist nowhere.
fn concrete(route: &str) -> String {
    route
        .split('/')
        .map(|seg| match seg {
            "{channel}" => "no-such-channel",
            s if s.starts_with('{') => "0000",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_is_checked_against_every_role() {
    // This test fails authentication on purpose for every route: no throttling here.
    let s = TestServer::start_with(Options::without_auth_throttle())
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let (_, token) = add_operator(&s, &format!("{}-1", role.as_str()), role.as_str()).await;
        tokens.push((role, token));
    }
    for (method, route, needed) in ROUTES {
        let path = concrete(route);
        let body = (*method != "GET").then(|| json!({}));
        let (st, b) = admin_as(&s, "not-a-token", method, &path, body.clone(), None).await;
        assert_eq!(st, 401, "{method} {route} without a valid token: {b}");
        for (role, token) in &tokens {
            let (st, b) = admin_as(&s, token, method, &path, body.clone(), None).await;
            let forbidden = st == 403 && b["error"]["code"] == "FORBIDDEN";
            assert_eq!(
                forbidden,
                !role.may(*needed),
                "{method} {route} as {}: {st} {b}",
                role.as_str()
            );
        }
    }
    // The table covers every operator route the server documents, and nothing else.
    let doc: &Value = &s.state.openapi;
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/admin/v1") {
            for method in ops.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let declared: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, r, _)| (m.to_string(), r.to_string()))
        .collect();
    assert_eq!(documented, declared);
}

#[tokio::test]
async fn disabled_rotated_and_expired_tokens_stop_working() {
    let s = TestServer::start().await.unwrap();
    let (id, token) = add_operator(&s, "alice", "operator").await;
    let (st, _) = admin_as(&s, &token, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(st, 200);
    // A second node over the same database, with its own cache of lookups.
    let other = Operators::new(s.db.db.clone());
    let now = paycore_kernel::Clock::unix_millis(&*s.platform.clock);
    assert!(other.find(&token, now).await.unwrap().is_some());

    // Rotate: the old token stops at once here, the new one works.
    let (st, r) = admin(
        &s,
        "POST",
        &format!("/admin/v1/operators/{id}/rotate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let rotated = r["token"].as_str().unwrap().to_string();
    assert_ne!(rotated, token);
    let (st, _) = admin_as(&s, &token, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(st, 401);
    let (st, _) = admin_as(&s, &rotated, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(st, 200);

    // Disable: refused here at once and on the other node within its cache time.
    assert!(other.find(&rotated, now).await.unwrap().is_some());
    let (st, d) = admin(
        &s,
        "POST",
        &format!("/admin/v1/operators/{id}/disable"),
        Some(json!({})),
    )
    .await;
    assert_eq!((st, d["status"].as_str()), (200, Some("disabled")), "{d}");
    let (st, b) = admin_as(&s, &rotated, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    tokio::time::sleep(paycore_operators::TOKEN_CACHE + std::time::Duration::from_millis(200))
        .await;
    assert!(
        other.find(&rotated, now).await.unwrap().is_none(),
        "still valid on the other node"
    );
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/admin/v1/operators/{id}/rotate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 409, "a disabled operator cannot be given a token");
    let (st, _) = admin(
        &s,
        "POST",
        "/admin/v1/operators/op_missing/disable",
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 404);

    // Expiry: a token past its date is refused.
    let (st, e) = admin(
        &s,
        "POST",
        "/admin/v1/operators",
        Some(json!({"name": "temp", "role": "viewer", "expires_in_days": 1})),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    let temp = e["token"].as_str().unwrap();
    assert!(e["expires_at"].is_string());
    assert!(other.find(temp, now).await.unwrap().is_some());
    assert!(other
        .find(temp, now + 2 * 86_400_000)
        .await
        .unwrap()
        .is_none());
    for bad in [
        json!({"name": "x", "role": "root"}),
        json!({"name": "x", "role": "viewer", "expires_in_days": 0}),
        json!({"name": "", "role": "viewer"}),
    ] {
        let (st, b) = admin(&s, "POST", "/admin/v1/operators", Some(bad.clone())).await;
        assert_eq!(
            (st, b["error"]["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{bad}"
        );
    }
    let (_, list) = admin(&s, "GET", "/admin/v1/operators", None).await;
    assert!(
        !list.to_string().contains(&rotated),
        "tokens are never listed"
    );
}

#[tokio::test]
async fn the_first_token_variable_replaces_the_first_admin() {
    let s = TestServer::start().await.unwrap();
    let ops = &s.state.operators;
    let first = |list: &[paycore_operators::Operator]| {
        list.iter()
            .filter(|o| {
                o.role == Role::Admin && o.status == paycore_operators::OperatorStatus::Active
            })
            .count()
    };
    let before = first(&ops.list().await.unwrap());
    let changed = "changed-admin-token-ABCDEFGHIJ";
    ops.set_first_token(changed, 1).await.unwrap();
    assert_eq!(first(&ops.list().await.unwrap()), before, "no second admin");
    let (st, _) = admin_as(&s, ADMIN_TOKEN, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(st, 401, "the earlier value no longer works");
    let (st, _) = admin_as(&s, changed, "GET", "/admin/v1/merchants", None, None).await;
    assert_eq!(st, 200);
    let weak = ops.set_first_token("admin", 2).await;
    assert!(weak.is_err(), "a weak first token is refused");
}

#[tokio::test]
async fn failed_authentication_is_throttled_and_every_call_is_audited() {
    let s = TestServer::start().await.unwrap();
    let (viewer_id, viewer) = add_operator(&s, "vera", "viewer").await;
    let (st, _) = admin_as(
        &s,
        &viewer,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "x"})),
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = admin_as(
        &s,
        "wrong-token",
        "GET",
        "/admin/v1/merchants/0000",
        None,
        None,
    )
    .await;
    assert_eq!(st, 401);
    let (_, audit) = admin(&s, "GET", "/admin/v1/audit", None).await;
    let rows = audit.as_array().unwrap();
    let forbidden = rows
        .iter()
        .find(|r| r["outcome"] == "403")
        .unwrap_or_else(|| panic!("no forbidden call audited: {audit}"));
    assert_eq!(forbidden["operator"], viewer_id.as_str());
    assert_eq!(forbidden["role"], "viewer");
    assert_eq!(forbidden["client_address"], "127.0.0.1");
    assert_eq!(forbidden["route"], "/admin/v1/merchants");
    let refused = rows.iter().find(|r| r["outcome"] == "401").unwrap();
    assert_eq!(refused["operator"], "-");
    assert_eq!(refused["route"], "/admin/v1/merchants/{merchant_id}");
    assert_eq!(refused["target"], "0000");

    // Ten failures from one address, then even a good token is held off for a while.
    for _ in 0..9 {
        let (st, _) = admin_as(&s, "wrong-token", "GET", "/admin/v1/merchants", None, None).await;
        assert_eq!(st, 401);
    }
    let (st, b) = admin(&s, "GET", "/admin/v1/merchants", None).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{b}"
    );
}

/// Concurrent writers of the audit trail never chain onto the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_audit_rows_stay_one_chain() {
    let s = TestServer::start().await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let st = s.state.clone();
        set.spawn(async move {
            let target = i.to_string();
            st.operators
                .audit(&paycore_operators::NewAudit {
                    operator: "op_test",
                    role: "admin",
                    client: "127.0.0.1",
                    action: "POST /x",
                    route: "/x",
                    target: &target,
                    outcome: "200",
                    detail: "",
                    at: i,
                })
                .await
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap().unwrap();
    }
    let check = s.state.operators.verify_audit().await.unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert!(check.rows >= 24);
}

/// Every call that changes data writes its audit row inside the change's own transaction
/// (outcome `ok`: the row committed with the change); a call that changed nothing is recorded
/// after it with the status it answered, and nothing else.
#[tokio::test]
async fn changes_and_their_audit_rows_commit_together() {
    let s = TestServer::start().await.unwrap();
    let (st, m) = admin(
        &s,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "Audited"})),
    )
    .await;
    assert_eq!(st, 201, "{m}");
    let id = m["merchant_id"].as_str().unwrap().to_string();
    let kyb = json!({"legal_name": "Shop Ltd", "registration_number": "91310000", "contact_email": "ops@shop.example", "mcc": "5411"});
    let (key_id, _) = common::add_key(&s, &id, "HMAC-SHA256").await;
    let (op_id, _) = add_operator(&s, "olga", "operator").await;
    let calls: Vec<(&str, String, Option<Value>, u16)> = vec![
        ("PATCH", format!("/admin/v1/merchants/{id}"), Some(kyb), 200),
        (
            "POST",
            format!("/admin/v1/merchants/{id}/keys/{key_id}/revoke"),
            None,
            200,
        ),
        (
            "POST",
            format!("/admin/v1/merchants/{id}/status"),
            Some(json!({"event": "freeze"})),
            200,
        ),
        (
            "POST",
            "/admin/v1/channels/sandbox-alipay".into(),
            Some(json!({"weight": 3})),
            200,
        ),
        (
            "POST",
            format!("/admin/v1/operators/{op_id}/rotate"),
            None,
            200,
        ),
        (
            "POST",
            format!("/admin/v1/operators/{op_id}/disable"),
            None,
            200,
        ),
        // Refused by the handler: it changes nothing.
        (
            "POST",
            format!("/admin/v1/merchants/{id}/status"),
            Some(json!({"event": "activate"})),
            409,
        ),
    ];
    for (method, path, body, want) in &calls {
        let (st, b) = admin(&s, method, path, body.clone()).await;
        assert_eq!(st, *want, "{method} {path}: {b}");
    }
    let (_, audit) = admin(&s, "GET", "/admin/v1/audit?limit=100", None).await;
    let rows = audit.as_array().unwrap();
    let outcomes = |action: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r["action"] == action)
            .map(|r| r["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(outcomes("POST /admin/v1/merchants"), ["ok"]);
    assert_eq!(
        outcomes(&format!("POST /admin/v1/merchants/{id}/keys")),
        ["ok"]
    );
    assert_eq!(outcomes("POST /admin/v1/operators"), ["ok"]);
    for (method, path, _, _) in calls.iter().filter(|c| !c.1.ends_with("/status")) {
        assert_eq!(
            outcomes(&format!("{method} {path}")),
            ["ok"],
            "{method} {path}"
        );
    }
    // The status path was called twice: the freeze committed, the refused activation did not.
    let status = outcomes(&format!("POST /admin/v1/merchants/{id}/status"));
    assert_eq!(status, ["409", "ok"], "newest first");
    // Reads change nothing: recorded with their status.
    assert!(
        outcomes("GET /admin/v1/audit").is_empty(),
        "this read is recorded after it"
    );
    let (_, again) = admin(&s, "GET", "/admin/v1/audit?limit=1", None).await;
    assert_eq!(again[0]["outcome"], "200", "{again}");
}

//! The signed open gateway through real HTTP: every algorithm accepted, every bad request
//! refused with its documented code and without effect, responses signed.

mod common;

use common::*;
use paycore::testing::{Options, TestServer};
use paycore_gateway::GatewayConfig;
use serde_json::json;

#[tokio::test]
async fn each_algorithm_signs_and_every_response_verifies() {
    let s = TestServer::start().await.unwrap();
    for alg in ["HMAC-SHA256", "ED25519", "RSA2", "RSA2-SPKI"] {
        let m = merchant(&s, alg).await;
        let r = send(&s, &m, "GET", "/v1/merchant", b"").await;
        assert_eq!(r.status, 200, "{alg}: {}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        assert_eq!(body["merchant_id"], m.merchant_id.as_str());
        assert_eq!(body["key_id"], m.key_id.as_str());
        assert!(
            verify_platform_signature(&s, &r).await,
            "{alg}: response signature"
        );
        // A body altered in transit no longer verifies.
        let mut forged = r;
        forged.body.push(b' ');
        assert!(!verify_platform_signature(&s, &forged).await);
    }
    // Error responses are signed too.
    let r = send_raw(&s, "GET", "/v1/merchant", None, vec![]).await;
    assert_eq!(r.status, 401);
    assert!(verify_platform_signature(&s, &r).await);
}

/// Every refusal of `api.md` and the issue, each with its code; afterwards the same nonce still
/// works, which proves the refused requests recorded nothing.
#[tokio::test]
async fn bad_requests_get_their_code_and_change_nothing() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "ED25519").await;
    let other = merchant(&s, "HMAC-SHA256").await;
    let ts = now();
    let n = nonce();
    let path = "/v1/merchant";
    let good_sig = m.signer.sign(&signed_string("GET", path, ts, &n, b""));
    let good = auth_header(&m, "ED25519", ts, &n, &good_sig);

    let mut cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no header", None, 401, "UNAUTHENTICATED"),
        (
            "other scheme",
            Some("Bearer abc".into()),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "unknown algorithm",
            Some(good.replace("PAYCORE-ED25519", "PAYCORE-MD5")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "missing signature",
            Some(good.split(",signature").next().unwrap().to_string()),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "short nonce",
            Some(good.replace(&n, "abc")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "unknown merchant",
            Some(good.replace(&m.merchant_id, "20261122111010086600010000000999")),
            401,
            "UNKNOWN_MERCHANT",
        ),
        (
            "unknown key",
            Some(good.replace(&m.key_id, "nokey")),
            401,
            "INVALID_SIGNATURE",
        ),
        (
            "another merchant's key",
            Some(good.replace(&m.key_id, &other.key_id)),
            401,
            "INVALID_SIGNATURE",
        ),
        (
            "wrong algorithm for the key",
            Some(good.replace("PAYCORE-ED25519", "PAYCORE-HMAC-SHA256")),
            401,
            "INVALID_SIGNATURE",
        ),
        (
            "bad base64",
            Some(good.replace("signature=\"", "signature=\"!!")),
            401,
            "INVALID_SIGNATURE",
        ),
    ];
    // A minute past the ±300 s window each way: a slow machine moving a second or two between
    // here and the server's check must not bring the request back into it.
    let stale_sig = m
        .signer
        .sign(&signed_string("GET", path, ts - 360, &n, b""));
    cases.push((
        "stale timestamp",
        Some(auth_header(&m, "ED25519", ts - 360, &n, &stale_sig)),
        401,
        "TIMESTAMP_OUT_OF_WINDOW",
    ));
    let future_sig = m
        .signer
        .sign(&signed_string("GET", path, ts + 360, &n, b""));
    cases.push((
        "future timestamp",
        Some(auth_header(&m, "ED25519", ts + 360, &n, &future_sig)),
        401,
        "TIMESTAMP_OUT_OF_WINDOW",
    ));
    let other_path = m
        .signer
        .sign(&signed_string("GET", "/v1/merchant?x=1", ts, &n, b""));
    cases.push((
        "signed another path",
        Some(auth_header(&m, "ED25519", ts, &n, &other_path)),
        401,
        "INVALID_SIGNATURE",
    ));
    for (name, auth, status, code) in cases {
        let r = send_raw(&s, "GET", path, auth, vec![]).await;
        assert_eq!((r.status, r.code().as_str()), (status, code), "{name}");
        assert!(r.json()["error"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()));
    }

    // Body altered after signing.
    let signed = m.signer.sign(&signed_string(
        "POST",
        "/v1/payments",
        ts,
        &n,
        b"{\"amount\":100}",
    ));
    let r = send_raw(
        &s,
        "POST",
        "/v1/payments",
        Some(auth_header(&m, "ED25519", ts, &n, &signed)),
        b"{\"amount\":900}".to_vec(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_SIGNATURE"));

    // Oversized body: refused before anything is read or recorded.
    let big = vec![b'x'; 64 * 1024 + 1];
    let sig = m
        .signer
        .sign(&signed_string("POST", "/v1/payments", ts, &n, &big));
    let r = send_raw(
        &s,
        "POST",
        "/v1/payments",
        Some(auth_header(&m, "ED25519", ts, &n, &sig)),
        big,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (413, "PAYLOAD_TOO_LARGE"));

    // None of the above consumed the nonce: the good request with it passes once, then is a replay.
    let r = send_raw(&s, "GET", path, Some(good.clone()), vec![]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = send_raw(&s, "GET", path, Some(good), vec![]).await;
    assert_eq!((r.status, r.code().as_str()), (401, "REPLAYED_NONCE"));
    // Nonces are per merchant: another merchant may use the same one.
    let r = send_at(&s, &other, "GET", path, b"", ts, &n).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_restart_does_not_reopen_the_replay_window() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let (ts, n) = (now(), nonce());
    assert_eq!(
        send_at(&s, &m, "GET", "/v1/merchant", b"", ts, &n)
            .await
            .status,
        200
    );
    let db = s.stop().await;
    let s = TestServer::start_on(db, Options::default()).await.unwrap();
    let r = send_at(&s, &m, "GET", "/v1/merchant", b"", ts, &n).await;
    assert_eq!((r.status, r.code().as_str()), (401, "REPLAYED_NONCE"));
    // Expired nonces are purged; the window check still refuses their requests.
    let purged = s.state.nonces.purge(ts + 302).await.unwrap();
    assert_eq!(purged, 1);
}

#[tokio::test]
async fn keys_rotate_and_revoked_keys_stop_working() {
    let s = TestServer::start().await.unwrap();
    let m1 = merchant(&s, "ED25519").await;
    let (k2, signer2) = add_key(&s, &m1.merchant_id, "RSA2").await;
    let m2 = Merchant {
        merchant_id: m1.merchant_id.clone(),
        key_id: k2.clone(),
        signer: signer2,
    };
    assert_eq!(send(&s, &m1, "GET", "/v1/merchant", b"").await.status, 200);
    let me = send(&s, &m2, "GET", "/v1/merchant", b"").await.json();
    assert_eq!(me["keys"].as_array().unwrap().len(), 2);
    let (st, k) = admin(
        &s,
        "POST",
        &format!(
            "/admin/v1/merchants/{}/keys/{}/revoke",
            m1.merchant_id, m1.key_id
        ),
        None,
    )
    .await;
    assert_eq!((st, k["status"].as_str()), (200, Some("revoked")));
    let r = send(&s, &m1, "GET", "/v1/merchant", b"").await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_SIGNATURE"));
    assert_eq!(send(&s, &m2, "GET", "/v1/merchant", b"").await.status, 200);
}

#[tokio::test]
async fn frozen_merchants_are_refused() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let path = format!("/admin/v1/merchants/{}/status", m.merchant_id);
    let (st, body) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"event": "freeze", "reason": "fraud review"})),
    )
    .await;
    assert_eq!((st, body["status"].as_str()), (200, Some("frozen")));
    let r = send(&s, &m, "GET", "/v1/merchant", b"").await;
    assert_eq!((r.status, r.code().as_str()), (403, "FORBIDDEN"));
    let (st, body) = admin(&s, "POST", &path, Some(json!({"event": "activate"}))).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (409, Some("INVALID_STATE"))
    );
    let (st, _) = admin(&s, "POST", &path, Some(json!({"event": "unfreeze"}))).await;
    assert_eq!(st, 200);
    assert_eq!(send(&s, &m, "GET", "/v1/merchant", b"").await.status, 200);
}

#[tokio::test]
async fn rate_limits_are_per_merchant() {
    let opts = Options {
        gateway: GatewayConfig {
            rate_per_second: 2,
            rate_burst: 5,
            ..GatewayConfig::default()
        },
        ..Options::default()
    };
    let s = TestServer::start_with(opts).await.unwrap();
    let busy = merchant(&s, "HMAC-SHA256").await;
    let calm = merchant(&s, "HMAC-SHA256").await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        let r = send(&s, &busy, "GET", "/v1/merchant", b"").await;
        codes.push((r.status, r.code()));
    }
    let limited = codes
        .iter()
        .filter(|(st, c)| *st == 429 && c == "RATE_LIMITED")
        .count();
    assert!(limited >= 5, "{codes:?}");
    assert!(codes.iter().take(5).all(|(st, _)| *st == 200), "{codes:?}");
    assert_eq!(
        send(&s, &calm, "GET", "/v1/merchant", b"").await.status,
        200
    );
}

#[tokio::test]
async fn unknown_v1_paths_are_not_found_after_authentication() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let r = send(&s, &m, "GET", "/v1/nothing-here", b"").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));
    assert!(verify_platform_signature(&s, &r).await);
}

#[tokio::test]
async fn tls_serves_the_same_api() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let opts = Options {
        tls: Some(paycore_gateway::TlsFiles { cert, key }),
        gateway: paycore_gateway::GatewayConfig {
            connections: paycore_gateway::ConnectionLimits {
                handshake: std::time::Duration::from_secs(1),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Options::default()
    };
    let s = TestServer::start_with(opts).await.unwrap();
    assert!(s.base_url.starts_with("https://"));
    let m = merchant(&s, "ED25519").await;
    let r = send(&s, &m, "GET", "/v1/merchant", b"").await;
    assert_eq!(r.status, 200);
    assert!(verify_platform_signature(&s, &r).await);
    // Plain HTTP to the TLS port gets no answer.
    let plain = http()
        .get(format!("http://{}/healthz", s.addr))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A connection that never starts its handshake is cut after the handshake timeout.
    use tokio::io::AsyncReadExt;
    let mut idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(4), idle.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection was not cut: {read:?}"
    );
}

#[tokio::test]
async fn service_endpoints() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    send(&s, &m, "GET", "/v1/merchant", b"").await;
    let get = |p: &str| http().get(format!("{}{}", s.base_url, p)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["database"], s.platform.db.engine().as_str());
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("paycore_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/v1/merchant\""), "{metrics}");
    assert!(metrics.contains("paycore_http_request_duration_seconds"));
    assert!(metrics.contains("paycore_db_pool_connections"));
    let doc: serde_json::Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    for p in [
        "/v1/merchant",
        "/v1/platform/keys",
        "/admin/v1/merchants",
        "/admin/v1/merchants/{merchant_id}/keys",
        "/admin/v1/merchants/{merchant_id}/products",
    ] {
        assert!(doc["paths"][p].is_object(), "openapi lacks {p}");
    }
    // The database going away makes the node unready.
    s.platform.db.close().await;
    assert_eq!(get("/readyz").await.unwrap().status(), 503);
}

/// NUL characters are refused at the door, in the path, the query and the body, with the same
/// answer on both engines (PostgreSQL cannot store them), signed on /v1; nothing is recorded.
#[tokio::test]
async fn nul_characters_are_refused_everywhere() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let body = br#"{"out_trade_no":"NUL-1","amount":100,"currency":"CNY","subject":"tea\u0000","product":"ALIPAY"}"#;
    let r = send(&s, &m, "POST", "/v1/payments", body).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "INVALID_REQUEST");
    assert!(verify_platform_signature(&s, &r).await);
    let r = send(&s, &m, "GET", "/v1/notifications?object_id=a%00b", b"").await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // An escaped backslash before `u0000` is text, not a NUL.
    let text = br#"{"out_trade_no":"NUL-2","amount":100,"currency":"CNY","subject":"tea\\u0000","product":"ALIPAY"}"#;
    let r = send(&s, &m, "POST", "/v1/payments", text).await;
    assert_ne!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let (st, v) = admin(
        &s,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "a\u{0}b"})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let raw = http()
        .post(format!("{}/admin/v1/ledger/day-end", s.base_url))
        .bearer_auth(paycore::testing::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(vec![0u8])
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (_, audit) = admin(&s, "GET", "/admin/v1/audit", None).await;
    assert!(
        !audit.to_string().contains("day-end"),
        "a refused request is not an action: {audit}"
    );
    let wallet = http()
        .post(format!("{}/sandbox/wallets/alipay/pay", s.base_url))
        .header("content-type", "application/json")
        .body(r#"{"code":"alipay://pay/\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(wallet.status(), 400);
}

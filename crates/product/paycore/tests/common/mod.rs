//! A merchant's client for tests: signs requests the way `api.md` says, with each algorithm,
//! and checks the platform's signature on responses.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use aws_lc_rs::{encoding::AsDer, hmac};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore::testing::{TestServer, ADMIN_TOKEN};
use paycore_kernel::crypto::{pem_decode, pem_encode, random_token};
use serde_json::{json, Value};

pub enum Signer {
    Hmac(Vec<u8>),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Hmac(_) => "HMAC-SHA256",
            Signer::Ed25519(_) => "ED25519",
            Signer::Rsa(_) => "RSA2",
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Signer::Hmac(k) => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k), msg)
                .as_ref()
                .to_vec(),
            Signer::Ed25519(k) => k.sign(msg).as_ref().to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .expect("rsa sign");
                sig
            }
        }
    }
}

pub fn new_ed25519() -> (Signer, String) {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(pair.public_key().as_ref());
    (Signer::Ed25519(pair), pem_encode("PUBLIC KEY", &der))
}

/// An RSA 2048 key; `spki` picks the `PUBLIC KEY` PEM over the PKCS#1 `RSA PUBLIC KEY` one.
pub fn new_rsa(spki: bool) -> (Signer, String) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pem = if spki {
        pem_encode("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref())
    } else {
        pem_encode("RSA PUBLIC KEY", pair.public_key().as_ref())
    };
    (Signer::Rsa(pair), pem)
}

pub struct Merchant {
    pub merchant_id: String,
    pub key_id: String,
    pub signer: Signer,
}

pub struct Sent {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Sent {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

pub async fn admin(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    admin_as(s, ADMIN_TOKEN, method, path, body, None).await
}

pub async fn admin_as(
    s: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    idempotency_key: Option<&str>,
) -> (u16, Value) {
    let mut req = http()
        .request(method.parse().unwrap(), format!("{}{}", s.base_url, path))
        .bearer_auth(token);
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Creates a merchant and registers a key of the given kind for it.
pub async fn merchant(s: &TestServer, alg: &str) -> Merchant {
    let (st, m) = admin(
        s,
        "POST",
        "/admin/v1/merchants",
        Some(json!({"name": "Test Shop"})),
    )
    .await;
    assert_eq!(st, 201, "{m}");
    let merchant_id = m["merchant_id"].as_str().unwrap().to_string();
    let key = add_key(s, &merchant_id, alg).await;
    Merchant {
        merchant_id,
        key_id: key.0,
        signer: key.1,
    }
}

pub async fn add_key(s: &TestServer, merchant_id: &str, alg: &str) -> (String, Signer) {
    let (signer, body) = match alg {
        "HMAC-SHA256" => (None, json!({"algorithm": "HMAC-SHA256"})),
        "ED25519" => {
            let (sg, pem) = new_ed25519();
            (
                Some(sg),
                json!({"algorithm": "ED25519", "public_key_pem": pem}),
            )
        }
        "RSA2" | "RSA2-SPKI" => {
            let (sg, pem) = new_rsa(alg == "RSA2-SPKI");
            (
                Some(sg),
                json!({"algorithm": "RSA2", "public_key_pem": pem}),
            )
        }
        other => panic!("{other}"),
    };
    let (st, k) = admin(
        s,
        "POST",
        &format!("/admin/v1/merchants/{merchant_id}/keys"),
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{k}");
    let signer =
        signer.unwrap_or_else(|| Signer::Hmac(k["secret"].as_str().unwrap().as_bytes().to_vec()));
    (k["key_id"].as_str().unwrap().to_string(), signer)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn nonce() -> String {
    random_token(24).unwrap()
}

pub fn signed_string(method: &str, pq: &str, ts: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut s = format!("{method}\n{pq}\n{ts}\n{nonce}\n").into_bytes();
    s.extend_from_slice(body);
    s.push(b'\n');
    s
}

pub fn auth_header(m: &Merchant, alg: &str, ts: i64, nonce: &str, sig: &[u8]) -> String {
    format!(
        "PAYCORE-{alg} merchant_id=\"{}\",key_id=\"{}\",timestamp=\"{ts}\",nonce=\"{nonce}\",signature=\"{}\"",
        m.merchant_id,
        m.key_id,
        B64.encode(sig)
    )
}

pub async fn send_raw(
    s: &TestServer,
    method: &str,
    pq: &str,
    auth: Option<String>,
    body: Vec<u8>,
) -> Sent {
    let mut req = http().request(method.parse().unwrap(), format!("{}{}", s.base_url, pq));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json").body(body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    Sent {
        status,
        headers,
        body,
    }
}

/// A correctly signed request with a fresh nonce and the current time.
pub async fn send(s: &TestServer, m: &Merchant, method: &str, pq: &str, body: &[u8]) -> Sent {
    send_at(s, m, method, pq, body, now(), &nonce()).await
}

pub async fn send_at(
    s: &TestServer,
    m: &Merchant,
    method: &str,
    pq: &str,
    body: &[u8],
    ts: i64,
    nonce: &str,
) -> Sent {
    let sig = m.signer.sign(&signed_string(method, pq, ts, nonce, body));
    send_raw(
        s,
        method,
        pq,
        Some(auth_header(m, m.signer.alg(), ts, nonce, &sig)),
        body.to_vec(),
    )
    .await
}

/// Checks the platform signature of a response against `GET /v1/platform/keys`.
pub async fn verify_platform_signature(s: &TestServer, sent: &Sent) -> bool {
    let keys = send_raw(s, "GET", "/v1/platform/keys", None, vec![])
        .await
        .json();
    let h = |n: &str| {
        sent.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let key_id = h("paycore-key-id");
    let Some(key) = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id.as_str())
    else {
        return false;
    };
    assert_eq!(key["algorithm"], "ED25519");
    let (_, der) = pem_decode(key["public_key_pem"].as_str().unwrap()).unwrap();
    let raw = &der[der.len() - 32..];
    let mut msg = format!("{}\n{}\n", h("paycore-timestamp"), h("paycore-nonce")).into_bytes();
    msg.extend_from_slice(&sent.body);
    msg.push(b'\n');
    let Ok(sig) = B64.decode(h("paycore-signature")) else {
        return false;
    };
    UnparsedPublicKey::new(&signature::ED25519, raw)
        .verify(&msg, &sig)
        .is_ok()
}

/// Polls `f` until it holds, for up to 20 s.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The payer pays a wallet's QR `code` on the sandbox served at `sandbox_url`.
pub async fn pay_code(sandbox_url: &str, wallet: &str, code: &str) {
    let paid = http()
        .post(format!("{sandbox_url}/sandbox/wallets/{wallet}/pay"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_success(), "{}", paid.text().await.unwrap());
}

/// The status of the merchant's object at `path` (`/v1/payments/{id}`, `/v1/refunds/{id}`).
pub async fn status_of(s: &TestServer, m: &Merchant, path: &str) -> Value {
    send(s, m, "GET", path, b"").await.json()["status"].clone()
}

/// A paid ALIPAY payment of `amount`.
pub async fn paid(s: &TestServer, m: &Merchant, no: &str, amount: i64) -> String {
    let r = send(s, m, "POST", "/v1/payments", json!({"out_trade_no": no, "amount": amount, "currency": "CNY", "subject": "x", "product": "ALIPAY"}).to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    let code = p["next_action"]["code"]
        .as_str()
        .expect("qr code")
        .to_string();
    pay_code(&s.base_url, "alipay", &code).await;
    let id = p["id"].as_str().unwrap().to_string();
    eventually("payment success", || async {
        status_of(s, m, &format!("/v1/payments/{id}")).await == "succeeded"
    })
    .await;
    id
}

/// Runs the binary with `args`, then the data flags of `db` (after the subcommand), without any
/// data, mode or settings from the environment.
pub fn paycore(db: &paycore_store::testing::TestDb, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_paycore"));
    c.args(args).arg("--data-dir").arg(&db.dir);
    if let Some(url) = &db.url {
        c.arg("--database-url").arg(url);
    }
    c.env_remove("PAYCORE_DATABASE_URL")
        .env_remove("PAYCORE_DATA_DIR")
        .env_remove("PAYCORE_CONFIG")
        .env_remove("PAYCORE_MODE")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Its standard output, after asserting that the command succeeded.
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Adds an operator through the operator API; its id and token.
pub async fn add_operator(s: &TestServer, name: &str, role: &str) -> (String, String) {
    let (st, v) = admin(
        s,
        "POST",
        "/admin/v1/operators",
        Some(json!({"name": name, "role": role})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    (
        v["operator_id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

/// An unsigned call (the member API, the sandbox): the status and the JSON body.
pub async fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An error answer's code.
pub fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// The newest SMS code the sandbox sent to `phone`.
pub async fn newest_sms(s: &TestServer, phone: &str) -> String {
    let (st, inbox) = call(s, "GET", &format!("/sandbox/sms?phone={phone}"), None, None).await;
    assert_eq!(st, 200, "{inbox}");
    inbox["messages"][0]["code"].as_str().unwrap().to_string()
}

/// The merchant's return page: records the query of every visit.
#[derive(Clone, Default)]
pub struct ReturnPage(
    pub std::sync::Arc<std::sync::Mutex<Vec<std::collections::HashMap<String, String>>>>,
);

impl ReturnPage {
    /// Serves the page on a free loopback port; its URL.
    pub async fn start(&self) -> String {
        let visits = self.clone();
        let app = axum::Router::new().route(
            "/shop/return",
            axum::routing::get(move |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| {
                let visits = visits.clone();
                async move {
                    let status = q.get("status").cloned().unwrap_or_default();
                    visits.0.lock().unwrap().push(q);
                    axum::response::Html(format!(
                        "<!doctype html><title>Thank you</title><h1 id=\"result\">Payment {status}</h1>"
                    ))
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/shop/return", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        url
    }
}

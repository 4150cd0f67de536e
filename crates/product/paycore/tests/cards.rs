//! The card vault over HTTP (issue 10, S18): a member binds a card with the bank's SMS code
//! (the quick-pay agreement), lists and unbinds it; bad cards are refused with their codes; and
//! neither the card number nor the security code reaches a log, an answer or the database files.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::http;
use paycore::testing::TestServer;
use serde_json::{json, Value};

const PAN: &str = "6222021234567890128";
const CVV: &str = "731";
const PHONE: &str = "13812345670";

async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http().request(method.parse().unwrap(), format!("{base}{path}"));
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

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn member(base: &str, phone: &str) -> String {
    let creds = json!({"phone": phone, "password": "cards2026x"});
    let (st, b) = call(base, "POST", "/v1/members", None, Some(creds.clone())).await;
    assert_eq!(st, 201, "{b}");
    let (_, t) = call(base, "POST", "/v1/members/login", None, Some(creds)).await;
    t["token"].as_str().unwrap().to_string()
}

fn card(pan: &str) -> Value {
    json!({"pan": pan, "holder_name": "张三", "expiry": "12/30", "cvv": CVV, "phone": PHONE})
}

/// The newest code the sandbox bank texted to the card's phone.
async fn bank_code(base: &str) -> String {
    let (_, inbox) = call(
        base,
        "GET",
        &format!("/sandbox/sms?phone={PHONE}"),
        None,
        None,
    )
    .await;
    let m = &inbox["messages"][0];
    assert!(
        m["message"].as_str().unwrap().contains("Sandbox Bank"),
        "{inbox}"
    );
    m["code"].as_str().unwrap().to_string()
}

/// Binds `PAN` for a new member through the bank's code; the member's token and the card.
async fn bind(base: &str) -> (String, Value) {
    let token = member(base, "13700001111").await;
    let (st, c) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(card(PAN)),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["status"], "pending");
    let id = c["card_id"].as_str().unwrap().to_string();
    let sms = bank_code(base).await;
    let path = format!("/v1/members/me/cards/{id}/confirm");
    let (st, c) = call(
        base,
        "POST",
        &path,
        Some(&token),
        Some(json!({"sms_code": sms})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    (token, c)
}

#[tokio::test]
async fn a_member_binds_a_card_with_the_banks_code_and_unbinds_it() {
    let s = TestServer::start().await.unwrap();
    let base = s.base_url.as_str();
    let token = member(base, "13700002222").await;
    let (st, c) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(card(PAN)),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["masked_pan"], "622202*********0128");
    assert_eq!(
        (c["brand"].as_str(), c["card_type"].as_str()),
        (Some("UnionPay"), Some("debit"))
    );
    assert_eq!(c["bank"], "Industrial and Commercial Bank of China");
    assert_eq!(
        (c["status"].as_str(), c["phone"].as_str()),
        (Some("pending"), Some("138****5670"))
    );
    let id = c["card_id"].as_str().unwrap().to_string();
    let confirm = format!("/v1/members/me/cards/{id}/confirm");
    let sms = bank_code(base).await;
    let wrong = if sms == "000000" { "000001" } else { "000000" };
    let (st, b) = call(
        base,
        "POST",
        &confirm,
        Some(&token),
        Some(json!({"sms_code": wrong})),
    )
    .await;
    assert_eq!((st, code(&b)), (422, "VERIFICATION_FAILED"), "{b}");
    let (st, c) = call(
        base,
        "POST",
        &confirm,
        Some(&token),
        Some(json!({"sms_code": sms})),
    )
    .await;
    assert_eq!((st, c["status"].as_str()), (200, Some("bound")), "{c}");
    let (_, list) = call(base, "GET", "/v1/members/me/cards", Some(&token), None).await;
    assert_eq!(list["cards"].as_array().unwrap().len(), 1, "{list}");
    // The same card again is refused; another member cannot see or unbind it.
    let (st, b) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(card(PAN)),
    )
    .await;
    assert_eq!((st, code(&b)), (409, "INVALID_STATE"), "{b}");
    let other = member(base, "13700003333").await;
    let (st, _) = call(
        base,
        "DELETE",
        &format!("/v1/members/me/cards/{id}"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, c) = call(
        base,
        "DELETE",
        &format!("/v1/members/me/cards/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((st, c["status"].as_str()), (200, Some("unbound")), "{c}");
    let (_, list) = call(base, "GET", "/v1/members/me/cards", Some(&token), None).await;
    assert_eq!(list["cards"], json!([]));
    // Unbound, the bank's agreement pays nothing (checked at the bank's books).
    let agreements: Vec<String> = sqlx::query_scalar("SELECT status FROM sandbox_card_agreements")
        .fetch_all(s.db.db.reader())
        .await
        .unwrap();
    assert_eq!(agreements, ["unsigned"]);
}

#[tokio::test]
async fn bad_cards_are_refused_with_their_codes_and_charge_nothing() {
    let s = TestServer::start().await.unwrap();
    let base = s.base_url.as_str();
    let token = member(base, "13700004444").await;
    for (pan, want) in [
        ("6222021234567890127", "check digit"),
        ("9999991234567870001", "unknown BIN"),
        ("12345", "12 to 19 digits"),
    ] {
        let (st, b) = call(
            base,
            "POST",
            "/v1/members/me/cards",
            Some(&token),
            Some(card(pan)),
        )
        .await;
        assert_eq!((st, code(&b)), (400, "INVALID_REQUEST"), "{b}");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(want) && !message.contains(pan),
            "{message}"
        );
    }
    // A number as a JSON number is refused without being repeated.
    let bad = json!({"pan": 6222021234567890128u64, "holder_name": "x", "expiry": "12/30", "phone": PHONE});
    let (st, b) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(bad),
    )
    .await;
    assert_eq!(st, 400);
    assert!(!b.to_string().contains("622202123"), "{b}");
    let mut expired = card(PAN);
    expired["expiry"] = "01/20".into();
    let (st, b) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(expired),
    )
    .await;
    assert_eq!((st, code(&b)), (400, "INVALID_REQUEST"), "{b}");
    // The sandbox bank does not support cards ending 0002: the card fails, nothing is bound.
    let (st, b) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(card("6222021234567800002")),
    )
    .await;
    assert_eq!((st, code(&b)), (400, "INVALID_REQUEST"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CARD_NOT_SUPPORTED"),
        "{b}"
    );
    let (_, list) = call(base, "GET", "/v1/members/me/cards", Some(&token), None).await;
    assert_eq!(list["cards"], json!([]));
    let (st, _) = call(base, "GET", "/v1/members/me/cards", None, None).await;
    assert_eq!(st, 401);
    // A card never confirmed is ended by the housekeeping; a bound one is left alone.
    let (st, pending) = call(
        base,
        "POST",
        "/v1/members/me/cards",
        Some(&token),
        Some(card(PAN)),
    )
    .await;
    assert_eq!(st, 201, "{pending}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(s.state.cards.fail_unconfirmed(0).await.unwrap(), 1);
    let id = pending["card_id"].as_str().unwrap();
    let sms = bank_code(base).await;
    let path = format!("/v1/members/me/cards/{id}/confirm");
    let (st, b) = call(
        base,
        "POST",
        &path,
        Some(&token),
        Some(json!({"sms_code": sms})),
    )
    .await;
    assert_eq!(
        (st, code(&b)),
        (409, "INVALID_STATE"),
        "an ended card is not confirmed: {b}"
    );
}

/// Every file a node writes — its database with the write-ahead log, its digest and log
/// output at the most detailed level — searched for the card number and the security code.
#[tokio::test]
async fn the_card_number_never_reaches_a_log_or_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("node.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_paycore"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--mode",
            "sandbox",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "trace")
        .env_remove("PAYCORE_DATABASE_URL")
        .env_remove("PAYCORE_MASTER_KEY")
        .env_remove("PAYCORE_CONFIG")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (token, c) = bind(&base).await;
    assert_eq!(c["status"], "bound");
    let (_, list) = call(&base, "GET", "/v1/members/me/cards", Some(&token), None).await;
    let answers = format!("{c}{list}");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !answers.contains(PAN) && !answers.contains("1234567890"),
        "{answers}"
    );
    let mut files = Vec::new();
    let mut todo = vec![dir.path().to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p)
            } else {
                files.push(p)
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(
        names.iter().any(|n| n == "paycore.db") && names.iter().any(|n| n == "paycore.db-wal"),
        "the database and its log are searched: {names:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(PAN), "the card number is in {}", f.display());
        assert!(
            !text.contains(&format!("\"cvv\":\"{CVV}\"")) && !text.contains(&format!("cvv={CVV}")),
            "the security code is in {}",
            f.display()
        );
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.len() > 1000,
        "the node logged at trace level:\n{logged}"
    );
}

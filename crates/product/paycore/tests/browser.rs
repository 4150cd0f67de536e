//! The net-bank page in a real browser: headless Chromium (driven by Selenium from
//! `clients/netbank_browser.py`) opens the sandbox bank's page of a NET_BANK payment, checks the
//! amount, presses Pay and follows the redirects through paycore back to the merchant's return
//! page. The payment must then be succeeded, and the merchant's page must have been visited with
//! `status=succeeded`.
//!
//! Needs python3 with `selenium`, and the Debian packages `chromium` and `chromium-driver`.

mod common;

use common::*;
use paycore::testing::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_pays_on_the_net_bank_page_in_chromium() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let (st, c) = admin(
        &s,
        "POST",
        &format!("/admin/v1/merchants/{}/products", m.merchant_id),
        Some(json!({"product": "NET_BANK", "fee_rate_bps": 60})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    let page = ReturnPage::default();
    let return_url = page.start().await;
    let body = json!({"out_trade_no": "BROWSER-1", "amount": 12345, "currency": "CNY", "subject": "Porcelain teapot",
        "product": "NET_BANK", "return_url": return_url});
    let r = send(&s, &m, "POST", "/v1/payments", body.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    assert_eq!(p["status"], "created", "{p}");
    assert_eq!(p["next_action"]["type"], "redirect", "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let bank_url = p["next_action"]["url"].as_str().unwrap().to_string();
    assert!(page.0.lock().unwrap().is_empty());

    let tmp = tempfile::tempdir().unwrap();
    let screenshot = tmp.path().join("netbank-page.png");
    let profile = tmp.path().join("chromium-profile");
    let script = format!(
        "{}/tests/clients/netbank_browser.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&bank_url)
        .arg("123.45")
        .arg(&return_url)
        .arg(&screenshot)
        .arg(&profile)
        .output()
        .await
        .expect("python3 is needed, with selenium, chromium and chromium-driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "browser run failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 1000,
        "no screenshot of the bank page"
    );
    if let Ok(dir) = std::env::var("PAYCORE_SCREENSHOT_DIR") {
        std::fs::copy(
            &screenshot,
            std::path::Path::new(&dir).join("netbank-page.png"),
        )
        .unwrap();
    }

    // The merchant's page saw the browser come back with the result.
    let visits = page.0.lock().unwrap().clone();
    assert_eq!(visits.len(), 1, "{visits:?}");
    assert_eq!(
        visits[0].get("status").map(String::as_str),
        Some("succeeded"),
        "{visits:?}"
    );
    assert_eq!(visits[0].get("payment_id"), Some(&id), "{visits:?}");
    assert_eq!(
        visits[0].get("out_trade_no").map(String::as_str),
        Some("BROWSER-1"),
        "{visits:?}"
    );
    // And the signed API says so too.
    let got = send(&s, &m, "GET", &format!("/v1/payments/{id}"), b"").await;
    assert_eq!(got.status, 200);
    assert!(verify_platform_signature(&s, &got).await);
    let p = got.json();
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(p["amount"], 12345);
}

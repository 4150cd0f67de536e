//! The cashier page (S5): its protections over plain HTTP (no framing, no cache, forms only
//! with the browser's own token, the merchant's name and the exact amount, the browser's
//! language), and a payer paying on it in headless Chromium (Selenium, from
//! `clients/cashier_browser.py`): log in, a wrong pay password shown beside its field, a
//! coupon with the balance, the result, back to the merchant — in Chinese and in English, with
//! screenshots at phone and desktop width.
//!
//! The browser part needs python3 with `selenium`, and the Debian packages `chromium` and
//! `chromium-driver`.

mod common;

use common::*;
use paycore::testing::TestServer;
use serde_json::json;

/// A member with pay password `135790` and 200.00 CNY; its id and token.
async fn member(s: &TestServer, phone: &str) -> (String, String) {
    let creds = json!({"phone": phone, "password": "cashier2026"});
    let (st, m) = call(s, "POST", "/v1/members", None, Some(creds.clone())).await;
    assert_eq!(st, 201, "{m}");
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
    let (_, inbox) = call(s, "GET", &format!("/sandbox/sms?phone={phone}"), None, None).await;
    let sms = inbox["messages"][0]["code"].as_str().unwrap().to_string();
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
    let card_phone = format!("1{}", &phone[1..].chars().rev().collect::<String>());
    let bind = json!({"pan": "6222021234567890128", "holder_name": "张三", "expiry": "12/30", "phone": card_phone});
    let (st, c) = call(s, "POST", "/v1/members/me/cards", Some(&token), Some(bind)).await;
    assert_eq!(st, 201, "{c}");
    let card_id = c["card_id"].as_str().unwrap().to_string();
    let (_, inbox) = call(
        s,
        "GET",
        &format!("/sandbox/sms?phone={card_phone}"),
        None,
        None,
    )
    .await;
    let code = json!({"sms_code": inbox["messages"][0]["code"]});
    let path = format!("/v1/members/me/cards/{card_id}/confirm");
    assert_eq!(
        call(s, "POST", &path, Some(&token), Some(code)).await.0,
        200
    );
    let top = json!({"request_no": "T-1", "amount": 20_000, "currency": "CNY", "card_id": card_id});
    let (st, t) = call(s, "POST", "/v1/members/me/top-ups", Some(&token), Some(top)).await;
    assert_eq!(st, 201, "{t}");
    (m["member_id"].as_str().unwrap().to_string(), token)
}

async fn shop(s: &TestServer) -> Merchant {
    let m = merchant(s, "HMAC-SHA256").await;
    let path = format!("/admin/v1/merchants/{}/products", m.merchant_id);
    let (st, b) = admin(
        s,
        "POST",
        &path,
        Some(json!({"product": "CASHIER", "fee_rate_bps": 60})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    m
}

async fn cashier_payment(
    s: &TestServer,
    m: &Merchant,
    no: &str,
    return_url: &str,
) -> (String, String) {
    let body = json!({"out_trade_no": no, "amount": 12_345, "currency": "CNY", "subject": "Porcelain teapot",
        "product": "CASHIER", "return_url": return_url});
    let r = send(s, m, "POST", "/v1/payments", body.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    (
        p["id"].as_str().unwrap().to_string(),
        p["next_action"]["url"].as_str().unwrap().to_string(),
    )
}

async fn coupon(s: &TestServer, member_id: &str) {
    let tpl = json!({"kind": "FIXED", "value": 345, "currency": "CNY", "valid_days": 30});
    let (_, t) = admin(s, "POST", "/admin/v1/coupon-templates", Some(tpl)).await;
    let issue = json!({"template_id": t["template_id"], "member_id": member_id});
    assert_eq!(
        admin(s, "POST", "/admin/v1/coupons", Some(issue)).await.0,
        201
    );
}

#[tokio::test]
async fn the_page_cannot_be_framed_cached_or_posted_from_elsewhere() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s).await;
    let (id, url) = cashier_payment(&s, &m, "PAGE-1", "https://shop.example/back").await;
    let r = http()
        .get(&url)
        .header("Accept-Language", "zh-CN,zh;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let cookies: Vec<String> = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Test Shop") && !html.contains(&m.merchant_id),
        "the merchant's name, never its id"
    );
    assert!(
        html.contains("123.45") && html.contains("登录后付款"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no script");
    // A login posted without the browser's own token (another site's form) is refused.
    let r = http()
        .post(format!("{}/cashier/{id}/login", s.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&phone=13500000001&password=x",
            "x".repeat(32)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http()
        .get(format!("{}/cashier/{}", s.base_url, "2".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let english = http()
        .get(&url)
        .header("Accept-Language", "en-GB")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("Log in to pay"), "{english}");
}

async fn pay_in_chromium(
    s: &TestServer,
    m: &Merchant,
    phone: &str,
    lang: &str,
    shots: &std::path::Path,
) {
    let (member_id, token) = member(s, phone).await;
    coupon(s, &member_id).await;
    let page = ReturnPage::default();
    let return_url = page.start().await;
    let (id, url) = cashier_payment(s, m, &format!("PAGE-{lang}"), &return_url).await;
    let profile = tempfile::tempdir().unwrap();
    let script = format!(
        "{}/tests/clients/cashier_browser.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = tokio::process::Command::new("python3")
        .args([
            &script,
            &url,
            "Test Shop",
            "123.45",
            phone,
            "cashier2026",
            "135790",
            &return_url,
        ])
        .arg(shots)
        .arg(profile.path())
        .arg(lang)
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
    let visits = page.0.lock().unwrap().clone();
    assert_eq!(visits.len(), 1, "{visits:?}");
    assert_eq!(
        visits[0].get("status").map(String::as_str),
        Some("succeeded")
    );
    assert_eq!(visits[0].get("payment_id"), Some(&id));
    let got = send(s, m, "GET", &format!("/v1/payments/{id}"), b"")
        .await
        .json();
    assert_eq!(got["status"], "succeeded", "{got}");
    let kinds: Vec<&str> = got["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["COUPON", "BALANCE"], "{got}");
    let (_, b) = call(s, "GET", "/v1/members/me/balance", Some(&token), None).await;
    assert_eq!(b["balances"][0]["available"], 20_000 - 12_000, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_pays_on_the_cashier_page_in_chromium() {
    let s = TestServer::start().await.unwrap();
    let m = shop(&s).await;
    let shots = tempfile::tempdir().unwrap();
    pay_in_chromium(&s, &m, "13500000011", "zh-CN", shots.path()).await;
    pay_in_chromium(&s, &m, "13500000012", "en", shots.path()).await;
    for name in [
        "cashier-desktop-zh-CN.png",
        "cashier-phone-zh-CN.png",
        "cashier-desktop-en.png",
        "cashier-phone-en.png",
    ] {
        let png = std::fs::read(shots.path().join(name)).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 1000,
            "no screenshot {name}"
        );
        if let Ok(dir) = std::env::var("PAYCORE_SCREENSHOT_DIR") {
            std::fs::copy(
                shots.path().join(name),
                std::path::Path::new(&dir).join(name),
            )
            .unwrap();
        }
    }
}

//! An independent client (Python `cryptography`, written from api.md alone) signs with RSA2,
//! Ed25519 and HMAC-SHA256 and verifies the platform's response signatures.

use paycore::testing::{TestServer, ADMIN_TOKEN};

#[tokio::test]
async fn python_client_signs_with_every_algorithm() {
    let s = TestServer::start().await.unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/independent_client.py"
    );
    let base = s.base_url.clone();
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&base)
        .arg(ADMIN_TOKEN)
        .output()
        .await
        .expect("python3 is needed (the test script installs it with the `cryptography` package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l == "ok"), "{stdout}");
    for alg in ["RSA2", "ED25519", "HMAC-SHA256"] {
        assert!(stdout.contains(&format!("{alg}: accepted")), "{stdout}");
    }
}

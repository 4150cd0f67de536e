//! `/metrics` on an address of its own (issue 9, §7): with `--metrics-listen`, the metrics are
//! served there and no longer beside the API.

use std::process::Stdio;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn status(url: &str) -> Option<u16> {
    let r = reqwest::Client::new().get(url).send().await.ok()?;
    Some(r.status().as_u16())
}

#[tokio::test]
async fn metrics_can_be_served_apart_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (api, metrics) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paycore"))
        .args(["serve", "--listen", &format!("127.0.0.1:{api}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("PAYCORE_DATABASE_URL")
        .env_remove("PAYCORE_MODE")
        .env("PAYCORE_ADMIN_TOKEN", "metrics-test-token-0123456789")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let healthz = format!("http://127.0.0.1:{api}/healthz");
    for _ in 0..200 {
        if status(&healthz).await == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&healthz).await, Some(200));
    let apart = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(apart.status(), 200);
    assert!(apart.text().await.unwrap().contains("paycore_"));
    assert_eq!(
        status(&format!("http://127.0.0.1:{api}/metrics")).await,
        Some(404)
    );
    assert_eq!(
        status(&format!("http://127.0.0.1:{metrics}/healthz")).await,
        Some(404)
    );
    child.kill().await.unwrap();
}

//! Connection and request limits (issue 9, §3): many idle and slow connections do not keep
//! `/healthz` or a signed request from answering promptly, and the slow ones are cut; a full
//! server closes new connections at once; one address is rate limited before authentication.

mod common;

use std::time::{Duration, Instant};

use common::*;
use paycore::testing::{Options, TestServer};
use paycore_gateway::{ConnectionLimits, GatewayConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn quick_limits(max_connections: usize) -> GatewayConfig {
    GatewayConfig {
        connections: ConnectionLimits {
            max_connections,
            header_read: Duration::from_secs(1),
            handshake: Duration::from_secs(1),
        },
        body_read_timeout: Duration::from_secs(1),
        ..GatewayConfig::default()
    }
}

/// Whether the server has closed `c` (it reads end-of-stream, or an error, or an answer that
/// says it closes), waiting at most `within`.
async fn cut(c: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (a 408 for a slow body) is followed by the close.
            Ok(Ok(_)) => continue,
        }
    }
}

async fn healthz_within(s: &TestServer, limit: Duration) {
    let started = Instant::now();
    let r = tokio::time::timeout(limit, http().get(format!("{}/healthz", s.base_url)).send())
        .await
        .expect("healthz in time")
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < limit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_hold_up_the_server_and_are_cut() {
    let s = TestServer::start_with(Options {
        gateway: quick_limits(4096),
        ..Options::default()
    })
    .await
    .unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let addr = s.addr;
    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Slow headers: a byte at a time, never finished.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(c);
    }
    // Slow bodies: the head complete, the body trickling.
    let mut trickle = Vec::new();
    for _ in 0..10 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST /channels/sandbox-alipay/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
            .await
            .unwrap();
        trickle.push(c);
    }
    for c in slow.iter_mut() {
        let _ = c.write_all(b"X").await;
    }
    healthz_within(&s, Duration::from_millis(500)).await;
    let started = Instant::now();
    let r = send(&s, &m, "GET", "/v1/merchant", b"").await;
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );

    for c in idle
        .iter_mut()
        .chain(slow.iter_mut())
        .chain(trickle.iter_mut())
    {
        assert!(
            cut(c, Duration::from_secs(4)).await,
            "a slow connection was left open"
        );
    }
    healthz_within(&s, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_closes_new_connections_until_the_idle_ones_are_cut() {
    let s = TestServer::start_with(Options {
        gateway: quick_limits(20),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(s.addr).await.unwrap();
    assert!(
        cut(&mut extra, Duration::from_millis(500)).await,
        "over the cap: closed at once"
    );
    // The idle ones are cut after the header-read timeout; then the server answers again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    healthz_within(&s, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn one_address_is_rate_limited_before_authentication() {
    let s = TestServer::start_with(Options {
        gateway: GatewayConfig {
            address_rate_per_second: 5,
            ..GatewayConfig::default()
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let mut codes = Vec::new();
    for _ in 0..30 {
        let r = http()
            .get(format!("{}/v1/merchant", s.base_url))
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
    }
    assert!(codes.contains(&401), "{codes:?}");
    assert!(codes.contains(&429), "{codes:?}");
    // Health checks are never limited.
    healthz_within(&s, Duration::from_millis(500)).await;
}

/// A burst of forged channel callbacks is one alert with a count, not a row each.
#[tokio::test]
async fn a_burst_of_bad_channel_signatures_is_one_alert_with_a_count() {
    let s = TestServer::start().await.unwrap();
    for i in 0..40 {
        let r = http()
            .post(format!("{}/channels/sandbox-alipay/notify", s.base_url))
            .header("content-type", "application/json")
            .body(format!(r#"{{"attempt_id":"{i}","sign":"forged"}}"#))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    eventually("the burst's count", || async {
        let (_, a) = admin(&s, "GET", "/admin/v1/alerts", None).await;
        let mine: Vec<&serde_json::Value> = a["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["channel"] == "sandbox-alipay")
            .collect();
        mine.len() == 1 && mine[0]["count"] == 40
    })
    .await;
}

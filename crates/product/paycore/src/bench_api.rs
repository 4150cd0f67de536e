//! `paycore bench api`: the payment API under load, against a server of this process on the
//! embedded database (durable commits: SQLite in WAL mode with `synchronous=NORMAL` and a group
//! fsync of the log before any answer).
//!
//! Many merchants, each with an HMAC key and the QUICK_PAY product (the sandbox's synchronous
//! channel, which charges and answers at once), send signed `POST /v1/payments` from many
//! concurrent clients; each call creates and completes a payment (it answers `succeeded`). Then
//! the same clients send the trivial signed `GET /v1/merchant` for as long: the ceiling of the
//! same server stack (signature check, nonce, response signing), the baseline the payment rate
//! is compared with in the same run. The sandbox channels run in a `paycore sandbox` child
//! process with a database of their own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_gateway::GatewayConfig;
use paycore_kernel::crypto::{hmac_sha256, random_token};
use paycore_kernel::{Currency, Money};
use paycore_merchant::{ContractTerms, Kyb, NewKey};
use paycore_product::Product;
use serde::Serialize;

use crate::sandbox_cmd::SandboxProcess;
use crate::testing::{Options, TestServer};

/// What a load benchmark runs (`bench api`, `bench wallet`).
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Seconds of each phase.
    pub seconds: u64,
    /// Concurrent clients (each one request at a time).
    pub concurrency: usize,
    /// Merchants the clients spread over.
    pub merchants: usize,
}

/// The targets on the embedded default at 64 clients, relative to the ceiling measured in the
/// same run (absolute rates drift with the machine).
pub const TARGET_P99_MS: f64 = 100.0;
pub const TARGET_SHARE_OF_CEILING: f64 = 0.25;

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first few unexpected answers, for diagnosis.
    pub error_samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiBenchReport {
    pub engine: String,
    pub concurrency: usize,
    pub merchants: usize,
    pub payments: PhaseReport,
    pub ceiling: PhaseReport,
    /// Payments/s divided by the ceiling's requests/s.
    pub share_of_ceiling: f64,
    pub targets_met: bool,
    pub missed: Vec<String>,
}

impl ApiBenchReport {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "paycore bench api — {} engine, {} clients over {} merchants\n\n",
            self.engine, self.concurrency, self.merchants
        );
        out.push_str(&phase_table(&[&self.payments, &self.ceiling]));
        out.push_str(&format!(
            "\npayments/s as a share of the ceiling: {:.1}%\n",
            self.share_of_ceiling * 100.0
        ));
        out.push_str(&format!(
            "targets (p99 ≤ {TARGET_P99_MS:.0} ms, ≥ {:.0}% of the ceiling): {}\n",
            TARGET_SHARE_OF_CEILING * 100.0,
            if self.targets_met { "met" } else { "MISSED" }
        ));
        out.push_str(&shortfalls(&self.missed, &[&self.payments, &self.ceiling]));
        out
    }
}

/// The phases as a table: requests, rate, latencies, errors.
pub(crate) fn phase_table(phases: &[&PhaseReport]) -> String {
    let w = phases
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = format!(
        "{:<w$} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7}\n",
        "phase", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for p in phases {
        out.push_str(&format!(
            "{:<w$} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}\n",
            p.name, p.requests, p.per_second, p.p50_ms, p.p99_ms, p.max_ms, p.errors
        ));
    }
    out
}

/// The targets missed, and the first unexpected answers of each phase.
pub(crate) fn shortfalls(missed: &[String], phases: &[&PhaseReport]) -> String {
    let mut out = String::new();
    for m in missed {
        out.push_str(&format!("  missed: {m}\n"));
    }
    for p in phases {
        for e in &p.error_samples {
            out.push_str(&format!("  {} error: {e}\n", p.name));
        }
    }
    out
}

/// A merchant as a benchmark client: its id and HMAC key.
pub(crate) struct Client {
    merchant_id: String,
    key_id: String,
    secret: Vec<u8>,
}

impl Client {
    pub(crate) fn authorization(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<String> {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let nonce = random_token(24)?;
        let mut msg = format!("{method}\n{path}\n{ts}\n{nonce}\n").into_bytes();
        msg.extend_from_slice(body);
        msg.push(b'\n');
        let sig = B64.encode(hmac_sha256(&self.secret, &msg));
        Ok(format!(
            "PAYCORE-HMAC-SHA256 merchant_id=\"{}\",key_id=\"{}\",timestamp=\"{ts}\",nonce=\"{nonce}\",signature=\"{sig}\"",
            self.merchant_id, self.key_id
        ))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Payments,
    Ceiling,
}

/// Runs the benchmark on a fresh embedded database and returns what it measured.
pub async fn run(cfg: &LoadConfig) -> anyhow::Result<ApiBenchReport> {
    anyhow::ensure!(
        cfg.seconds > 0 && cfg.concurrency > 0 && cfg.merchants > 0,
        "--seconds, --concurrency and --merchants must be positive"
    );
    // The sandbox channels run as a process of their own, with their own database, as real
    // channels are remote: the server's store carries only the platform's work.
    let exe = std::env::current_exe().context("the paycore executable")?;
    let sandbox = SandboxProcess::spawn(&exe).await?;
    let server = TestServer::start_with(Options {
        sandbox_channels: Some(sandbox.credentials.clone()),
        gateway: GatewayConfig {
            rate_per_second: 0,
            // Every client of the benchmark comes from loopback.
            address_rate_per_second: 0,
            ..GatewayConfig::default()
        },
        ..Options::default()
    })
    .await
    .context("starting the server")?;
    let engine = server.platform.db.engine().as_str().to_string();
    let mut clients = Vec::with_capacity(cfg.merchants);
    for n in 0..cfg.merchants {
        clients.push(Arc::new(merchant(&server, n).await?));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .context("HTTP client")?;
    // A short warm-up (connections, prepared statements, ledger accounts of each merchant).
    let warm = LoadConfig {
        seconds: 1,
        ..cfg.clone()
    };
    phase(
        &server.base_url,
        &http,
        &clients,
        &warm,
        Phase::Payments,
        "warm-up",
    )
    .await?;
    let payments = phase(
        &server.base_url,
        &http,
        &clients,
        cfg,
        Phase::Payments,
        "POST /v1/payments (QUICK_PAY)",
    )
    .await?;
    let ceiling = phase(
        &server.base_url,
        &http,
        &clients,
        cfg,
        Phase::Ceiling,
        "GET /v1/merchant (ceiling)",
    )
    .await?;
    server.stop().await;
    drop(sandbox);
    let share = if ceiling.per_second > 0.0 {
        payments.per_second / ceiling.per_second
    } else {
        0.0
    };
    let mut missed = Vec::new();
    if payments.p99_ms > TARGET_P99_MS {
        missed.push(format!(
            "p99 {:.1} ms > {TARGET_P99_MS:.0} ms",
            payments.p99_ms
        ));
    }
    if share < TARGET_SHARE_OF_CEILING {
        missed.push(format!(
            "{:.1}% of the ceiling < {:.0}%",
            share * 100.0,
            TARGET_SHARE_OF_CEILING * 100.0
        ));
    }
    if payments.errors > 0 || ceiling.errors > 0 {
        missed.push("some requests failed".into());
    }
    Ok(ApiBenchReport {
        engine,
        concurrency: cfg.concurrency,
        merchants: cfg.merchants,
        payments,
        ceiling,
        share_of_ceiling: share,
        targets_met: missed.is_empty(),
        missed,
    })
}

/// A merchant with an HMAC key and QUICK_PAY, made directly on the platform (setup, not measured).
async fn merchant(server: &TestServer, n: usize) -> anyhow::Result<Client> {
    let terms = ContractTerms::simple(60, Money::zero(Currency::CNY));
    merchant_with(server, n, Product::QuickPay, &terms).await
}

/// A merchant with an HMAC key and `product` on `terms` (setup, not measured).
pub(crate) async fn merchant_with(
    server: &TestServer,
    n: usize,
    product: Product,
    terms: &ContractTerms,
) -> anyhow::Result<Client> {
    let m = &server.platform.merchants;
    let merchant = m
        .create(&format!("Bench Shop {n}"), &Kyb::default(), "bench")
        .await?;
    let (key, secret, _) = m.add_key(&merchant.merchant_id, NewKey::Hmac).await?;
    let secret = secret
        .context("an HMAC key comes with its secret")?
        .into_inner();
    m.set_contract(&merchant.merchant_id, product, terms)
        .await?;
    Ok(Client {
        merchant_id: merchant.merchant_id,
        key_id: key.key_id,
        secret: secret.into_bytes(),
    })
}

/// The ceiling's request: the signed `GET /v1/merchant`.
pub(crate) async fn whoami(
    http: &reqwest::Client,
    base_url: &str,
    client: &Client,
) -> Result<(), String> {
    let auth = client
        .authorization("GET", "/v1/merchant", b"")
        .map_err(|e| e.to_string())?;
    let r = http
        .get(format!("{base_url}/v1/merchant"))
        .header("Authorization", auth)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(format!(
            "{}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        )),
    }
}

/// One request of the payment phase: a payment created and completed in the one call.
async fn pay_once(
    http: &reqwest::Client,
    base_url: &str,
    client: &Client,
    no: &str,
    n: u64,
) -> Result<(), String> {
    let body = serde_json::json!({
        "out_trade_no": no,
        "amount": 1000 + (n % 9000),
        "currency": "CNY",
        "subject": "bench",
        "product": "QUICK_PAY",
    })
    .to_string()
    .into_bytes();
    let auth = client
        .authorization("POST", "/v1/payments", &body)
        .map_err(|e| e.to_string())?;
    let resp = http
        .post(format!("{base_url}/v1/payments"))
        .header("Authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    let paid = status.as_u16() == 201
        && serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|v| v["status"] == "succeeded");
    match paid {
        true => Ok(()),
        false => Err(format!("{status}: {}", String::from_utf8_lossy(&body))),
    }
}

async fn phase(
    base_url: &str,
    http: &reqwest::Client,
    clients: &[Arc<Client>],
    cfg: &LoadConfig,
    which: Phase,
    name: &str,
) -> anyhow::Result<PhaseReport> {
    let run_id = random_token(6)?;
    let (base, http, clients) = (base_url.to_string(), http.clone(), clients.to_vec());
    run_phase(name, cfg.concurrency, cfg.seconds, move |c, n| {
        let (http, base) = (http.clone(), base.clone());
        let client = clients[c % clients.len()].clone();
        let no = format!("B{run_id}-{n}");
        async move {
            match which {
                Phase::Payments => pay_once(&http, &base, &client, &no, n).await,
                Phase::Ceiling => whoami(&http, &base, &client).await,
            }
        }
    })
    .await
}

/// What one client of a phase saw: latencies of good answers (µs), errors, a few samples.
type ClientTally = (Vec<u32>, u64, Vec<String>);

/// `concurrency` clients, each one request at a time, for `seconds`: `request(client, n)` is
/// one request (`n` counts them all), `Err` a bad answer.
pub(crate) async fn run_phase<F, Fut>(
    name: &str,
    concurrency: usize,
    seconds: u64,
    request: F,
) -> anyhow::Result<PhaseReport>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|c| {
            let (stop, seq, request) = (stop.clone(), seq.clone(), request.clone());
            tokio::spawn(async move {
                let mut tally: ClientTally = (Vec::new(), 0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let t0 = Instant::now();
                    let outcome = request(c, n).await;
                    match outcome {
                        Ok(()) => tally
                            .0
                            .push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX)),
                        Err(e) => {
                            tally.1 += 1;
                            if tally.2.len() < 3 {
                                tally.2.push(e);
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    let mut error_samples = Vec::new();
    for t in tasks {
        let (lat, err, samples) = t.await.context("client task")?;
        all.extend(lat);
        errors += err;
        for s in samples {
            if error_samples.len() < 3 {
                error_samples.push(s);
            }
        }
    }
    Ok(report(
        name,
        all,
        errors,
        error_samples,
        started.elapsed().as_secs_f64(),
    ))
}

fn report(
    name: &str,
    mut all: Vec<u32>,
    errors: u64,
    error_samples: Vec<String>,
    seconds: f64,
) -> PhaseReport {
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all[i.min(all.len() - 1)]) / 1000.0
    };
    let requests = all.len() as u64;
    PhaseReport {
        name: name.to_string(),
        requests,
        errors,
        seconds,
        per_second: requests as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        error_samples,
    }
}

//! `paycore bench wallet`: balance payments through the member API under load, on the embedded
//! database, against the same server's ceiling measured in the same run.
//!
//! One balance payment is what a real one is: the merchant's signed `POST /v1/payments`
//! (`BALANCE`, naming the member), then the member's `POST /v1/members/me/payments/{id}/pay`
//! with the balance — two requests, one latency. Each client is a member with money in the
//! wallet, paying within its password-free limit. The payments run twice: spread over 32
//! merchants, then all to one hot merchant (whose pending-settlement account every payment
//! credits); then the ceiling, the trivial signed `GET /v1/merchant` of the same stack.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use paycore_gateway::GatewayConfig;
use paycore_kernel::crypto::random_token;
use paycore_kernel::{Currency, Money};
use paycore_ledger::{BusinessEvent, NewAccount};
use paycore_merchant::ContractTerms;
use paycore_product::Product;
use serde::Serialize;

use crate::bench_api::{
    merchant_with, phase_table, run_phase, shortfalls, Client, LoadConfig, PhaseReport,
};
use crate::testing::{Options, TestServer};

/// The targets at 64 clients on the embedded default.
pub const TARGET_P99_MS: f64 = 100.0;
pub const TARGET_SHARE_OF_CEILING: f64 = 0.30;
/// The hot merchant may be at most this much slower than the spread run.
pub const TARGET_HOT_SLOWDOWN: f64 = 0.10;

#[derive(Debug, Clone, Serialize)]
pub struct WalletBenchReport {
    pub engine: String,
    pub concurrency: usize,
    pub merchants: usize,
    pub spread: PhaseReport,
    pub hot: PhaseReport,
    pub ceiling: PhaseReport,
    pub share_of_ceiling: f64,
    /// 1 − hot payments/s ÷ spread payments/s.
    pub hot_slowdown: f64,
    pub targets_met: bool,
    pub missed: Vec<String>,
}

impl WalletBenchReport {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "paycore bench wallet — {} engine, {} member clients\n\n",
            self.engine, self.concurrency
        );
        out.push_str(&phase_table(&[&self.spread, &self.hot, &self.ceiling]));
        out.push_str(&format!(
            "\nbalance payments/s as a share of the ceiling: {:.1}%\nhot merchant slower than {} merchants by: {:.1}%\n",
            self.share_of_ceiling * 100.0,
            self.merchants,
            self.hot_slowdown * 100.0
        ));
        out.push_str(&format!(
            "targets (p99 ≤ {TARGET_P99_MS:.0} ms, ≥ {:.0}% of the ceiling, hot ≤ {:.0}% slower): {}\n",
            TARGET_SHARE_OF_CEILING * 100.0,
            TARGET_HOT_SLOWDOWN * 100.0,
            if self.targets_met { "met" } else { "MISSED" }
        ));
        out.push_str(&shortfalls(
            &self.missed,
            &[&self.spread, &self.hot, &self.ceiling],
        ));
        out
    }
}

/// A member of the benchmark: its id and login token.
struct Payer {
    member_id: String,
    token: String,
}

/// A member with 1,000,000.00 CNY in the wallet and a password-free limit above the amounts
/// paid (setup, not measured).
async fn payer(server: &TestServer, n: usize) -> anyhow::Result<Payer> {
    let p = &server.platform;
    let phone = format!("139{:08}", n);
    let m = p.members.register(&phone, "bench-wallet-2026").await?;
    p.members
        .set_password_free_limit(&m.member_id, Money::from_minor(20_000, Currency::CNY))
        .await?;
    let ledger = &p.ledger;
    ledger
        .open_accounts(&[
            NewAccount::customer("224103", &m.member_id, Currency::CNY),
            NewAccount::internal("112201", "bench", Currency::CNY),
        ])
        .await?;
    let funds = Money::from_minor(100_000_000, Currency::CNY);
    let ev = BusinessEvent::new(&format!("bench-topup-{n}"), "TOPUP", "bench", funds)
        .party("channel", "bench")
        .party("member", &m.member_id);
    ledger.post_event(&ev).await?;
    let t = p.members.login(&phone, "bench-wallet-2026").await?;
    Ok(Payer {
        member_id: m.member_id,
        token: t.token,
    })
}

/// One balance payment: the merchant creates it, the member pays it from the balance.
async fn balance_payment(
    http: &reqwest::Client,
    base: &str,
    merchant: &Client,
    payer: &Payer,
    no: &str,
) -> Result<(), String> {
    let body = serde_json::json!({"out_trade_no": no, "amount": 100, "currency": "CNY",
        "subject": "bench", "product": "BALANCE", "payer": {"member_id": payer.member_id}})
    .to_string()
    .into_bytes();
    let auth = merchant
        .authorization("POST", "/v1/payments", &body)
        .map_err(|e| e.to_string())?;
    let r = http
        .post(format!("{base}/v1/payments"))
        .header("Authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let created: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let id = created["id"].as_str().ok_or_else(|| created.to_string())?;
    let pay =
        serde_json::json!({"request_no": no, "instruments": [{"type": "BALANCE", "amount": 100}]});
    let r = http
        .post(format!("{base}/v1/members/me/payments/{id}/pay"))
        .bearer_auth(&payer.token)
        .json(&pay)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let paid: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    match paid["status"] == "succeeded" {
        true => Ok(()),
        false => Err(paid.to_string()),
    }
}

struct Setup {
    server: TestServer,
    merchants: Vec<Arc<Client>>,
    payers: Vec<Arc<Payer>>,
    http: reqwest::Client,
}

async fn setup(cfg: &LoadConfig) -> anyhow::Result<Setup> {
    let server = TestServer::start_with(Options {
        gateway: GatewayConfig {
            rate_per_second: 0,
            address_rate_per_second: 0,
            ..GatewayConfig::default()
        },
        ..Options::default()
    })
    .await
    .context("starting the server")?;
    let terms = ContractTerms::simple(60, Money::zero(Currency::CNY));
    let mut merchants = Vec::with_capacity(cfg.merchants);
    for n in 0..cfg.merchants {
        merchants.push(Arc::new(
            merchant_with(&server, n, Product::Balance, &terms).await?,
        ));
    }
    let mut payers = Vec::with_capacity(cfg.concurrency);
    for n in 0..cfg.concurrency {
        payers.push(Arc::new(payer(&server, n).await?));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .context("HTTP client")?;
    Ok(Setup {
        server,
        merchants,
        payers,
        http,
    })
}

/// Balance payments from every client for `seconds`, to the first `spread` merchants.
async fn payments(
    s: &Setup,
    cfg: &LoadConfig,
    spread: usize,
    name: &str,
) -> anyhow::Result<PhaseReport> {
    let run = random_token(6)?;
    let (base, http) = (s.server.base_url.clone(), s.http.clone());
    let (merchants, payers) = (s.merchants.clone(), s.payers.clone());
    run_phase(name, cfg.concurrency, cfg.seconds, move |c, n| {
        let (http, base) = (http.clone(), base.clone());
        let m = merchants[c % spread.max(1)].clone();
        let p = payers[c].clone();
        let no = format!("W{run}-{c}-{n}");
        async move { balance_payment(&http, &base, &m, &p, &no).await }
    })
    .await
}

/// Runs the benchmark on a fresh embedded database and returns what it measured.
pub async fn run(cfg: &LoadConfig) -> anyhow::Result<WalletBenchReport> {
    anyhow::ensure!(
        cfg.seconds > 0 && cfg.concurrency > 0 && cfg.merchants > 0,
        "--seconds, --concurrency and --merchants must be positive"
    );
    let s = setup(cfg).await?;
    let engine = s.server.platform.db.engine().as_str().to_string();
    // Warm-up: connections, prepared statements, every merchant's and member's accounts.
    let warm = LoadConfig {
        seconds: cfg.seconds.min(3),
        ..cfg.clone()
    };
    payments(&s, &warm, cfg.merchants, "warm-up").await?;
    let spread_name = format!("balance payments, {} merchants", cfg.merchants);
    let spread = payments(&s, cfg, cfg.merchants, &spread_name).await?;
    let hot = payments(&s, cfg, 1, "balance payments, 1 hot merchant").await?;
    let (base, http, m) = (
        s.server.base_url.clone(),
        s.http.clone(),
        s.merchants.clone(),
    );
    let ceiling = run_phase(
        "GET /v1/merchant (ceiling)",
        cfg.concurrency,
        cfg.seconds,
        move |c, _| {
            let (http, base, m) = (http.clone(), base.clone(), m[c % m.len()].clone());
            async move { crate::bench_api::whoami(&http, &base, &m).await }
        },
    )
    .await?;
    s.server.stop().await;
    Ok(judge(cfg, engine, spread, hot, ceiling))
}

fn judge(
    cfg: &LoadConfig,
    engine: String,
    spread: PhaseReport,
    hot: PhaseReport,
    ceiling: PhaseReport,
) -> WalletBenchReport {
    let share = match ceiling.per_second > 0.0 {
        true => spread.per_second / ceiling.per_second,
        false => 0.0,
    };
    let slowdown = match spread.per_second > 0.0 {
        true => 1.0 - hot.per_second / spread.per_second,
        false => 1.0,
    };
    let mut missed = Vec::new();
    for p in [&spread, &hot] {
        if p.p99_ms > TARGET_P99_MS {
            missed.push(format!(
                "{}: p99 {:.1} ms > {TARGET_P99_MS:.0} ms",
                p.name, p.p99_ms
            ));
        }
    }
    if share < TARGET_SHARE_OF_CEILING {
        missed.push(format!(
            "{:.1}% of the ceiling < {:.0}%",
            share * 100.0,
            TARGET_SHARE_OF_CEILING * 100.0
        ));
    }
    if slowdown > TARGET_HOT_SLOWDOWN {
        missed.push(format!(
            "the hot merchant is {:.1}% slower",
            slowdown * 100.0
        ));
    }
    if spread.errors + hot.errors + ceiling.errors > 0 {
        missed.push("some requests failed".into());
    }
    WalletBenchReport {
        engine,
        concurrency: cfg.concurrency,
        merchants: cfg.merchants,
        spread,
        hot,
        ceiling,
        share_of_ceiling: share,
        hot_slowdown: slowdown,
        targets_met: missed.is_empty(),
        missed,
    }
}

//! `paycore bench ledger`: transfers per second and latency percentiles of the posting engine
//! on the database it is given, against a naive baseline in the same run (one voucher per
//! transaction, row locks, one statement per row). A transfer is one 2-leg voucher. Commits are
//! durable before they are answered: on the embedded database the log runs in WAL mode with
//! `synchronous=NORMAL` and the writer's group fsync of the log after each shared commit; on
//! PostgreSQL, the server's defaults (`synchronous_commit=on`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use paycore_kernel::{Clock, Currency, Money};
use paycore_store::{Db, Engine, Row};
use serde::Serialize;

use crate::error::LedgerError;
use crate::model::{Leg, Voucher};
use crate::{sql, Ledger, LedgerConfig};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub accounts: usize,
    pub batch: usize,
    /// Transfers in each of (a) and (b).
    pub transfers: usize,
    pub callers: usize,
    /// Single vouchers per caller in (c).
    pub per_caller: usize,
    /// Transfers of the naive baseline (d).
    pub naive: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            accounts: 100_000,
            batch: 8_000,
            transfers: 200_000,
            callers: 64,
            per_caller: 300,
            naive: 3_000,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub transfers: usize,
    pub seconds: f64,
    pub per_second: f64,
    /// Latency of one unit (a batch in (a)/(b), a voucher in (c)/(d)), milliseconds.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub engine: String,
    pub scenarios: Vec<Scenario>,
}

impl BenchReport {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "ledger benchmark on {} (durable commits: each answered after its fsync)\n{:<52} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9}\n",
            self.engine, "scenario", "transfers", "transfers/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for c in &self.scenarios {
            s.push_str(&format!(
                "{:<52} {:>9} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}\n",
                c.name, c.transfers, c.per_second, c.p50_ms, c.p90_ms, c.p99_ms, c.max_ms, c.note
            ));
        }
        if let (Some(a), Some(d)) = (
            self.scenarios.first(),
            self.scenarios.iter().find(|c| c.name.starts_with("(d)")),
        ) {
            if d.per_second > 0.0 {
                s.push_str(&format!(
                    "batched (a) vs naive (d): {:.0}x\n",
                    a.per_second / d.per_second
                ));
            }
        }
        s
    }
}

fn scenario(
    name: &str,
    transfers: usize,
    took: Duration,
    mut lat: Vec<Duration>,
    note: String,
) -> Scenario {
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
    };
    let secs = took.as_secs_f64().max(1e-9);
    Scenario {
        name: name.to_owned(),
        transfers,
        seconds: secs,
        per_second: transfers as f64 / secs,
        p50_ms: pct(0.5),
        p90_ms: pct(0.9),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        note,
    }
}

/// A small deterministic generator (no dependency, same sequence every run).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Opens `n` internal accounts with one multi-row statement per chunk; returns their ids.
async fn open_many(db: &Db, prefix: &str, n: usize, day: i64) -> Result<Vec<i64>, LedgerError> {
    const COLS: usize = 2;
    let mut ids = Vec::with_capacity(n);
    let mut tx = db.begin().await?;
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(sql::chunk_rows(COLS)) {
        let mut values = String::new();
        for (r, _) in chunk.iter().enumerate() {
            if r > 0 {
                values.push(',');
            }
            let (p1, p2) = match db.engine() {
                Engine::Postgres => (format!("${}", r * COLS + 1), format!("${}", r * COLS + 2)),
                Engine::Sqlite => ("?".to_owned(), "?".to_owned()),
            };
            values.push_str(&format!(
                "({p1}, '220203', {p2}, 0, NULL, 0, '{kind}', 'CNY', 'C', '{active}', '{od}', 0, 0, 0, 0, 0, 0, 0, {day}, 0)",
                kind = crate::model::AccountKind::Internal.as_str(),
                active = paycore_kernel::state::Named::as_str(crate::model::AccountStatus::Active),
                od = crate::model::Overdraft::Unbounded.columns().0,
            ));
        }
        let q = format!(
            "INSERT INTO ledger_accounts (account_no, subject_code, owner, sub_no, parent_id,
                split_count, kind, currency, normal_side, status, overdraft, overdraft_limit, buffered,
                debits, credits, debits_pending, credits_pending, version, created_day, created_at)
             VALUES {values} RETURNING id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for i in chunk {
            let owner = format!("{prefix}{i}");
            query = query
                .bind(crate::accounts::account_no("220203", &owner, "CNY", 0))
                .bind(owner);
        }
        for row in query.fetch_all(&mut *tx).await? {
            ids.push(row.try_get("id")?);
        }
    }
    tx.commit().await?;
    Ok(ids)
}

fn transfer(no: String, from: i64, to: i64, minor: i64) -> Voucher {
    let m = Money::from_minor(minor, Currency::CNY);
    Voucher::new(
        &no,
        "BENCH",
        "bench",
        vec![Leg::debit(from, m), Leg::credit(to, m)],
    )
}

pub async fn run(
    db: Db,
    clock: Arc<dyn Clock>,
    cfg: &BenchConfig,
) -> Result<BenchReport, LedgerError> {
    let setup = set_up(db, clock, cfg).await?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let scenarios = vec![
        many_accounts(&setup, cfg, &mut rng).await?,
        hot_account(&setup, cfg, &mut rng).await?,
        concurrent_callers(&setup, cfg).await?,
        naive_callers(&setup, cfg).await?,
    ];
    Ok(BenchReport {
        engine: setup.db.engine().as_str().to_owned(),
        scenarios,
    })
}

/// What the scenarios run on: the ledger, the accounts opened for this run, and the run's tag
/// (keeps voucher and account numbers of runs on the same database apart).
struct Setup {
    db: Db,
    ledger: Ledger,
    day: i64,
    tag: String,
    ids: Vec<i64>,
    hot_id: i64,
}

/// Opens the ledger, the run's accounts and its one hot (buffered) account.
async fn set_up(db: Db, clock: Arc<dyn Clock>, cfg: &BenchConfig) -> Result<Setup, LedgerError> {
    let config = LedgerConfig {
        group_max: cfg.callers.max(1) * 4,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::with_config(db.clone(), clock, config);
    ledger.ready().await?;
    let day = ledger.current_day().await?;
    let tag = format!("{}", std::process::id());
    let ids = open_many(&db, &format!("b{tag}-"), cfg.accounts, day).await?;
    let hot = open_many(&db, &format!("hot{tag}-"), 1, day).await?;
    let hot_id = *hot
        .first()
        .ok_or_else(|| LedgerError::Corrupt("no hot account".into()))?;
    let hot_no = crate::accounts::account_no("220203", &format!("hot{tag}-0"), "CNY", 0);
    ledger.set_buffered(&hot_no, true).await?;
    Ok(Setup {
        db,
        ledger,
        day,
        tag,
        ids,
        hot_id,
    })
}

/// Two accounts drawn from `ids`, drawn again once if the first two are the same.
fn pick(ids: &[i64], rng: &mut Rng) -> (i64, i64) {
    let a = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
    let mut b = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
    if a == b {
        b = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
    }
    (a, b)
}

/// (a) batches over many accounts.
async fn many_accounts(
    s: &Setup,
    cfg: &BenchConfig,
    rng: &mut Rng,
) -> Result<Scenario, LedgerError> {
    let tag = &s.tag;
    let (took, lat) = batches(
        &s.ledger,
        cfg,
        "a",
        |i, rng| {
            let (a, b) = pick(&s.ids, rng);
            transfer(format!("a{tag}-{i}"), a, b, 1 + (i % 1000) as i64)
        },
        rng,
    )
    .await?;
    Ok(scenario(
        &format!(
            "(a) batches of {} over {} accounts",
            cfg.batch, cfg.accounts
        ),
        cfg.transfers,
        took,
        lat,
        String::new(),
    ))
}

/// (b) the same, every transfer crediting one buffered (hot) account; the summarizer runs
/// alongside and its catch-up is reported.
async fn hot_account(s: &Setup, cfg: &BenchConfig, rng: &mut Rng) -> Result<Scenario, LedgerError> {
    let tag = &s.tag;
    let summarizer = s.ledger.spawn_summarizer();
    let (took, lat) = batches(
        &s.ledger,
        cfg,
        "b",
        |i, rng| {
            let (a, _) = pick(&s.ids, rng);
            transfer(format!("b{tag}-{i}"), a, s.hot_id, 1 + (i % 1000) as i64)
        },
        rng,
    )
    .await?;
    summarizer.abort();
    let lag = s.ledger.buffer_lag().await?;
    let t = Instant::now();
    let drained = s.ledger.summarize_all().await?;
    let drain = t.elapsed();
    Ok(scenario(
        "(b) same, all crediting one hot buffered account",
        cfg.transfers,
        took,
        lat,
        format!(
            "lag at end {} flows; drained {} in {:.2}s",
            lag.flows,
            drained,
            drain.as_secs_f64()
        ),
    ))
}

/// (c) concurrent callers posting single vouchers (group commit).
async fn concurrent_callers(s: &Setup, cfg: &BenchConfig) -> Result<Scenario, LedgerError> {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..cfg.callers {
        let ledger = s.ledger.clone();
        let mut rng = Rng(0x1234_5678 + c as u64);
        let ids = s.ids.clone();
        let per = cfg.per_caller;
        let tag = s.tag.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let a = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
                let b = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
                let t = Instant::now();
                ledger
                    .post_one(transfer(format!("c{tag}-{c}-{i}"), a, b, 7))
                    .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, LedgerError>(lat)
        }));
    }
    let lat = latencies(tasks).await?;
    Ok(scenario(
        &format!("(c) {} concurrent callers, single vouchers", cfg.callers),
        cfg.callers * cfg.per_caller,
        t.elapsed(),
        lat,
        String::new(),
    ))
}

/// (d) naive baseline with the same callers.
async fn naive_callers(s: &Setup, cfg: &BenchConfig) -> Result<Scenario, LedgerError> {
    let t = Instant::now();
    let mut tasks = Vec::new();
    let per = cfg.naive.div_ceil(cfg.callers.max(1));
    let day = s.day;
    for c in 0..cfg.callers {
        let db = s.db.clone();
        let mut rng = Rng(0x8765_4321 + c as u64);
        let ids = s.ids.clone();
        let tag = s.tag.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let a = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
                let b = ids.get(rng.below(ids.len())).copied().unwrap_or(0);
                let t = Instant::now();
                naive(&db, &format!("d{tag}-{c}-{i}"), a, b, 7, day).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, LedgerError>(lat)
        }));
    }
    let lat = latencies(tasks).await?;
    Ok(scenario(
        &format!(
            "(d) naive: 1 voucher/transaction, row locks, {} callers",
            cfg.callers
        ),
        per * cfg.callers,
        t.elapsed(),
        lat,
        String::new(),
    ))
}

/// The latencies of every caller task, in task order; the first failed task fails the lot.
async fn latencies(
    tasks: Vec<tokio::task::JoinHandle<Result<Vec<Duration>, LedgerError>>>,
) -> Result<Vec<Duration>, LedgerError> {
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| LedgerError::Corrupt(e.to_string()))??);
    }
    Ok(lat)
}

async fn batches(
    ledger: &Ledger,
    cfg: &BenchConfig,
    _name: &str,
    mut make: impl FnMut(usize, &mut Rng) -> Voucher,
    rng: &mut Rng,
) -> Result<(Duration, Vec<Duration>), LedgerError> {
    let mut lat = Vec::new();
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < cfg.transfers {
        let n = cfg.batch.min(cfg.transfers - i);
        let batch: Vec<Voucher> = (i..i + n).map(|k| make(k, rng)).collect();
        let t = Instant::now();
        let r = ledger.post(batch).await?;
        let took = t.elapsed();
        if let Some(Err(e)) = r.iter().find(|r| r.is_err()) {
            return Err(LedgerError::Refused(e.clone()));
        }
        total += took;
        lat.push(took);
        i += n;
    }
    Ok((total, lat))
}

/// The baseline: lock both rows, update them, insert voucher and entries, commit — per voucher.
async fn naive(
    db: &Db,
    no: &str,
    from: i64,
    to: i64,
    amount: i64,
    day: i64,
) -> Result<(), LedgerError> {
    let mut tx = db.begin().await?;
    let lock = match db.engine() {
        Engine::Postgres => " FOR UPDATE",
        Engine::Sqlite => "",
    };
    let (lo, hi) = if from < to { (from, to) } else { (to, from) };
    for id in [lo, hi] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT debits, credits FROM ledger_accounts WHERE id = $1{lock}"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE ledger_accounts SET debits = debits + $1, version = version + 1 WHERE id = $2",
    )
    .bind(amount)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE ledger_accounts SET credits = credits + $1, version = version + 1 WHERE id = $2",
    )
    .bind(amount)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    let vid: i64 = sqlx::query(
        "INSERT INTO ledger_vouchers (voucher_no, tx_code, day, biz_ref, status, error, batch_id, seq, hash, created_at)
         VALUES ($1, 'NAIVE', $2, $3, $4, NULL, 0, 0, '', 0) RETURNING id",
    )
    .bind(no)
    .bind(day)
    .bind("bench")
    .bind(crate::model::VoucherStatus::Posted.as_str())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    for (leg, account, side) in [(0i64, from, "D"), (1, to, "C")] {
        sqlx::query(
            "INSERT INTO ledger_entries (voucher_id, leg, account_id, side, amount, day) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(vid)
        .bind(leg)
        .bind(account)
        .bind(side)
        .bind(amount)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // Durable like every other commit of the run (the embedded database syncs in groups).
    db.durable().await?;
    Ok(())
}

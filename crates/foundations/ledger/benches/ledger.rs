//! `cargo bench -p paycore-ledger`: the ledger benchmark (same as `paycore bench ledger`) on a
//! fresh SQLite database, and on PostgreSQL when `PAYCORE_BENCH_DATABASE_URL` names a server
//! (a scratch database is created there). Sizes: `LEDGER_BENCH_TRANSFERS` (default 200,000).

use std::sync::Arc;

use paycore_kernel::SystemClock;
use paycore_ledger::bench::{run, BenchConfig};
use paycore_store::Db;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = BenchConfig {
        transfers: env("LEDGER_BENCH_TRANSFERS", 200_000),
        accounts: env("LEDGER_BENCH_ACCOUNTS", 100_000),
        batch: env("LEDGER_BENCH_BATCH", 8_000),
        callers: env("LEDGER_BENCH_CALLERS", 64),
        per_caller: env("LEDGER_BENCH_PER_CALLER", 300),
        naive: env("LEDGER_BENCH_NAIVE", 3_000),
    };
    let name = format!("paycore_ledger_bench_{}", std::process::id());
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)?;
    if std::env::var("LEDGER_BENCH_SKIP_SQLITE").is_err() {
        let db = Db::open(&dir, None).await?;
        paycore_store::migrate::run(
            &db,
            &[&paycore_store::migrate::SCHEMA, &paycore_ledger::SCHEMA],
        )
        .await?;
        let r = run(db.clone(), Arc::new(SystemClock), &cfg).await?;
        print!("{}", r.to_text());
        db.close().await;
    }
    if let Ok(server) = std::env::var("PAYCORE_BENCH_DATABASE_URL") {
        let admin = Db::open(&dir, Some(&server)).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(admin.writer())
            .await?;
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => server.clone(),
        };
        let db = Db::open(&dir, Some(&url)).await?;
        paycore_store::migrate::run(
            &db,
            &[&paycore_store::migrate::SCHEMA, &paycore_ledger::SCHEMA],
        )
        .await?;
        let r = run(db.clone(), Arc::new(SystemClock), &cfg).await;
        db.close().await;
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
            .execute(admin.writer())
            .await;
        print!("{}", r?.to_text());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

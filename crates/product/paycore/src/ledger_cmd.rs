//! `paycore ledger …` (day-end, trial balance, export, verify, balances, statements, rules,
//! summarizer) and `paycore bench ledger`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use paycore_kernel::SystemClock;
use paycore_ledger::bench::{BenchConfig, BenchReport};
use paycore_store::Db;
use serde::Serialize;

use crate::Platform;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Beancount,
}

#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Close the accounting day(s) before today (日切): summarize buffered flows, check, switch.
    DayEnd {
        /// Close the current accounting day now, even if the clock has not passed it.
        #[arg(long)]
        now: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Trial balance of the open day (live) or of a closed day (yyyyMMdd).
    TrialBalance {
        #[arg(long)]
        day: Option<i64>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write the books in a standard format (beancount: check with `bean-check FILE`).
    Export {
        #[arg(long, value_enum, default_value = "beancount")]
        format: ExportFormat,
        /// Output file (default: standard output).
        #[arg(long, alias = "out")]
        output: Option<PathBuf>,
    },
    /// Recompute the voucher hash chains, day seals and account totals.
    Verify,
    /// Balances of an account (posted, pending, available, unapplied buffered flows).
    Balance { account_no: String },
    /// Entries of an account, paged by entry id.
    Statement {
        account_no: String,
        #[arg(long)]
        day: Option<i64>,
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// The chart of accounts (会计科目).
    Subjects,
    /// The loaded posting rules (记账方案).
    Rules,
    /// Apply buffered flows of hot accounts now; prints the lag.
    Summarize,
    /// Release holds whose time has passed.
    ExpireHolds,
}

fn show<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn run(p: &Platform, cmd: LedgerCommand) -> anyhow::Result<()> {
    let l = &p.ledger;
    match cmd {
        LedgerCommand::DayEnd { now, format } => {
            let r = crate::operator_cmd::audited(p, "ledger day-end", "", async {
                Ok(if now {
                    l.day_end_now().await?
                } else {
                    l.day_end().await?
                })
            })
            .await?;
            match format {
                Format::Json => show(&r)?,
                Format::Text => {
                    println!(
                        "closed: {:?}; current day {}; buffered flows applied {}",
                        r.closed, r.current_day, r.flows_summarized
                    );
                    for c in &r.checks {
                        println!("  {:<45} {}", c.name, if c.ok { "ok" } else { "FAILED" });
                        for d in &c.differences {
                            println!("      {d}");
                        }
                    }
                }
            }
            if let Some(day) = r.failed {
                anyhow::bail!("day-end of {day} failed its checks; fix and run again to resume");
            }
            Ok(())
        }
        LedgerCommand::TrialBalance { day, format } => {
            let tb = l.trial_balance(day).await?;
            match format {
                Format::Json => show(&tb),
                Format::Text => {
                    print!("{}", tb.to_text());
                    Ok(())
                }
            }
        }
        LedgerCommand::Export {
            format: ExportFormat::Beancount,
            output,
        } => match output {
            Some(path) => {
                let f = std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut w = std::io::BufWriter::new(f);
                l.export_beancount(&mut w).await?;
                eprintln!("wrote {}", path.display());
                Ok(())
            }
            None => {
                let mut w = std::io::BufWriter::new(std::io::stdout());
                l.export_beancount(&mut w).await?;
                Ok(())
            }
        },
        LedgerCommand::Verify => {
            let r = l.verify().await?;
            show(&r)?;
            if !r.ok() {
                anyhow::bail!("the books do not verify: {} problem(s)", r.problems.len());
            }
            Ok(())
        }
        LedgerCommand::Balance { account_no } => show(&l.balance(&account_no).await?),
        LedgerCommand::Statement {
            account_no,
            day,
            after,
            limit,
        } => show(&l.statement(&account_no, day, after, limit).await?),
        LedgerCommand::Subjects => show(&l.subjects().await?),
        LedgerCommand::Rules => {
            l.ready().await?;
            show(&l.rules())
        }
        LedgerCommand::Summarize => {
            let n = l.summarize_all().await?;
            println!("applied {n} buffered flows");
            show(&l.buffer_lag().await?)
        }
        LedgerCommand::ExpireHolds => {
            println!("expired {} holds", l.expire_holds().await?);
            Ok(())
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BenchEngine {
    Sqlite,
    Postgres,
}

/// `paycore bench ledger`: runs on a fresh database of its own — a SQLite file in a temp
/// directory, or a new database on the PostgreSQL server of `database_url` (dropped after).
pub async fn bench(
    engine: BenchEngine,
    database_url: Option<&str>,
    cfg: &BenchConfig,
    json: bool,
) -> anyhow::Result<BenchReport> {
    let name = format!("paycore_bench_{}", std::process::id());
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)?;
    let (db, admin) = match engine {
        BenchEngine::Sqlite => (Db::open(&dir, None).await?, None),
        BenchEngine::Postgres => {
            let server = database_url.context(
                "--database-url postgres://… (or PAYCORE_DATABASE_URL) is needed for postgres",
            )?;
            let admin = Db::open(&dir, Some(server)).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(admin.writer())
                .await?;
            let url = with_database(server, &name);
            (Db::open(&dir, Some(&url)).await?, Some(admin))
        }
    };
    paycore_store::migrate::run(
        &db,
        &[&paycore_store::migrate::SCHEMA, &paycore_ledger::SCHEMA],
    )
    .await?;
    let result = paycore_ledger::bench::run(db.clone(), Arc::new(SystemClock), cfg).await;
    db.close().await;
    if let Some(admin) = admin {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(admin.writer())
        .await;
        admin.close().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    if json {
        show(&report)?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(report)
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host = match base.get(scheme_end..).and_then(|rest| rest.find('/')) {
        Some(i) => base.get(..scheme_end + i).unwrap_or(base),
        None => base,
    };
    format!("{host}/{name}{query}")
}

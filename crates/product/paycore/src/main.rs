//! `paycore`: the command line. The data flags (`--data-dir`, `--database-url`) and
//! `--log-format` are accepted before or after the subcommand.

use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use paycore::settings::{DbArgs, ServeArgs};
use paycore::Platform;
use paycore_kernel::SystemClock;
use serde::Serialize;

#[derive(Parser)]
#[command(name = "paycore", version, about = "paycore: a payment platform")]
struct Cli {
    /// Log lines as JSON instead of plain text.
    #[arg(
        long,
        global = true,
        env = "PAYCORE_LOG_FORMAT",
        default_value = "plain"
    )]
    log_format: LogFormat,
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: open API, operator API, service endpoints.
    Serve(Box<ServeArgs>),
    /// The sandbox channels as a process of their own, with their own database in the data
    /// directory (or at --database-url); writes the platform's credentials to channels.json there.
    Sandbox(paycore::sandbox_cmd::SandboxArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Merchants: onboarding, status, keys, products.
    Merchant {
        #[command(subcommand)]
        command: paycore::merchant_cmd::MerchantCommand,
    },
    /// Operators of the admin API.
    Operator {
        #[command(subcommand)]
        command: paycore::operator_cmd::OperatorCommand,
    },
    /// The master keys that seal secrets at rest: show, rotate, re-seal, retire.
    Keys {
        #[command(subcommand)]
        command: paycore::keys_cmd::KeysCommand,
    },
    /// The audit trail of operator calls and command line changes: verify its chain, list it.
    Audit {
        #[command(subcommand)]
        command: paycore::operator_cmd::AuditCommand,
    },
    /// Ledger and accounting: day-end, trial balance, export, verify, balances.
    Ledger {
        #[command(subcommand)]
        command: paycore::ledger_cmd::LedgerCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The ledger's posting engine: batches, a hot account, concurrent callers, naive baseline.
    /// With `--engine postgres`, `--database-url` names the server (a scratch database is
    /// created on it and dropped after).
    Ledger {
        #[arg(long, value_enum, default_value = "sqlite")]
        engine: paycore::ledger_cmd::BenchEngine,
        /// Transfers in each of the batched scenarios.
        #[arg(long, default_value_t = 200_000)]
        transfers: usize,
        #[arg(long, default_value_t = 100_000)]
        accounts: usize,
        #[arg(long, default_value_t = 8_000)]
        batch: usize,
        #[arg(long, default_value_t = 64)]
        callers: usize,
        #[arg(long, default_value_t = 300)]
        per_caller: usize,
        /// Transfers of the naive baseline.
        #[arg(long, default_value_t = 3_000)]
        naive: usize,
        #[arg(long)]
        json: bool,
    },
    /// The payment API over HTTP: concurrent signed merchants creating and completing payments
    /// on a sandbox channel, against a trivial signed endpoint of the same server as the ceiling.
    Api {
        /// Seconds of each phase (payments, then the ceiling).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 32)]
        merchants: usize,
        #[arg(long)]
        json: bool,
    },
    /// Balance payments through the member API (merchant creates, member pays) against the
    /// same server's ceiling, spread over merchants and to one hot merchant.
    Wallet {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 32)]
        merchants: usize,
        #[arg(long)]
        json: bool,
    },
}

fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The platform as every subcommand sees it: the same data flags, settings file and mode as
/// `serve`, the mode read from the database.
async fn open(db: &DbArgs) -> anyhow::Result<Platform> {
    Platform::open(&db.target()?, Arc::new(SystemClock)).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let json_logs = matches!(cli.log_format, LogFormat::Json);
    match cli.command {
        Command::Serve(args) => {
            let demo = args.demo;
            let target = cli.db.target()?;
            let digests = if demo {
                paycore::logs::Digests::File(target.data_dir.as_path())
            } else {
                paycore::logs::Digests::Stderr
            };
            paycore::logs::init(json_logs, digests)?;
            paycore::serve::run(cli.db, *args).await
        }
        command => {
            // The benchmarks and the sandbox (a test double) write no digest line per request
            // unless RUST_LOG asks for them.
            let digests = if matches!(command, Command::Bench { .. } | Command::Sandbox(_)) {
                paycore::logs::Digests::Off
            } else {
                paycore::logs::Digests::Stderr
            };
            paycore::logs::init(json_logs, digests)?;
            run(cli.db, command).await
        }
    }
}

async fn run(db: DbArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => Ok(()),
        Command::Sandbox(args) => {
            let t = db.target()?;
            if t.mode == Some(paycore::settings::Mode::Production) {
                anyhow::bail!("the sandbox channels run in sandbox mode only");
            }
            paycore::sandbox_cmd::run(t.data_dir, t.database_url, args).await
        }
        Command::Migrate => {
            let p = open(&db).await?;
            println!("database at the newest schema ({})", p.db.engine().as_str());
            Ok(())
        }
        Command::Merchant { command } => {
            paycore::merchant_cmd::run(&open(&db).await?, command).await
        }
        Command::Ledger { command } => paycore::ledger_cmd::run(&open(&db).await?, command).await,
        Command::Operator { command } => {
            paycore::operator_cmd::run(&open(&db).await?, command).await
        }
        Command::Keys { command } => {
            let p = open(&db).await?;
            paycore::keys_cmd::run(&p, &db.target()?.data_dir, command).await
        }
        Command::Audit { command } => {
            paycore::operator_cmd::audit(&open(&db).await?, command).await
        }
        Command::Bench { command } => bench(&db, command).await,
    }
}

async fn bench(db: &DbArgs, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ledger {
            engine,
            transfers,
            accounts,
            batch,
            callers,
            per_caller,
            naive,
            json,
        } => {
            let cfg = paycore_ledger::bench::BenchConfig {
                accounts,
                batch,
                transfers,
                callers,
                per_caller,
                naive,
            };
            paycore::ledger_cmd::bench(engine, db.database_url.as_deref(), &cfg, json).await?;
            Ok(())
        }
        BenchCommand::Api {
            seconds,
            concurrency,
            merchants,
            json,
        } => {
            let cfg = paycore::bench_api::LoadConfig {
                seconds,
                concurrency,
                merchants,
            };
            let report = paycore::bench_api::run(&cfg).await?;
            if json {
                print(&report)?;
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
        BenchCommand::Wallet {
            seconds,
            concurrency,
            merchants,
            json,
        } => {
            let cfg = paycore::bench_api::LoadConfig {
                seconds,
                concurrency,
                merchants,
            };
            let report = paycore::bench_wallet::run(&cfg).await?;
            if json {
                print(&report)?;
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
    }
}

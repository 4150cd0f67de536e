//! `paycore`: the command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use paycore::settings::{DbArgs, FileSettings, ServeArgs, ServeSettings};
use paycore::Platform;
use paycore_core::merchant::{ContractStatus, ContractTerms, Kyb, MerchantEvent, NewKey};
use paycore_core::product::Product;
use paycore_gateway::admin::{ContractView, KeyView, MerchantView, Operators, Role};
use paycore_kernel::crypto::{random_token, Algorithm};
use paycore_kernel::{Currency, Money, SystemClock};
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
    /// Apply the database migrations and exit.
    Migrate(DbArgs),
    /// Merchants: onboarding, status, keys, products.
    Merchant {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// Operators of the admin API.
    Operator {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Ledger and accounting: day-end, trial balance, export, verify, balances.
    Ledger {
        #[command(flatten)]
        db: DbArgs,
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
    Ledger {
        #[arg(long, value_enum, default_value = "sqlite")]
        engine: paycore::ledger_cmd::BenchEngine,
        /// PostgreSQL server for --engine postgres (a scratch database is created on it).
        #[arg(long, env = "PAYCORE_DATABASE_URL")]
        database_url: Option<String>,
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
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Create a merchant.
    Create {
        #[arg(long)]
        name: String,
        /// KYB fields as JSON, e.g. '{"legal_name":"…","country":"CN"}'.
        #[arg(long)]
        kyb: Option<String>,
    },
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    Show {
        merchant_id: String,
    },
    /// activate | freeze | unfreeze.
    Status {
        merchant_id: String,
        event: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Add a key: RSA2 or ED25519 with --public-key-pem FILE, or HMAC-SHA256 (secret printed once).
    KeyAdd {
        merchant_id: String,
        #[arg(long)]
        algorithm: String,
        #[arg(long)]
        public_key_pem: Option<PathBuf>,
    },
    KeyRevoke {
        merchant_id: String,
        key_id: String,
    },
    Keys {
        merchant_id: String,
    },
    /// Contract a product with its fee plan.
    Product {
        merchant_id: String,
        #[arg(long)]
        product: String,
        #[arg(long)]
        fee_rate_bps: u32,
        /// Fixed fee in minor units of --fee-currency.
        #[arg(long, default_value_t = 0)]
        fixed_fee: i64,
        #[arg(long, default_value = "CNY")]
        fee_currency: String,
        #[arg(long)]
        disabled: bool,
    },
    Products {
        merchant_id: String,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator token (printed once).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "operator")]
        role: String,
    },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn open(db: &DbArgs) -> anyhow::Result<Platform> {
    let sandbox = db.database_url.is_none();
    Platform::open(
        &db.data_dir,
        db.database_url.as_deref(),
        Arc::new(SystemClock),
        sandbox,
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(db) => {
            let p = open(&db).await?;
            println!("database at the newest schema ({})", p.db.engine().as_str());
            Ok(())
        }
        Command::Merchant { db, command } => merchant(&open(&db).await?, command).await,
        Command::Ledger { db, command } => {
            paycore::ledger_cmd::run(&open(&db).await?, &db.data_dir, command).await
        }
        Command::Bench {
            command:
                BenchCommand::Ledger {
                    engine,
                    database_url,
                    transfers,
                    accounts,
                    batch,
                    callers,
                    per_caller,
                    naive,
                    json,
                },
        } => {
            let cfg = paycore_ledger::bench::BenchConfig {
                accounts,
                batch,
                transfers,
                callers,
                per_caller,
                naive,
            };
            paycore::ledger_cmd::bench(engine, database_url.as_deref(), &cfg, json).await?;
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Api {
                    seconds,
                    concurrency,
                    merchants,
                    json,
                },
        } => {
            let cfg = paycore::bench_api::ApiBenchConfig {
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
        Command::Operator { db, command } => {
            let p = open(&db).await?;
            match command {
                OperatorCommand::Add { name, role } => {
                    let role = match role.as_str() {
                        "admin" => Role::Admin,
                        "operator" => Role::Operator,
                        "viewer" => Role::Viewer,
                        _ => anyhow::bail!("role must be admin, operator or viewer"),
                    };
                    let token = random_token(40)?;
                    Operators::new(p.db.clone())
                        .ensure(&name, &token, role, p.clock.unix_millis())
                        .await?;
                    println!("{token}");
                    Ok(())
                }
            }
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = FileSettings::load(args.config.as_ref())?;
    let s = ServeSettings::resolve(args, file)?;
    let mut p = Platform::open(
        &s.data_dir,
        s.database_url.as_deref(),
        Arc::new(SystemClock),
        s.sandbox,
    )
    .await?;
    if let Some(steps) = &s.query_back_seconds {
        if steps.is_empty() || steps.contains(&0) {
            anyhow::bail!("--query-back-seconds needs positive numbers");
        }
        p.acquiring_config.query_back.steps_ms = steps.iter().map(|s| *s as i64 * 1000).collect();
    }
    let listener = tokio::net::TcpListener::bind(&s.listen)
        .await
        .with_context(|| format!("listening on {}", s.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if s.tls.is_some() { "https" } else { "http" };
    let base_url = s
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let admin_token = std::env::var("PAYCORE_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let (state, generated) = p
        .gateway(s.gateway.clone(), admin_token.as_deref(), &base_url)
        .await?;
    if let Some(token) = generated {
        eprintln!("First operator token (shown once; set PAYCORE_ADMIN_TOKEN to choose your own): {token}");
    }
    if s.demo {
        let creds = paycore::demo::ensure(&p, &s.data_dir).await?;
        eprintln!("{}", paycore::demo::banner(&creds, &base_url));
    }
    tracing::info!(
        target: "detail",
        listen = %addr,
        public_url = %base_url,
        database = p.db.engine().as_str(),
        sandbox = s.sandbox,
        tls = s.tls.is_some(),
        "paycore serving"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = paycore::spawn_workers(&state, stop_rx);
    let tls = s
        .tls
        .map(|(cert, key)| paycore_gateway::TlsFiles { cert, key });
    paycore_gateway::serve(listener, state, tls, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    p.db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(target: "detail", "shutting down");
}

async fn merchant(p: &Platform, command: MerchantCommand) -> anyhow::Result<()> {
    let m = &p.merchants;
    match command {
        MerchantCommand::Create { name, kyb } => {
            let kyb: Kyb = match kyb {
                Some(json) => serde_json::from_str(&json).context("--kyb")?,
                None => Kyb::default(),
            };
            print(&MerchantView::from(m.create(&name, &kyb).await?))
        }
        MerchantCommand::List { after, limit } => {
            let list = m.list(after.as_deref(), limit).await?;
            print(&list.into_iter().map(MerchantView::from).collect::<Vec<_>>())
        }
        MerchantCommand::Show { merchant_id } => {
            print(&MerchantView::from(m.get(&merchant_id).await?))
        }
        MerchantCommand::Status {
            merchant_id,
            event,
            reason,
        } => {
            let event = MerchantEvent::parse(&event)?;
            let merchant = m
                .transition(&merchant_id, event, "cli", reason.as_deref())
                .await?;
            print(&MerchantView::from(merchant))
        }
        MerchantCommand::KeyAdd {
            merchant_id,
            algorithm,
            public_key_pem,
        } => {
            let algorithm: Algorithm = algorithm.parse()?;
            let pem = match &public_key_pem {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let new = match (algorithm, pem.as_deref()) {
                (Algorithm::HmacSha256, None) => NewKey::Hmac,
                (Algorithm::HmacSha256, Some(_)) => {
                    anyhow::bail!("HMAC-SHA256 takes no --public-key-pem")
                }
                (_, Some(pem)) => NewKey::PublicKey { algorithm, pem },
                (_, None) => anyhow::bail!("--public-key-pem is required for {algorithm}"),
            };
            let (key, secret, _) = m.add_key(&merchant_id, new).await?;
            print(&KeyView::new(key, secret.map(|s| s.into_inner())))
        }
        MerchantCommand::KeyRevoke {
            merchant_id,
            key_id,
        } => print(&KeyView::new(
            m.revoke_key(&merchant_id, &key_id).await?,
            None,
        )),
        MerchantCommand::Keys { merchant_id } => {
            let keys = m.keys(&merchant_id).await?;
            print(
                &keys
                    .into_iter()
                    .map(|k| KeyView::new(k, None))
                    .collect::<Vec<_>>(),
            )
        }
        MerchantCommand::Product {
            merchant_id,
            product,
            fee_rate_bps,
            fixed_fee,
            fee_currency,
            disabled,
        } => {
            let product: Product = product.parse()?;
            let currency = Currency::from_code(&fee_currency)?;
            let terms = ContractTerms {
                fee_rate_bps,
                fixed_fee: Money::from_minor(fixed_fee, currency),
                min_amount: None,
                max_amount: None,
                status: if disabled {
                    ContractStatus::Disabled
                } else {
                    ContractStatus::Enabled
                },
            };
            print(&ContractView::from(
                m.set_contract(&merchant_id, product, &terms).await?,
            ))
        }
        MerchantCommand::Products { merchant_id } => {
            let list = m.contracts(&merchant_id).await?;
            print(&list.into_iter().map(ContractView::from).collect::<Vec<_>>())
        }
    }
}

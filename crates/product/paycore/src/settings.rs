//! Settings: command-line flags, their environment twins, and an optional TOML file, in that
//! order of precedence, then the defaults.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// What the platform is: a sandbox (sandbox channels and controls, new merchants active at
/// once, loopback only) or production (real channels only, merchants go live after KYB and an
/// operator's activation). A database keeps the mode it was set up in: see [`crate::mode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sandbox,
    Production,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sandbox => "sandbox",
            Mode::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "sandbox" => Some(Mode::Sandbox),
            "production" => Some(Mode::Production),
            _ => None,
        }
    }
}

/// Where the data lives: every subcommand that touches the database takes these, before or
/// after its own name (`paycore --data-dir D ledger verify` or `paycore ledger verify --data-dir D`).
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Directory of the embedded database and the master key.
    #[arg(
        long,
        global = true,
        env = "PAYCORE_DATA_DIR",
        default_value = "./paycore-data"
    )]
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; absent means embedded SQLite in the data directory.
    #[arg(long, global = true, env = "PAYCORE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// sandbox or production. A new database takes this mode (default: sandbox on the embedded
    /// database, production on PostgreSQL) and keeps it; every later start and command reads
    /// it from the database, and a different --mode is refused.
    #[arg(long, global = true, env = "PAYCORE_MODE", value_enum)]
    pub mode: Option<Mode>,
    /// A TOML file with any of these settings (flags and environment win over it).
    #[arg(long, global = true, env = "PAYCORE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Where the data lives and the mode asked for, from the flags, their environment twins and the
/// settings file: what `serve` and every other subcommand resolve the same way.
#[derive(Debug, Clone)]
pub struct Target {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub mode: Option<Mode>,
}

impl DbArgs {
    pub fn resolve(&self, file: &FileSettings) -> Target {
        // The data dir flag has a default, so the file only wins over that default.
        let data_dir = if self.data_dir == std::path::Path::new("./paycore-data") {
            file.data_dir
                .clone()
                .unwrap_or_else(|| self.data_dir.clone())
        } else {
            self.data_dir.clone()
        };
        Target {
            data_dir,
            database_url: self.database_url.clone().or(file.database_url.clone()),
            mode: self.mode.or(file.mode),
        }
    }

    /// [`DbArgs::resolve`] with the settings file named by `--config`, if any.
    pub fn target(&self) -> anyhow::Result<Target> {
        Ok(self.resolve(&FileSettings::load(self.config.as_ref())?))
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PAYCORE_LISTEN")]
    pub listen: Option<String>,
    /// The URL this server is reached at (channels' callbacks, the net-bank return, page links)
    /// [default: http(s)://<listen address>].
    #[arg(long, env = "PAYCORE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, env = "PAYCORE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "PAYCORE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Let sandbox mode listen on an address other than loopback (a sandbox has public test
    /// controls: only for a shared test environment behind its own access control).
    #[arg(long, env = "PAYCORE_ALLOW_PUBLIC_SANDBOX")]
    pub allow_public_sandbox: bool,
    /// In sandbox mode, call the sandbox channels of a `paycore sandbox` process instead of
    /// serving them here: the credentials file it wrote (its `channels.json`).
    #[arg(long, env = "PAYCORE_SANDBOX_CHANNELS")]
    pub sandbox_channels: Option<PathBuf>,
    /// Create (once) and print a demo merchant with keys, ready for a signed request.
    #[arg(long)]
    pub demo: bool,
    /// Largest request body accepted, in bytes [default: 65536].
    #[arg(long, env = "PAYCORE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Waits between query-backs of a channel result that is not known yet, in seconds,
    /// comma-separated; after the last, hourly for a day [default: 5,30,120,600,3600].
    #[arg(long, env = "PAYCORE_QUERY_BACK_SECONDS", value_delimiter = ',')]
    pub query_back_seconds: Option<Vec<u64>>,
    /// Requests per second allowed per merchant; 0 turns the limit off [default: 1000].
    #[arg(long, env = "PAYCORE_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Internal hosts merchants' notify URLs may reach although they resolve to private
    /// addresses, comma-separated (`hooks.corp.example`, or `.corp.example` for every name
    /// under it) [default: none: public addresses only, and loopback in sandbox mode].
    #[arg(long, env = "PAYCORE_NOTIFY_ALLOW_HOSTS", value_delimiter = ',')]
    pub notify_allow_hosts: Option<Vec<String>>,
    /// Failed operator authentications allowed per client address per minute before the
    /// address is refused until the minute is over; 0 turns the limit off [default: 10].
    #[arg(long, env = "PAYCORE_OPERATOR_AUTH_FAILURES")]
    pub operator_auth_failures: Option<u32>,
    /// Connections open at once; beyond, new ones are closed [default: 4096].
    #[arg(long, env = "PAYCORE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Requests per second per client address, before authentication; 0 turns the limit off
    /// [default: 5000].
    #[arg(long, env = "PAYCORE_ADDRESS_RATE_LIMIT")]
    pub address_rate_limit: Option<u32>,
    /// Serve `/metrics` on this address only (an internal one), not with the API
    /// [default: with the API].
    #[arg(long, env = "PAYCORE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
}

/// The TOML file: the same settings by the same names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub query_back_seconds: Option<Vec<u64>>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub mode: Option<Mode>,
    pub allow_public_sandbox: Option<bool>,
    pub sandbox_channels: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub rate_limit: Option<u32>,
    pub log_format: Option<String>,
    pub notify_allow_hosts: Option<Vec<String>>,
    pub operator_auth_failures: Option<u32>,
    pub max_connections: Option<usize>,
    pub address_rate_limit: Option<u32>,
    pub metrics_listen: Option<String>,
}

impl FileSettings {
    pub fn load(path: Option<&PathBuf>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))
            }
        }
    }
}

/// The resolved settings of `serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub query_back_seconds: Option<Vec<u64>>,
    pub listen: String,
    pub public_url: Option<String>,
    pub target: Target,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub allow_public_sandbox: bool,
    pub sandbox_channels: Option<PathBuf>,
    pub demo: bool,
    pub notify_allow_hosts: Vec<String>,
    pub metrics_listen: Option<String>,
    pub gateway: paycore_gateway::GatewayConfig,
}

impl ServeSettings {
    pub fn resolve(db: &DbArgs, args: ServeArgs, file: FileSettings) -> anyhow::Result<Self> {
        let defaults = paycore_gateway::GatewayConfig::default();
        let target = db.resolve(&file);
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => anyhow::bail!("TLS needs both a certificate and a key"),
        };
        let rate = args
            .rate_limit
            .or(file.rate_limit)
            .unwrap_or(defaults.rate_per_second);
        let sandbox_channels = args.sandbox_channels.or(file.sandbox_channels);
        let metrics_listen = args.metrics_listen.or(file.metrics_listen);
        Ok(ServeSettings {
            query_back_seconds: args.query_back_seconds.or(file.query_back_seconds),
            public_url: args.public_url.or(file.public_url),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            allow_public_sandbox: args.allow_public_sandbox
                || file.allow_public_sandbox.unwrap_or(false),
            sandbox_channels,
            target,
            tls,
            demo: args.demo,
            metrics_listen: metrics_listen.clone(),
            notify_allow_hosts: args
                .notify_allow_hosts
                .or(file.notify_allow_hosts)
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect(),
            gateway: paycore_gateway::GatewayConfig {
                max_body_bytes: args
                    .max_body_bytes
                    .or(file.max_body_bytes)
                    .unwrap_or(defaults.max_body_bytes),
                rate_per_second: rate,
                rate_burst: rate.saturating_mul(2),
                operator_auth_failures: args
                    .operator_auth_failures
                    .or(file.operator_auth_failures)
                    .unwrap_or(defaults.operator_auth_failures),
                address_rate_per_second: args
                    .address_rate_limit
                    .or(file.address_rate_limit)
                    .unwrap_or(defaults.address_rate_per_second),
                metrics_on_api: metrics_listen.is_none(),
                connections: paycore_gateway::ConnectionLimits {
                    max_connections: args
                        .max_connections
                        .or(file.max_connections)
                        .unwrap_or(defaults.connections.max_connections),
                    ..defaults.connections.clone()
                },
                ..defaults
            },
        })
    }
}

impl ServeSettings {
    /// What the mode allows of these settings: in production no demo merchant (its secret sits
    /// in a file) and no sandbox channels; in sandbox mode a loopback listen address only,
    /// unless forced.
    pub fn check_mode(&self, mode: Mode) -> anyhow::Result<()> {
        match mode {
            Mode::Production if self.demo => {
                anyhow::bail!("--demo is for sandbox mode only, and this is production mode")
            }
            Mode::Production if self.sandbox_channels.is_some() => {
                anyhow::bail!("--sandbox-channels needs sandbox mode, and this is production mode")
            }
            Mode::Production => Ok(()),
            Mode::Sandbox if self.allow_public_sandbox => Ok(()),
            Mode::Sandbox => crate::mode::require_loopback(&self.listen, "sandbox mode"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn settings(args: &[&str], file: &str) -> anyhow::Result<ServeSettings> {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))?;
        ServeSettings::resolve(&cli.db, cli.serve, toml::from_str(file)?)
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file = "listen = \"127.0.0.1:9000\"\nrate_limit = 5\nmode = \"production\"\ndata_dir = \"/tmp/x\"";
        let s = settings(&["--listen", "127.0.0.1:7000"], file).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7000");
        assert_eq!(s.gateway.rate_per_second, 5);
        assert_eq!(s.target.mode, Some(Mode::Production));
        assert_eq!(s.target.data_dir, PathBuf::from("/tmp/x"));
        let s = settings(&["--mode", "sandbox"], file).unwrap();
        assert_eq!(s.target.mode, Some(Mode::Sandbox));
        let s = settings(&[], "").unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(
            s.target.mode, None,
            "the database decides when nothing asks"
        );
        assert!(toml::from_str::<FileSettings>("typo = 1").is_err());
        assert!(settings(&["--mode", "prod"], "").is_err());
    }

    #[test]
    fn the_mode_limits_what_serve_may_do() {
        let demo = settings(&["--demo"], "").unwrap();
        assert!(demo.check_mode(Mode::Production).is_err());
        assert!(demo.check_mode(Mode::Sandbox).is_ok());
        let remote = settings(&["--sandbox-channels", "/tmp/sb/channels.json"], "").unwrap();
        assert_eq!(
            remote.sandbox_channels,
            Some(PathBuf::from("/tmp/sb/channels.json"))
        );
        assert!(remote.check_mode(Mode::Production).is_err());
        assert!(remote.check_mode(Mode::Sandbox).is_ok());
        let public = settings(&["--listen", "0.0.0.0:8080"], "").unwrap();
        assert!(public.check_mode(Mode::Sandbox).is_err());
        assert!(public.check_mode(Mode::Production).is_ok());
        let forced = settings(&["--listen", "0.0.0.0:8080", "--allow-public-sandbox"], "").unwrap();
        assert!(forced.check_mode(Mode::Sandbox).is_ok());
    }
}

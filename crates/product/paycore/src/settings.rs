//! Settings: command-line flags, their environment twins, and an optional TOML file, in that
//! order of precedence, then the defaults.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

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
    /// A TOML file with any of these settings (flags and environment win over it).
    #[arg(long, env = "PAYCORE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Sandbox mode: sandbox channels and controls on, new merchants active at once
    /// [default: on with the embedded database, off with PostgreSQL].
    #[arg(long, env = "PAYCORE_SANDBOX")]
    pub sandbox: Option<bool>,
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
    pub sandbox: Option<bool>,
    pub sandbox_channels: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub rate_limit: Option<u32>,
    pub log_format: Option<String>,
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
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub sandbox: bool,
    pub sandbox_channels: Option<PathBuf>,
    pub demo: bool,
    pub gateway: paycore_gateway::GatewayConfig,
}

impl ServeSettings {
    pub fn resolve(db: DbArgs, args: ServeArgs, file: FileSettings) -> anyhow::Result<Self> {
        let defaults = paycore_gateway::GatewayConfig::default();
        // The data dir flag has a default, so the file only wins over that default.
        let data_dir = if db.data_dir == std::path::Path::new("./paycore-data") {
            file.data_dir.unwrap_or(db.data_dir)
        } else {
            db.data_dir
        };
        let database_url = db.database_url.or(file.database_url);
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
        let sandbox = args
            .sandbox
            .or(file.sandbox)
            .unwrap_or(database_url.is_none());
        let sandbox_channels = args.sandbox_channels.or(file.sandbox_channels);
        if sandbox_channels.is_some() && !sandbox {
            anyhow::bail!("--sandbox-channels needs sandbox mode");
        }
        Ok(ServeSettings {
            query_back_seconds: args.query_back_seconds.or(file.query_back_seconds),
            public_url: args.public_url.or(file.public_url),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            sandbox,
            sandbox_channels,
            data_dir,
            database_url,
            tls,
            demo: args.demo,
            gateway: paycore_gateway::GatewayConfig {
                max_body_bytes: args
                    .max_body_bytes
                    .or(file.max_body_bytes)
                    .unwrap_or(defaults.max_body_bytes),
                rate_per_second: rate,
                rate_burst: rate.saturating_mul(2),
                ..defaults
            },
        })
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

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileSettings = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nrate_limit = 5\nsandbox = false\ndata_dir = \"/tmp/x\"",
        )
        .unwrap();
        let cli = Cli::try_parse_from(["t", "--listen", "127.0.0.1:7000"]).unwrap();
        let s = ServeSettings::resolve(cli.db, cli.serve, file).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7000");
        assert_eq!(s.gateway.rate_per_second, 5);
        assert!(!s.sandbox);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        let cli = Cli::try_parse_from(["t"]).unwrap();
        let s = ServeSettings::resolve(cli.db, cli.serve, FileSettings::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert!(
            s.sandbox,
            "sandbox is on by default on the embedded database"
        );
        assert!(toml::from_str::<FileSettings>("typo = 1").is_err());
    }

    #[test]
    fn a_remote_sandbox_needs_sandbox_mode() {
        let cli =
            Cli::try_parse_from(["t", "--sandbox-channels", "/tmp/sb/channels.json"]).unwrap();
        let s = ServeSettings::resolve(cli.db, cli.serve, FileSettings::default()).unwrap();
        assert_eq!(
            s.sandbox_channels,
            Some(PathBuf::from("/tmp/sb/channels.json"))
        );
        let cli = Cli::try_parse_from([
            "t",
            "--sandbox",
            "false",
            "--sandbox-channels",
            "/tmp/sb/channels.json",
        ])
        .unwrap();
        assert!(ServeSettings::resolve(cli.db, cli.serve, FileSettings::default()).is_err());
    }
}

//! `paycore sandbox`: the sandbox channels as a process of their own, with their own database —
//! as real channels are remote. It serves the channels' APIs, pages and controls under
//! `/sandbox/…` (and `/healthz`), sends their notifications, and writes the platform's
//! credentials (base URL, shared secrets, public keys) to `channels.json` in its data directory,
//! readable by its owner only. A platform started with `--sandbox-channels <that file>` talks to
//! it instead of serving the sandbox itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use paycore_kernel::SystemClock;
use paycore_sandbox::{ChannelCredentials, SandboxState};
use paycore_store::Db;

/// The file the sandbox writes its credentials to, in its data directory.
pub const CREDENTIALS_FILE: &str = "channels.json";

#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Address and port to listen on.
    #[arg(long, env = "PAYCORE_SANDBOX_LISTEN", default_value = "127.0.0.1:9100")]
    pub listen: String,
    /// The URL the sandbox is reached at (its pay pages, and the platform's calls)
    /// [default: http://<listen address>].
    #[arg(long, env = "PAYCORE_SANDBOX_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Listen on an address other than loopback (its controls are public: only for a shared
    /// test environment behind its own access control).
    #[arg(long, env = "PAYCORE_ALLOW_PUBLIC_SANDBOX")]
    pub allow_public_sandbox: bool,
}

/// The sandbox's own tables: the store's and the sandbox's.
const SCHEMA: [&paycore_store::migrate::Schema; 2] =
    [&paycore_store::migrate::SCHEMA, &paycore_sandbox::SCHEMA];

/// Opens the sandbox's database in `data_dir` (or at `database_url`), migrated.
async fn open_db(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Db> {
    crate::custody::private_dir(data_dir)?;
    let db = Db::open(data_dir, database_url)
        .await
        .context("opening the sandbox database")?;
    paycore_store::migrate::run(&db, &SCHEMA)
        .await
        .context("migrating the sandbox database")?;
    Ok(db)
}

/// `paycore sandbox`: serves until SIGINT or SIGTERM. The credentials file is written once the
/// listener is bound (with the port it got), before the first request is served.
pub async fn run(
    data_dir: PathBuf,
    database_url: Option<String>,
    args: SandboxArgs,
) -> anyhow::Result<()> {
    if !args.allow_public_sandbox {
        crate::mode::require_loopback(&args.listen, "the sandbox")?;
    }
    let db = open_db(&data_dir, database_url.as_deref()).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let base_url = args.public_url.unwrap_or_else(|| format!("http://{addr}"));
    // The channels' keys are sealed under the sandbox's own master key (in its data directory,
    // or PAYCORE_MASTER_KEY / PAYCORE_MASTER_KEY_FILE).
    let vault = crate::custody::vault(&data_dir)?;
    let state = SandboxState::new(db.clone(), Arc::new(SystemClock), vault, base_url);
    let credentials = ChannelCredentials::of(&state)
        .await
        .context("the sandbox channels' keys")?;
    let file = data_dir.join(CREDENTIALS_FILE);
    credentials
        .write(&file)
        .with_context(|| format!("writing {}", file.display()))?;
    tracing::info!(target: "detail", listen = %addr, base_url = %credentials.base_url,
        credentials = %file.display(), "paycore sandbox serving");
    eprintln!(
        "Sandbox channels at {} — start the platform with --sandbox-channels {}",
        credentials.base_url,
        file.display()
    );
    let served = paycore_sandbox::serve_standalone(listener, state.clone(), async {
        crate::serve::shutdown_signal().await;
    })
    .await;
    state.stop();
    if let Err(e) = db.durable().await {
        tracing::error!(target: "error", code = "STOP_SYNC", message = %e);
    }
    db.close().await;
    served.context("serving")
}

/// A `paycore sandbox` child process on a loopback port of its choosing, with a fresh data
/// directory; killed and its directory removed when dropped. For the API benchmark and tests.
pub struct SandboxProcess {
    child: tokio::process::Child,
    dir: PathBuf,
    pub credentials: ChannelCredentials,
}

impl SandboxProcess {
    /// Starts `exe sandbox` and waits until it has written its credentials and answers.
    pub async fn spawn(exe: &Path) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "paycore-sandbox-{}-{}",
            std::process::id(),
            paycore_kernel::crypto::random_token(8)?
        ));
        std::fs::create_dir_all(&dir)?;
        let child = Self::start(exe, &dir, "127.0.0.1:0")?;
        // Made before waiting, so that a start that fails still kills the child and removes
        // its directory (on drop).
        let mut me = Self {
            child,
            dir,
            credentials: ChannelCredentials {
                base_url: String::new(),
                channels: Vec::new(),
            },
        };
        me.credentials = me.wait_ready().await?;
        Ok(me)
    }

    fn start(exe: &Path, dir: &Path, listen: &str) -> anyhow::Result<tokio::process::Child> {
        tokio::process::Command::new(exe)
            .arg("sandbox")
            .args(["--listen", listen, "--data-dir"])
            .arg(dir)
            .env_remove("PAYCORE_DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} sandbox", exe.display()))
    }

    /// Kills the process (as a channel that goes away does) and waits until it has gone: from
    /// then on its port refuses connections.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("killing the sandbox")
    }

    /// Starts the sandbox again on the same address, with the same database and keys.
    pub async fn restart(&mut self, exe: &Path) -> anyhow::Result<()> {
        let listen = self
            .credentials
            .base_url
            .strip_prefix("http://")
            .context("the sandbox's address")?
            .to_string();
        self.kill().await?;
        // Removed so that readiness waits for the new process's own file.
        let _ = std::fs::remove_file(self.dir.join(CREDENTIALS_FILE));
        self.child = Self::start(exe, &self.dir, &listen)?;
        self.credentials = self.wait_ready().await?;
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<ChannelCredentials> {
        let file = self.dir.join(CREDENTIALS_FILE);
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the sandbox process ended at start-up: {status}");
            }
            if let Ok(creds) = ChannelCredentials::read(&file) {
                let health = format!("{}/healthz", creds.base_url);
                if http
                    .get(&health)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    return Ok(creds);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the sandbox process did not become ready within 30 s")
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

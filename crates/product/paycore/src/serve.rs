//! `paycore serve`: the server and its background work, and a clean stop. SIGINT or SIGTERM:
//! stop accepting, let the requests in flight finish, stop the workers (the job running finishes,
//! claimed work not started is handed back, notification attempts in flight end), flush the
//! embedded database's last commits to disk, and exit — within [`STOP_DEADLINE`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use paycore_kernel::SystemClock;

use crate::settings::{DbArgs, FileSettings, ServeArgs, ServeSettings};
use crate::Platform;

/// How long the requests in flight and the workers get to finish after the signal; what is
/// still running then is abandoned (a channel call left waiting is settled by the query-back
/// after the restart). The flush and the exit follow, well within 10 s of the signal.
pub const STOP_DEADLINE: Duration = Duration::from_secs(7);

/// How long a channel call in flight is still waited for after the signal; then it ends as a
/// timeout would (unknown, settled by the query-back), so that its request can answer.
pub const CHANNEL_GRACE: Duration = Duration::from_secs(4);

/// The platform as the settings describe it (the mode checked against the database).
async fn platform(s: &ServeSettings) -> anyhow::Result<Platform> {
    let mut p =
        Platform::open_checked(&s.target, Arc::new(SystemClock), |mode| s.check_mode(mode)).await?;
    p.outbound.allowed_hosts = s.notify_allow_hosts.clone();
    if let Some(file) = &s.sandbox_channels {
        p.sandbox_channels = Some(paycore_sandbox::ChannelCredentials::read(file)?);
    }
    if let Some(steps) = &s.query_back_seconds {
        if steps.is_empty() || steps.contains(&0) {
            anyhow::bail!("--query-back-seconds needs positive numbers");
        }
        p.acquiring_config.query_back.steps_ms = steps.iter().map(|s| *s as i64 * 1000).collect();
    }
    Ok(p)
}

/// `/metrics` on a listener of its own, until the workers are told to stop.
async fn spawn_metrics(
    listen: &str,
    state: &paycore_gateway::AppState,
    stop: &tokio::sync::watch::Sender<bool>,
) -> anyhow::Result<()> {
    let metrics = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} for /metrics"))?;
    tracing::info!(target: "detail", listen = %metrics.local_addr()?, "metrics served apart");
    let mut stop = stop.subscribe();
    tokio::spawn(paycore_gateway::serve_metrics(
        metrics,
        state.clone(),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));
    Ok(())
}

pub async fn run(db: DbArgs, args: ServeArgs) -> anyhow::Result<()> {
    let file = FileSettings::load(db.config.as_ref())?;
    let s = ServeSettings::resolve(&db, args, file)?;
    let p = platform(&s).await?;
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
        let creds = crate::demo::ensure(&p, &s.target.data_dir).await?;
        eprintln!(
            "{}",
            crate::demo::banner(&creds, &base_url, &s.target.data_dir)
        );
    }
    tracing::info!(target: "detail", listen = %addr, public_url = %base_url,
        database = p.db.engine().as_str(), sandbox = p.sandbox, tls = s.tls.is_some(),
        "paycore serving");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = crate::spawn_workers(&state, stop_rx);
    let tls = s
        .tls
        .map(|(cert, key)| paycore_gateway::TlsFiles { cert, key });
    if let Some(listen) = &s.metrics_listen {
        spawn_metrics(listen, &state, &stop_tx).await?;
    }
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel::<Instant>();
    let mut server = tokio::spawn(paycore_gateway::serve(
        listener,
        state.clone(),
        tls,
        async move {
            let at = shutdown_signal().await;
            let _ = signal_tx.send(at);
        },
    ));
    let since = tokio::select! {
        at = signal_rx => at.unwrap_or_else(|_| Instant::now()),
        // The server ended on its own (an error): stop everything else too.
        ended = &mut server => {
            let _ = stop_tx.send(true);
            return ended.context("server task")?.context("serving");
        }
    };
    // The server stops accepting and lets its requests finish; the workers stop meanwhile.
    let _ = stop_tx.send(true);
    let acquiring = state.acquiring.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until((since + CHANNEL_GRACE).into()).await;
        acquiring.stop_waiting();
    });
    if let Some(sandbox) = &state.sandbox {
        sandbox.stop();
    }
    let deadline = since + STOP_DEADLINE;
    let mut unfinished = Vec::new();
    if !finish(&mut server, deadline).await {
        unfinished.push("requests in flight".to_string());
    }
    for (n, mut w) in workers.into_iter().enumerate() {
        if !finish(&mut w, deadline).await {
            unfinished.push(format!("worker {n}"));
        }
    }
    if !unfinished.is_empty() {
        tracing::warn!(target: "detail", abandoned = ?unfinished,
            "stopping: abandoned what had not finished by the deadline");
    }
    // What was answered is on disk already; this makes the rest of the last commits durable.
    if let Err(e) = p.db.durable().await {
        tracing::error!(target: "error", code = "STOP_SYNC", message = %e);
    }
    p.db.close().await;
    tracing::info!(target: "detail", elapsed_ms = since.elapsed().as_millis() as u64,
        "paycore stopped");
    Ok(())
}

/// Waits for a task until `deadline`, then aborts it. True when it finished in time.
async fn finish<T>(task: &mut tokio::task::JoinHandle<T>, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, &mut *task).await.is_ok() {
        return true;
    }
    task.abort();
    false
}

/// SIGINT (Ctrl-C) or SIGTERM; the moment it came.
pub(crate) async fn shutdown_signal() -> Instant {
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
    Instant::now()
}

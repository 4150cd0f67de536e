//! Logs (E7): interface digest (`digest.api`), business digest (`digest.biz`), detail and error
//! lines, plain or JSON, to standard error. `RUST_LOG` chooses what is written (default:
//! `info`). The interactive demo (`serve --demo`) keeps its terminal quiet: without `RUST_LOG`,
//! its digest lines go to `digest.log` in the data directory instead. Benchmarks print one
//! summary: without `RUST_LOG` their digest lines are not written at all.

use std::path::Path;

use anyhow::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const DEFAULT: &str = "info,sqlx=warn";

/// Where digest lines go when `RUST_LOG` does not say.
#[derive(Debug, Clone, Copy)]
pub enum Digests<'a> {
    Stderr,
    /// `digest.log` in this directory (the interactive demo).
    File(&'a Path),
    /// Not written (benchmarks).
    Off,
}

pub fn init(json: bool, digests: Digests<'_>) -> anyhow::Result<()> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let explicit = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let digests_to_file = match digests {
        Digests::File(dir) if explicit.is_none() => Some(dir),
        _ => None,
    };
    let stderr_filter = match (&explicit, digests) {
        (Some(v), _) => EnvFilter::new(v),
        (None, Digests::File(_) | Digests::Off) => EnvFilter::new(format!("{DEFAULT},digest=off")),
        (None, Digests::Stderr) => EnvFilter::new(DEFAULT),
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let stderr = if json {
        stderr
            .json()
            .with_current_span(true)
            .with_filter(stderr_filter)
            .boxed()
    } else {
        stderr.with_filter(stderr_filter).boxed()
    };
    let file = match digests_to_file {
        Some(dir) => {
            crate::custody::private_dir(dir)?;
            let path = dir.join("digest.log");
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .with_filter(EnvFilter::new("off,digest=info"));
            Some(layer.boxed())
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .context("installing the log subscriber")
}

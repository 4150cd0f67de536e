//! Group commit for the embedded database: transactions commit to the write-ahead log without
//! waiting for the disk, and whoever needs them durable waits for one fsync of the log that
//! started after its commits. Every caller waiting when an fsync starts is served by it, so a
//! hundred concurrent requests cost one disk flush, not a hundred — and nothing is answered or
//! sent out before the commit it rests on is on disk. A failed fsync stops the process; it is
//! never retried.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug)]
pub struct Syncer {
    wal: PathBuf,
    state: Mutex<State>,
    done: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Tickets handed out: each `sync` call takes the next one.
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    running: bool,
}

impl Syncer {
    pub fn new(wal: PathBuf) -> Self {
        Self {
            wal,
            state: Mutex::new(State::default()),
            done: tokio::sync::Notify::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.wal
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn sync(&self) -> std::io::Result<()> {
        let ticket = {
            let mut s = self.lock();
            s.requested += 1;
            s.requested
        };
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Registered before looking at the state, so a wake-up in between is not missed.
            notified.as_mut().enable();
            let covers = {
                let mut s = self.lock();
                if s.completed >= ticket {
                    return Ok(());
                }
                if s.running {
                    None
                } else {
                    s.running = true;
                    Some(s.requested)
                }
            };
            match covers {
                None => notified.await,
                Some(upto) => {
                    let wal = self.wal.clone();
                    let result = tokio::task::spawn_blocking(move || fsync(&wal))
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
                    if let Err(e) = result {
                        // The log may not be on disk, and a second fsync could report success
                        // for pages the kernel already dropped: stop, and let recovery on
                        // restart decide what was committed.
                        tracing::error!(target: "error", error = %e, wal = %self.wal.display(),
                            "fsync of the write-ahead log failed: stopping");
                        std::process::abort();
                    }
                    {
                        let mut s = self.lock();
                        s.running = false;
                        s.completed = s.completed.max(upto);
                    }
                    self.done.notify_waiters();
                }
            }
        }
    }
}

/// fsync of the log; a missing log has nothing to sync (its pages are in the database file).
pub(crate) fn fsync(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().read(true).open(path) {
        // fsync applies to the file, whichever descriptor asks for it.
        Ok(f) => f.sync_data(),
        // No log: everything is in the database file, synced by SQLite's checkpoint.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_fsyncs_and_all_return() {
        let dir = std::env::temp_dir().join(format!("paycore-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wal = dir.join("x-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let s = Arc::new(Syncer::new(wal));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let s = s.clone();
            set.spawn(async move { s.sync().await });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap().unwrap();
        }
        let (completed, running) = {
            let st = s.lock();
            (st.completed, st.running)
        };
        assert_eq!(completed, 200, "every ticket covered");
        assert!(!running);
        // A missing log is nothing to sync.
        let gone = Syncer::new(dir.join("missing-wal"));
        gone.sync().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Group commit: single-voucher callers queue on a channel; a writer takes everything queued
//! (up to `group_max`) and posts it as one batch in one transaction, so concurrent callers share
//! one durable commit. Each voucher still succeeds or fails on its own.

use std::sync::Arc;

use paycore_kernel::Clock;
use paycore_store::Db;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::engine::{self, AccountCache, Input};
use crate::error::LedgerError;
use crate::model::PostResult;

type Reply = oneshot::Sender<Result<PostResult, LedgerError>>;

/// Bound on queued vouchers: callers wait (back-pressure) rather than grow memory.
const QUEUE: usize = 65_536;

pub struct Committer {
    tx: mpsc::Sender<(Input, Reply)>,
}

impl Committer {
    /// Starts the writers. They hold the database and clock, not the ledger, so they stop when
    /// the last ledger clone (and with it the sender) is dropped.
    pub fn start(ledger: crate::Ledger) -> Committer {
        let (tx, rx) = mpsc::channel::<(Input, Reply)>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let db = ledger.db().clone();
        // Several batches in flight: on SQLite the writer thread runs them one after another
        // (planning each on what the one before left) but commits and fsyncs them together.
        let writers = ledger.config().writers.max(1);
        let max = ledger.config().group_max.clamp(1, engine::MAX_BATCH);
        for _ in 0..writers {
            tokio::spawn(writer(
                db.clone(),
                ledger.clock().clone(),
                rx.clone(),
                max,
                ledger.cache(),
            ));
        }
        Committer { tx }
    }

    pub async fn submit(&self, input: Input) -> Result<PostResult, LedgerError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((input, reply))
            .await
            .map_err(|_| LedgerError::WriterGone)?;
        wait.await.map_err(|_| LedgerError::WriterGone)?
    }
}

async fn writer(
    db: Db,
    clock: Arc<dyn Clock>,
    rx: Arc<Mutex<mpsc::Receiver<(Input, Reply)>>>,
    max: usize,
    cache: Option<Arc<AccountCache>>,
) {
    let mut batch: Vec<(Input, Reply)> = Vec::with_capacity(max);
    loop {
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let (inputs, replies): (Vec<Input>, Vec<Reply>) = batch.drain(..).unzip();
        match commit(&db, clock.as_ref(), inputs.into(), cache.as_ref()).await {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(target: "error", error = %e, "ledger group commit failed");
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(LedgerError::Commit(msg.clone())));
                }
            }
        }
    }
}

/// Posts one batch as a unit of work (on the embedded database it shares its commit and fsync
/// with the units queued beside it). A batch that lost a race with a concurrent one
/// (PostgreSQL deadlock or serialization failure, an account moved since it was cached, or the
/// same new voucher id committed by another writer first) is rolled back and retried: the
/// retry sees the winner's rows.
pub async fn commit(
    db: &Db,
    clock: &dyn Clock,
    inputs: Arc<[Input]>,
    cache: Option<&Arc<AccountCache>>,
) -> Result<Vec<PostResult>, LedgerError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (work, now, cache_in) = (inputs.clone(), clock.unix_millis(), cache.cloned());
        let engine = db.engine();
        let result = db
            .unit(move |conn| {
                Box::pin(async move {
                    let (r, touched) =
                        engine::post_batch_with(conn, engine, &work, now, cache_in.as_deref())
                            .await?;
                    // Cached before the commit, so that the next unit of the same group sees
                    // it; should the commit fail, the version guard finds the cache ahead of
                    // the table and the batch after it is retried on a fresh read.
                    if let Some(cache) = &cache_in {
                        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
                        if c.len() + touched.len() > engine::CACHE_MAX {
                            c.clear();
                        }
                        c.extend(touched.into_iter().map(|a| (a.id, a)));
                    }
                    Ok::<_, LedgerError>(r)
                })
            })
            .await;
        match result {
            Err(e) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                if let Some(cache) = cache {
                    cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
                }
                tracing::warn!(target: "detail", error = %e, attempt, "ledger batch retried");
            }
            other => return other,
        }
    }
}

const MAX_ATTEMPTS: u32 = 5;

fn retryable(e: &LedgerError) -> bool {
    match e {
        LedgerError::Stale => true,
        LedgerError::Store(e) => e.is_unique_violation() || e.is_conflict(),
        _ => false,
    }
}

//! Hot accounts (L5, 缓冲记账, article 001 3.14). A buffered account's increases are written as
//! flows with their entries, without touching (or locking) the account row; the summarizer
//! applies them in batches. It adds the flows to the balance and deletes them in one
//! transaction, so a crash at any point leaves every flow applied exactly once or not yet.
//! Only increases are buffered (decreases stay real-time against the applied balance), so the
//! lag can only understate what an account holds, never let it be overspent.

use std::collections::BTreeMap;
use std::time::Duration;

use paycore_store::{Engine, Row};
use serde::Serialize;

use crate::error::LedgerError;
use crate::model::Side;
use crate::{sql, Ledger};

/// Summaries per tick at most (a limit on one tick's work).
const MAX_ROUNDS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SummaryRun {
    pub flows: usize,
    pub accounts: usize,
}

/// How far the summarizer is behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BufferLag {
    pub flows: i64,
    /// Age of the oldest unapplied flow on the ledger clock, in milliseconds.
    pub oldest_ms: i64,
}

impl Ledger {
    /// Applies up to `limit` buffered flows. Call until it returns 0 flows to drain.
    pub async fn summarize(&self, limit: i64) -> Result<SummaryRun, LedgerError> {
        self.summarize_inner(limit, false).await
    }

    /// Test hook: does all of a summary's work and then "crashes" before the commit.
    #[doc(hidden)]
    pub async fn summarize_then_crash(&self, limit: i64) -> Result<SummaryRun, LedgerError> {
        self.summarize_inner(limit, true).await
    }

    async fn summarize_inner(&self, limit: i64, crash: bool) -> Result<SummaryRun, LedgerError> {
        self.ready().await?;
        let engine = self.db().engine();
        let mut tx = self.db().begin().await?;
        let skip = match engine {
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, account_id, side, amount FROM ledger_flows ORDER BY id LIMIT $1{skip}"
        )))
        .bind(limit.max(1))
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut sums: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for r in &rows {
            ids.push(r.try_get::<i64, _>("id")?);
            let amount: i64 = r.try_get("amount")?;
            let s = sums.entry(r.try_get("account_id")?).or_default();
            let slot = match Side::parse(&r.try_get::<String, _>("side")?)? {
                Side::Debit => &mut s.0,
                Side::Credit => &mut s.1,
            };
            *slot = slot
                .checked_add(amount)
                .ok_or(LedgerError::Money(paycore_kernel::MoneyError::Overflow))?;
        }
        // Accounts in id order (the map is sorted), so concurrent summarizers cannot deadlock.
        for (account, (d, c)) in &sums {
            sqlx::query(
                "UPDATE ledger_accounts SET debits = debits + $1, credits = credits + $2,
                    version = version + 1 WHERE id = $3",
            )
            .bind(*d)
            .bind(*c)
            .bind(*account)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in ids.chunks(sql::MAX_PARAMS) {
            let q = format!(
                "DELETE FROM ledger_flows WHERE id IN ({})",
                sql::list(engine, 1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *tx).await?;
        }
        let run = SummaryRun {
            flows: ids.len(),
            accounts: sums.len(),
        };
        if crash {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
            self.invalidate(&sums.keys().copied().collect::<Vec<_>>());
        }
        Ok(run)
    }

    /// Summarizes until no flow is left (day-end does this before its checks). Bounded: at
    /// most the rounds the current backlog needs plus a few for flows arriving meanwhile.
    pub async fn summarize_all(&self) -> Result<usize, LedgerError> {
        let batch = self.config().summary_batch.max(1);
        let backlog = self.buffer_lag().await?.flows;
        let rounds = backlog / batch + 4;
        let mut total = 0;
        for _ in 0..rounds {
            let run = self.summarize(batch).await?;
            total += run.flows;
            if run.flows == 0 {
                break;
            }
        }
        Ok(total)
    }

    pub async fn buffer_lag(&self) -> Result<BufferLag, LedgerError> {
        self.ready().await?;
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM ledger_flows")
            .fetch_one(self.db().writer())
            .await?;
        let n: i64 = row.try_get("n")?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        Ok(BufferLag {
            flows: n,
            oldest_ms: oldest.map(|o| self.clock().unix_millis() - o).unwrap_or(0),
        })
    }

    /// Runs the summarizer every `summary_interval_ms` until the task is aborted.
    pub fn spawn_summarizer(&self) -> tokio::task::JoinHandle<()> {
        let ledger = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(
                ledger.config().summary_interval_ms.max(1),
            ));
            loop {
                tick.tick().await;
                // Drain while batches come back full (bounded rounds), so the lag stays about
                // one interval's worth of flows instead of growing with the inflow.
                for _ in 0..MAX_ROUNDS {
                    match ledger.summarize(ledger.config().summary_batch).await {
                        Ok(run) if (run.flows as i64) < ledger.config().summary_batch => break,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(target: "error", error = %e, "ledger summarizer");
                            break;
                        }
                    }
                }
            }
        })
    }
}

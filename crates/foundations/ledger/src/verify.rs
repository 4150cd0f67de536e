//! Verifiable books (L10, E8): recomputes every batch's voucher hash chain from the stored
//! vouchers and entries, each closed day's seal over its batches, and every account's totals
//! from its entries. Any altered or deleted voucher or entry shows up as a problem.

use std::collections::HashMap;

use paycore_store::Row;
use serde::Serialize;

use crate::engine::voucher_hash;
use crate::error::LedgerError;
use crate::model::Side;
use crate::Ledger;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub batches: usize,
    pub vouchers: usize,
    pub days_sealed: usize,
    pub accounts: usize,
    /// What does not match (at most 100 lines).
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub async fn run(ledger: &Ledger) -> Result<VerifyReport, LedgerError> {
    let db = ledger.db().writer();
    let mut report = VerifyReport {
        batches: 0,
        vouchers: 0,
        days_sealed: 0,
        accounts: 0,
        problems: Vec::new(),
    };
    let problem = |r: &mut VerifyReport, p: String| {
        if r.problems.len() < 100 {
            r.problems.push(p);
        }
    };
    let batches = sqlx::query("SELECT id, vouchers, head_hash FROM ledger_batches ORDER BY id")
        .fetch_all(db)
        .await?;
    for b in &batches {
        let batch_id: i64 = b.try_get("id")?;
        let count: i64 = b.try_get("vouchers")?;
        let head: String = b.try_get("head_hash")?;
        let vouchers = sqlx::query(
            "SELECT id, voucher_no, tx_code, day, biz_ref, status, error, seq, hash
             FROM ledger_vouchers WHERE batch_id = $1 ORDER BY seq",
        )
        .bind(batch_id)
        .fetch_all(db)
        .await?;
        let entries = sqlx::query(
            "SELECT e.voucher_id, e.account_id, e.side, e.amount FROM ledger_entries e
             JOIN ledger_vouchers v ON v.id = e.voucher_id WHERE v.batch_id = $1
             ORDER BY e.voucher_id, e.leg",
        )
        .bind(batch_id)
        .fetch_all(db)
        .await?;
        let mut legs: HashMap<i64, Vec<(i64, Side, i64)>> = HashMap::new();
        for e in entries {
            legs.entry(e.try_get("voucher_id")?).or_default().push((
                e.try_get("account_id")?,
                Side::parse(&e.try_get::<String, _>("side")?)?,
                e.try_get("amount")?,
            ));
        }
        report.batches += 1;
        if vouchers.len() as i64 != count {
            problem(
                &mut report,
                format!(
                    "batch {batch_id}: {} vouchers, recorded {count}",
                    vouchers.len()
                ),
            );
        }
        let mut prev = String::new();
        for (i, v) in vouchers.iter().enumerate() {
            report.vouchers += 1;
            let id: i64 = v.try_get("id")?;
            let no: String = v.try_get("voucher_no")?;
            let seq: i64 = v.try_get("seq")?;
            if seq != i as i64 {
                problem(
                    &mut report,
                    format!(
                        "batch {batch_id}: voucher at position {i} has seq {seq} (one missing)"
                    ),
                );
            }
            let error: Option<String> = v.try_get("error")?;
            let h = voucher_hash(
                &prev,
                &no,
                &v.try_get::<String, _>("tx_code")?,
                v.try_get("day")?,
                &v.try_get::<String, _>("biz_ref")?,
                &v.try_get::<String, _>("status")?,
                error.as_deref(),
                legs.get(&id).map(Vec::as_slice).unwrap_or(&[]),
            );
            let stored: String = v.try_get("hash")?;
            if h != stored {
                problem(
                    &mut report,
                    format!("voucher {no} (batch {batch_id}): hash does not match its content"),
                );
            }
            prev = stored;
        }
        if prev != head {
            problem(
                &mut report,
                format!("batch {batch_id}: chain does not end at the recorded head"),
            );
        }
    }
    let orphans: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM ledger_vouchers WHERE batch_id NOT IN (SELECT id FROM ledger_batches)",
    )
    .fetch_one(db)
    .await?
    .try_get("n")?;
    if orphans > 0 {
        problem(
            &mut report,
            format!("{orphans} vouchers belong to no batch"),
        );
    }
    // Seals of closed days.
    let days =
        sqlx::query("SELECT day, batch_digest FROM ledger_day_ends WHERE status = $1 ORDER BY day")
            .bind(paycore_kernel::state::Named::as_str(
                crate::DayEndStatus::Closed,
            ))
            .fetch_all(db)
            .await?;
    let mut tx = ledger.db().begin().await?;
    for d in days {
        let day: i64 = d.try_get("day")?;
        let sealed: Option<String> = d.try_get("batch_digest")?;
        let now = crate::dayend::batch_digest(&mut tx, day).await?;
        report.days_sealed += 1;
        if sealed.as_deref() != Some(now.as_str()) {
            problem(
                &mut report,
                format!("day {day}: its batches no longer match the day-end seal"),
            );
        }
    }
    tx.commit().await?;
    // Account totals = their entries (+ flows not yet summarized count only in entries).
    let sums = |sql: &'static str| async move {
        let rows = sqlx::query(sql).fetch_all(db).await?;
        let mut m: HashMap<(i64, String), i64> = HashMap::new();
        for r in rows {
            m.insert(
                (r.try_get("account_id")?, r.try_get("side")?),
                r.try_get("s")?,
            );
        }
        Ok::<_, LedgerError>(m)
    };
    let entries = sums(
        "SELECT account_id, side, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_entries GROUP BY account_id, side",
    )
    .await?;
    let flows = sums(
        "SELECT account_id, side, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_flows GROUP BY account_id, side",
    )
    .await?;
    let accounts = sqlx::query("SELECT id, account_no, debits, credits FROM ledger_accounts")
        .fetch_all(db)
        .await?;
    for a in accounts {
        report.accounts += 1;
        let id: i64 = a.try_get("id")?;
        let no: String = a.try_get("account_no")?;
        for (side, col) in [("D", "debits"), ("C", "credits")] {
            let total: i64 = a.try_get(col)?;
            let key = (id, side.to_owned());
            let from_entries = entries.get(&key).copied().unwrap_or(0);
            let unapplied = flows.get(&key).copied().unwrap_or(0);
            if i128::from(total) + i128::from(unapplied) != i128::from(from_entries) {
                problem(
                    &mut report,
                    format!("account {no}: {col} {total} (+{unapplied} buffered) but entries say {from_entries}"),
                );
            }
        }
    }
    Ok(report)
}

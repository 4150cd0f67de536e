//! Verifiable books (L10, E8): recomputes every batch's voucher hash chain from the stored
//! vouchers and entries, each closed day's seal over its batches, and every account's totals
//! from its entries. Any altered or deleted voucher or entry shows up as a problem.

use std::collections::HashMap;

use paycore_store::Row;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyPool;

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

    /// Notes a problem; the report keeps the first 100.
    fn problem(&mut self, p: String) {
        if self.problems.len() < 100 {
            self.problems.push(p);
        }
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
    let batches = sqlx::query("SELECT id, vouchers, head_hash FROM ledger_batches ORDER BY id")
        .fetch_all(db)
        .await?;
    for b in &batches {
        check_batch(db, b, &mut report).await?;
    }
    check_orphans(db, &mut report).await?;
    check_seals(ledger, db, &mut report).await?;
    check_totals(db, &mut report).await?;
    Ok(report)
}

/// One batch: its voucher count, and the hash chain of its vouchers from the stored rows up to
/// the recorded head.
async fn check_batch(
    db: &AnyPool,
    b: &AnyRow,
    report: &mut VerifyReport,
) -> Result<(), LedgerError> {
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
    let legs = batch_legs(db, batch_id).await?;
    report.batches += 1;
    if vouchers.len() as i64 != count {
        report.problem(format!(
            "batch {batch_id}: {} vouchers, recorded {count}",
            vouchers.len()
        ));
    }
    let mut prev = String::new();
    for (i, v) in vouchers.iter().enumerate() {
        prev = check_voucher(batch_id, i, v, &prev, &legs, report)?;
    }
    if prev != head {
        report.problem(format!(
            "batch {batch_id}: chain does not end at the recorded head"
        ));
    }
    Ok(())
}

/// The stored legs of a batch's vouchers, by voucher id, in leg order.
async fn batch_legs(
    db: &AnyPool,
    batch_id: i64,
) -> Result<HashMap<i64, Vec<(i64, Side, i64)>>, LedgerError> {
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
    Ok(legs)
}

/// The voucher at position `i` of its batch: its seq, and its hash recomputed on `prev`.
/// Returns its stored hash, the next voucher's predecessor.
fn check_voucher(
    batch_id: i64,
    i: usize,
    v: &AnyRow,
    prev: &str,
    legs: &HashMap<i64, Vec<(i64, Side, i64)>>,
    report: &mut VerifyReport,
) -> Result<String, LedgerError> {
    report.vouchers += 1;
    let id: i64 = v.try_get("id")?;
    let no: String = v.try_get("voucher_no")?;
    let seq: i64 = v.try_get("seq")?;
    if seq != i as i64 {
        report.problem(format!(
            "batch {batch_id}: voucher at position {i} has seq {seq} (one missing)"
        ));
    }
    let error: Option<String> = v.try_get("error")?;
    let h = voucher_hash(
        prev,
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
        report.problem(format!(
            "voucher {no} (batch {batch_id}): hash does not match its content"
        ));
    }
    Ok(stored)
}

/// Vouchers whose batch is gone.
async fn check_orphans(db: &AnyPool, report: &mut VerifyReport) -> Result<(), LedgerError> {
    let orphans: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM ledger_vouchers WHERE batch_id NOT IN (SELECT id FROM ledger_batches)",
    )
    .fetch_one(db)
    .await?
    .try_get("n")?;
    if orphans > 0 {
        report.problem(format!("{orphans} vouchers belong to no batch"));
    }
    Ok(())
}

/// Seals of closed days.
async fn check_seals(
    ledger: &Ledger,
    db: &AnyPool,
    report: &mut VerifyReport,
) -> Result<(), LedgerError> {
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
            report.problem(format!(
                "day {day}: its batches no longer match the day-end seal"
            ));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Amounts per (account, side) from a query returning `account_id`, `side` and `s`.
async fn sums(db: &AnyPool, sql: &'static str) -> Result<HashMap<(i64, String), i64>, LedgerError> {
    let rows = sqlx::query(sql).fetch_all(db).await?;
    let mut m: HashMap<(i64, String), i64> = HashMap::new();
    for r in rows {
        m.insert(
            (r.try_get("account_id")?, r.try_get("side")?),
            r.try_get("s")?,
        );
    }
    Ok(m)
}

/// Account totals = their entries (+ flows not yet summarized count only in entries).
async fn check_totals(db: &AnyPool, report: &mut VerifyReport) -> Result<(), LedgerError> {
    let entries = sums(
        db,
        "SELECT account_id, side, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_entries GROUP BY account_id, side",
    )
    .await?;
    let flows = sums(
        db,
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
                report.problem(
                    format!("account {no}: {col} {total} (+{unapplied} buffered) but entries say {from_entries}"),
                );
            }
        }
    }
    Ok(())
}

//! Writing a planned batch with multi-row statements.

use std::collections::HashMap;

use paycore_store::{Engine, Row, Tx};

use super::{Outcome, Planned, PlannedLeg};
use crate::error::LedgerError;
use crate::model::{Account, VoucherStatus};
use crate::sql;

/// Writes what the batch records: the batch row, its vouchers, their entries and flows, and
/// the new totals. Returns the voucher ids by voucher number and the accounts whose totals it
/// changed, at their new version.
pub(super) async fn write_batch(
    tx: &mut Tx,
    engine: Engine,
    planned: &Planned,
    day: i64,
    now: i64,
) -> Result<(HashMap<String, i64>, Vec<Account>), LedgerError> {
    let recorded: Vec<&Outcome> = planned
        .outcomes
        .iter()
        .filter(|o| !o.hash.is_empty())
        .collect();
    if recorded.is_empty() {
        return Ok((HashMap::new(), Vec::new()));
    }
    let batch_id: i64 = sqlx::query(
        "INSERT INTO ledger_batches (day, vouchers, head_hash, created_at) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(day)
    .bind(recorded.len() as i64)
    .bind(&planned.prev)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    let voucher_ids = insert_vouchers(tx, engine, &recorded, batch_id, day, now).await?;
    insert_entries(tx, engine, &recorded, &voucher_ids, day).await?;
    insert_flows(tx, engine, &recorded, day, now).await?;
    let changed: Vec<&Account> = planned.changed().collect();
    update_totals(tx, engine, &changed, &planned.before).await?;
    let touched = changed
        .into_iter()
        .map(|a| Account {
            version: a.version + 1,
            ..a.clone()
        })
        .collect();
    Ok((voucher_ids, touched))
}

async fn insert_vouchers(
    tx: &mut Tx,
    engine: Engine,
    recorded: &[&Outcome],
    batch_id: i64,
    day: i64,
    now: i64,
) -> Result<HashMap<String, i64>, LedgerError> {
    const COLS: usize = 10;
    let mut seq = 0i64;
    for chunk in recorded.chunks(sql::chunk_rows(COLS)) {
        let q = format!(
            "INSERT INTO ledger_vouchers (voucher_no, tx_code, day, biz_ref, status, error, batch_id,
                seq, hash, created_at) VALUES {}",
            sql::values(engine, chunk.len(), COLS)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for o in chunk {
            let (status, error) = match &o.result {
                Ok(_) => (VoucherStatus::Posted.as_str(), None),
                Err(e) => (
                    VoucherStatus::Failed.as_str(),
                    serde_json::to_string(e).ok(),
                ),
            };
            query = query
                .bind(o.voucher_no.as_str())
                .bind(o.tx_code.as_str())
                .bind(day)
                .bind(o.biz_ref.as_str())
                .bind(status)
                .bind(error)
                .bind(batch_id)
                .bind(seq)
                .bind(o.hash.as_str())
                .bind(now);
            seq += 1;
        }
        query.execute(&mut **tx).await?;
    }
    // The ids: when id − seq is the same for every voucher of the batch (the usual case: one
    // statement took consecutive ids), id = offset + seq without reading them back row by row.
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(id - seq) AS lo, MAX(id - seq) AS hi FROM ledger_vouchers
         WHERE batch_id = $1",
    )
    .bind(batch_id)
    .fetch_one(&mut **tx)
    .await?;
    let n: i64 = row.try_get("n")?;
    let (lo, hi): (Option<i64>, Option<i64>) = (row.try_get("lo")?, row.try_get("hi")?);
    let mut by_seq: HashMap<i64, i64> = HashMap::with_capacity(recorded.len());
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo == hi && n == recorded.len() as i64 => {
            for s in 0..n {
                by_seq.insert(s, lo + s);
            }
        }
        _ => {
            for r in sqlx::query("SELECT id, seq FROM ledger_vouchers WHERE batch_id = $1")
                .bind(batch_id)
                .fetch_all(&mut **tx)
                .await?
            {
                by_seq.insert(r.try_get("seq")?, r.try_get("id")?);
            }
        }
    }
    let mut ids = HashMap::with_capacity(recorded.len());
    for (i, o) in recorded.iter().enumerate() {
        let id = by_seq.get(&(i as i64)).ok_or_else(|| {
            LedgerError::Corrupt(format!("voucher {} not inserted", o.voucher_no))
        })?;
        ids.insert(o.voucher_no.clone(), *id);
    }
    Ok(ids)
}

async fn insert_entries(
    tx: &mut Tx,
    engine: Engine,
    recorded: &[&Outcome],
    voucher_ids: &HashMap<String, i64>,
    day: i64,
) -> Result<(), LedgerError> {
    const COLS: usize = 6;
    let mut rows: Vec<(i64, i64, PlannedLeg)> = Vec::new();
    for o in recorded {
        if let Ok(legs) = &o.result {
            let vid = *voucher_ids.get(&o.voucher_no).ok_or_else(|| {
                LedgerError::Corrupt(format!("voucher {} not inserted", o.voucher_no))
            })?;
            rows.extend(legs.iter().enumerate().map(|(i, l)| (vid, i as i64, *l)));
        }
    }
    for chunk in rows.chunks(sql::chunk_rows(COLS)) {
        let q = format!(
            "INSERT INTO ledger_entries (voucher_id, leg, account_id, side, amount, day) VALUES {}",
            sql::values(engine, chunk.len(), COLS)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for (vid, leg, l) in chunk {
            query = query
                .bind(*vid)
                .bind(*leg)
                .bind(l.account_id)
                .bind(l.side.as_str())
                .bind(l.amount)
                .bind(day);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_flows(
    tx: &mut Tx,
    engine: Engine,
    recorded: &[&Outcome],
    day: i64,
    now: i64,
) -> Result<(), LedgerError> {
    const COLS: usize = 5;
    let flows: Vec<&PlannedLeg> = recorded
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .flatten()
        .filter(|l| l.buffered)
        .collect();
    for chunk in flows.chunks(sql::chunk_rows(COLS)) {
        let q = format!(
            "INSERT INTO ledger_flows (account_id, side, amount, day, created_at) VALUES {}",
            sql::values(engine, chunk.len(), COLS)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for l in chunk {
            query = query
                .bind(l.account_id)
                .bind(l.side.as_str())
                .bind(l.amount)
                .bind(day)
                .bind(now);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One statement per chunk adds each touched account's movement to its totals, guarded by the
/// version the batch was planned on: if any row moved meanwhile, the batch fails as `Stale`.
async fn update_totals(
    tx: &mut Tx,
    engine: Engine,
    changed: &[&Account],
    before: &HashMap<i64, (i64, i64)>,
) -> Result<(), LedgerError> {
    const COLS: usize = 4;
    for chunk in changed.chunks(sql::chunk_rows(COLS)) {
        let q = format!(
            "WITH v(id, dd, dc, ver) AS (VALUES {}) UPDATE ledger_accounts
                SET debits = ledger_accounts.debits + v.dd, credits = ledger_accounts.credits + v.dc,
                    version = ledger_accounts.version + 1
             FROM v WHERE ledger_accounts.id = v.id AND ledger_accounts.version = v.ver",
            sql::values(engine, chunk.len(), COLS)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for a in chunk {
            let (d0, c0) = before.get(&a.id).copied().unwrap_or((a.debits, a.credits));
            query = query
                .bind(a.id)
                .bind(a.debits - d0)
                .bind(a.credits - c0)
                .bind(a.version);
        }
        let done = query.execute(&mut **tx).await?;
        if done.rows_affected() != chunk.len() as u64 {
            return Err(LedgerError::Stale);
        }
    }
    Ok(())
}

//! Writing a planned batch with multi-row statements.

use std::collections::HashMap;

use paycore_store::{Conn, Engine, Value};

use super::{Outcome, Planned, PlannedLeg};
use crate::error::LedgerError;
use crate::model::{Account, VoucherStatus};
use crate::sql;

/// Writes what the batch records: the batch row, its vouchers, their entries and flows, and
/// the new totals. Returns the voucher ids by voucher number and the accounts whose totals it
/// changed, at their new version.
pub(super) async fn write_batch(
    tx: &mut dyn Conn,
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
    let batch_id = tx
        .fetch_one(
            "INSERT INTO ledger_batches (day, vouchers, head_hash, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[
                day.into(),
                (recorded.len() as i64).into(),
                planned.prev.as_str().into(),
                now.into(),
            ],
        )
        .await?
        .int("id")?;
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
    tx: &mut dyn Conn,
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
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * COLS);
        for o in chunk {
            let (status, error) = match &o.result {
                Ok(_) => (VoucherStatus::Posted.as_str(), None),
                Err(e) => (
                    VoucherStatus::Failed.as_str(),
                    serde_json::to_string(e).ok(),
                ),
            };
            params.extend([
                o.voucher_no.as_str().into(),
                o.tx_code.as_str().into(),
                day.into(),
                o.biz_ref.as_str().into(),
                status.into(),
                error.into(),
                batch_id.into(),
                seq.into(),
                o.hash.as_str().into(),
                now.into(),
            ]);
            seq += 1;
        }
        tx.execute(&q, &params).await?;
    }
    // The ids: when id − seq is the same for every voucher of the batch (the usual case: one
    // statement took consecutive ids), id = offset + seq without reading them back row by row.
    let row = tx
        .fetch_one(
            "SELECT COUNT(*) AS n, MIN(id - seq) AS lo, MAX(id - seq) AS hi FROM ledger_vouchers
             WHERE batch_id = $1",
            &[batch_id.into()],
        )
        .await?;
    let n = row.int("n")?;
    let (lo, hi) = (row.opt_int("lo")?, row.opt_int("hi")?);
    let mut by_seq: HashMap<i64, i64> = HashMap::with_capacity(recorded.len());
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo == hi && n == recorded.len() as i64 => {
            for s in 0..n {
                by_seq.insert(s, lo + s);
            }
        }
        _ => {
            for r in tx
                .fetch_all(
                    "SELECT id, seq FROM ledger_vouchers WHERE batch_id = $1",
                    &[batch_id.into()],
                )
                .await?
            {
                by_seq.insert(r.int("seq")?, r.int("id")?);
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
    tx: &mut dyn Conn,
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
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * COLS);
        for (vid, leg, l) in chunk {
            params.extend([
                (*vid).into(),
                (*leg).into(),
                l.account_id.into(),
                l.side.as_str().into(),
                l.amount.into(),
                day.into(),
            ]);
        }
        tx.execute(&q, &params).await?;
    }
    Ok(())
}

async fn insert_flows(
    tx: &mut dyn Conn,
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
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * COLS);
        for l in chunk {
            params.extend([
                l.account_id.into(),
                l.side.as_str().into(),
                l.amount.into(),
                day.into(),
                now.into(),
            ]);
        }
        tx.execute(&q, &params).await?;
    }
    Ok(())
}

/// One statement per chunk adds each touched account's movement to its totals, guarded by the
/// version the batch was planned on: if any row moved meanwhile, the batch fails as `Stale`.
async fn update_totals(
    tx: &mut dyn Conn,
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
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * COLS);
        for a in chunk {
            let (d0, c0) = before.get(&a.id).copied().unwrap_or((a.debits, a.credits));
            params.extend([
                a.id.into(),
                (a.debits - d0).into(),
                (a.credits - c0).into(),
                a.version.into(),
            ]);
        }
        let done = tx.execute(&q, &params).await?;
        if done != chunk.len() as u64 {
            return Err(LedgerError::Stale);
        }
    }
    Ok(())
}

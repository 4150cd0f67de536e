//! The posting engine (L1, L4, L5): one batch of vouchers in one transaction.
//!
//! The batch is processed in memory — accounts read once, every voucher validated in order
//! against the balances its predecessors left, new balances computed once per account — and
//! then written with multi-row statements: one batch row, the vouchers (hash-chained within the
//! batch), their entries, buffered flows, and one bulk update of the touched accounts. Each
//! voucher succeeds or fails on its own; a failed one is stored as failed so that the same id
//! gets the same answer again.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_lc_rs::digest;
use paycore_store::{Engine, Row, Tx};

use crate::accounts;
use crate::error::{LedgerError, PostError};
use crate::model::{
    Account, AccountRef, AccountStatus, PostResult, Posted, Side, Voucher, VoucherStatus,
};
use crate::sql;

pub const MAX_LEGS: usize = 64;
/// The largest batch the engine takes in one transaction (TigerBeetle's limit is 8,189).
pub const MAX_BATCH: usize = 16_384;

/// What the engine is asked to record: a voucher, or a voucher refused before it got here
/// (unknown transaction code, bad rule input) that must still be recorded as failed.
#[derive(Debug, Clone)]
pub enum Input {
    Voucher(Voucher),
    Refused {
        voucher_no: String,
        tx_code: String,
        biz_ref: String,
        error: PostError,
    },
}

impl Input {
    fn voucher_no(&self) -> &str {
        match self {
            Input::Voucher(v) => &v.voucher_no,
            Input::Refused { voucher_no, .. } => voucher_no,
        }
    }
}

/// The accounting day, read under a share lock on PostgreSQL so that day-end's switch waits
/// for batches in flight and no voucher straddles the cut.
pub async fn current_day(tx: &mut Tx, engine: Engine) -> Result<i64, LedgerError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT current_day FROM ledger_state WHERE id = 1{}",
        sql::for_share(engine)
    )))
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| LedgerError::Corrupt("ledger_state is not initialized".into()))?;
    Ok(row.try_get("current_day")?)
}

/// A leg resolved to an account.
#[derive(Debug, Clone, Copy)]
pub struct PlannedLeg {
    pub account_id: i64,
    pub side: Side,
    pub amount: i64,
    /// Written as a flow for the summarizer instead of to the balance.
    pub buffered: bool,
}

struct Outcome {
    voucher_no: String,
    tx_code: String,
    biz_ref: String,
    result: Result<Vec<PlannedLeg>, PostError>,
    hash: String,
}

/// Hash of a voucher chained to its predecessor in the batch. `verify` recomputes it from the
/// stored rows, so any edit of a voucher or its entries (or a deleted one) breaks the chain.
#[allow(clippy::too_many_arguments)]
pub fn voucher_hash(
    prev: &str,
    voucher_no: &str,
    tx_code: &str,
    day: i64,
    biz_ref: &str,
    status: &str,
    error: Option<&str>,
    legs: &[(i64, Side, i64)],
) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [
        prev,
        voucher_no,
        tx_code,
        &day.to_string(),
        biz_ref,
        status,
        error.unwrap_or(""),
    ] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    for (account, side, amount) in legs {
        ctx.update(&account.to_le_bytes());
        ctx.update(side.as_str().as_bytes());
        ctx.update(&amount.to_le_bytes());
    }
    hex(ctx.finish().as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Results already stored for these voucher ids.
async fn stored_results(
    tx: &mut Tx,
    engine: Engine,
    nos: &[&str],
) -> Result<HashMap<String, PostResult>, LedgerError> {
    let mut out = HashMap::new();
    for chunk in nos.chunks(sql::MAX_PARAMS) {
        let q = format!(
            "SELECT id, voucher_no, day, status, error FROM ledger_vouchers WHERE voucher_no IN ({})",
            sql::list(engine, 1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for no in chunk {
            query = query.bind(*no);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let no: String = row.try_get("voucher_no")?;
            let status: String = row.try_get("status")?;
            let result = if status == VoucherStatus::Posted.as_str() {
                Ok(Posted {
                    voucher_no: no.clone(),
                    voucher_id: row.try_get("id")?,
                    day: row.try_get("day")?,
                    replayed: true,
                })
            } else {
                let err: Option<String> = row.try_get("error")?;
                let err = err.unwrap_or_default();
                Err(serde_json::from_str::<PostError>(&err)
                    .map_err(|e| LedgerError::Corrupt(format!("stored refusal: {e}")))?)
            };
            out.insert(no, result);
        }
    }
    Ok(out)
}

/// Checks that need no account: id, leg count, amounts.
fn check_shape(v: &Voucher) -> Result<(), PostError> {
    if v.voucher_no.is_empty() || v.voucher_no.len() > 64 {
        return Err(PostError::InvalidVoucherNo);
    }
    if v.legs.len() < 2 || v.legs.len() > MAX_LEGS {
        return Err(PostError::LegCount {
            got: v.legs.len(),
            max: MAX_LEGS,
        });
    }
    if let Some(leg) = v.legs.iter().position(|l| l.amount.minor() <= 0) {
        return Err(PostError::NonPositiveAmount { leg });
    }
    Ok(())
}

/// Validates one voucher against the working balances and, when it passes, applies it to them.
/// Checks run in the documented order; nothing is applied unless every check passes.
fn plan(
    v: &Voucher,
    ids: &HashMap<String, i64>,
    subs: &HashMap<i64, Vec<i64>>,
    work: &mut HashMap<i64, Account>,
    day: i64,
) -> Result<Vec<PlannedLeg>, PostError> {
    check_shape(v)?;
    // Accounts, then currencies.
    let mut legs = Vec::with_capacity(v.legs.len());
    for (i, leg) in v.legs.iter().enumerate() {
        let unknown = || PostError::UnknownAccount {
            leg: i,
            account: match &leg.account {
                AccountRef::Id(id) => id.to_string(),
                AccountRef::No(no) => no.chars().take(64).collect(),
            },
        };
        let id = match &leg.account {
            AccountRef::Id(id) => *id,
            AccountRef::No(no) => *ids.get(no).ok_or_else(unknown)?,
        };
        let acc = work.get(&id).ok_or_else(unknown)?;
        // A split account's legs go to one of its sub-accounts, chosen by voucher id.
        let id = match subs.get(&id) {
            Some(list) if acc.split_count > 0 && !list.is_empty() => {
                let k = paycore_kernel::id::fnv1a64(v.voucher_no.as_bytes()) % list.len() as u64;
                list.get(k as usize).copied().unwrap_or(id)
            }
            _ => id,
        };
        let acc = work.get(&id).ok_or_else(unknown)?;
        if acc.currency != leg.amount.currency() {
            return Err(PostError::CurrencyMismatch {
                leg: i,
                account_currency: acc.currency.code().into(),
                leg_currency: leg.amount.currency().code().into(),
            });
        }
        let increases = leg.side == acc.normal_side;
        legs.push(PlannedLeg {
            account_id: id,
            side: leg.side,
            amount: leg.amount.minor(),
            buffered: acc.buffered && increases,
        });
    }
    // Debits equal credits per currency.
    let mut totals: BTreeMap<&str, (i128, i128)> = BTreeMap::new();
    for leg in &v.legs {
        let t = totals.entry(leg.amount.currency().code()).or_default();
        match leg.side {
            Side::Debit => t.0 += i128::from(leg.amount.minor()),
            Side::Credit => t.1 += i128::from(leg.amount.minor()),
        }
    }
    if let Some((cur, (d, c))) = totals.iter().find(|(_, (d, c))| d != c) {
        return Err(PostError::Unbalanced {
            currency: (*cur).to_owned(),
            debits: i64::try_from(*d).unwrap_or(i64::MAX),
            credits: i64::try_from(*c).unwrap_or(i64::MAX),
        });
    }
    // The day.
    match v.day {
        Some(d) if d < day => {
            return Err(PostError::DayClosed {
                day: d,
                current: day,
            })
        }
        Some(d) if d > day => {
            return Err(PostError::DayNotOpen {
                day: d,
                current: day,
            })
        }
        _ => {}
    }
    // Account status.
    for leg in &legs {
        let acc = work.get(&leg.account_id).ok_or(PostError::Overflow)?;
        match acc.status {
            AccountStatus::Closed => {
                return Err(PostError::AccountClosed {
                    account: acc.account_no.clone(),
                })
            }
            AccountStatus::Frozen if leg.side == Side::Debit => {
                return Err(PostError::AccountFrozen {
                    account: acc.account_no.clone(),
                })
            }
            _ => {}
        }
    }
    // New totals per account; overdraft for every account this voucher lowers.
    let mut next: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut net: BTreeMap<i64, i128> = BTreeMap::new();
    for leg in legs.iter().filter(|l| !l.buffered) {
        let acc = work.get(&leg.account_id).ok_or(PostError::Overflow)?;
        let t = next
            .entry(leg.account_id)
            .or_insert((acc.debits, acc.credits));
        match leg.side {
            Side::Debit => t.0 = t.0.checked_add(leg.amount).ok_or(PostError::Overflow)?,
            Side::Credit => t.1 = t.1.checked_add(leg.amount).ok_or(PostError::Overflow)?,
        }
        *net.entry(leg.account_id).or_default() +=
            i128::from(leg.amount) * i128::from(leg.side.sign_on(acc.normal_side));
    }
    for (id, delta) in &net {
        let acc = work.get(id).ok_or(PostError::Overflow)?;
        let available = acc.available_minor() + delta;
        if *delta < 0 && !acc.overdraft.allows(available) {
            return Err(PostError::Overdraft {
                account: acc.account_no.clone(),
                available: i64::try_from(acc.available_minor()).unwrap_or(i64::MIN),
            });
        }
    }
    for (id, (d, c)) in next {
        if let Some(acc) = work.get_mut(&id) {
            acc.debits = d;
            acc.credits = c;
        }
    }
    Ok(legs)
}

/// Posts a batch inside the caller's transaction. Returns one result per input, in order.
pub async fn post_batch(
    tx: &mut Tx,
    engine: Engine,
    inputs: &[Input],
    now: i64,
) -> Result<Vec<PostResult>, LedgerError> {
    Ok(post_batch_with(tx, engine, inputs, now, None).await?.0)
}

/// Accounts kept between batches by a writer, so that a batch need not read them again. Safe
/// because every update of the account totals is guarded by the version it was planned on: a
/// stale entry makes the batch fail with `Stale`, and the writer retries it after a fresh read.
pub type AccountCache = std::sync::Mutex<HashMap<i64, Account>>;

/// Beyond this many cached accounts the cache starts over (a bound on memory).
pub const CACHE_MAX: usize = 1_000_000;

/// `post_batch`, reading accounts from `cache` when given; also returns the accounts whose
/// totals it changed (new totals and version), for the caller to put in its cache after commit.
pub async fn post_batch_with(
    tx: &mut Tx,
    engine: Engine,
    inputs: &[Input],
    now: i64,
    cache: Option<&AccountCache>,
) -> Result<(Vec<PostResult>, Vec<Account>), LedgerError> {
    if inputs.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let day = current_day(tx, engine).await?;

    // Ids seen before (stored) and repeated within this batch.
    let nos: Vec<&str> = inputs.iter().map(Input::voucher_no).collect();
    let stored = stored_results(tx, engine, &nos).await?;
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(inputs.len());
    let mut fresh: Vec<usize> = Vec::with_capacity(inputs.len());
    for (i, no) in nos.iter().enumerate() {
        if !stored.contains_key(*no) {
            if let std::collections::hash_map::Entry::Vacant(slot) = first.entry(no) {
                slot.insert(i);
                fresh.push(i);
            }
        }
    }

    // Accounts of the fresh vouchers.
    let mut ref_nos: Vec<&str> = Vec::new();
    let mut ref_ids: Vec<i64> = Vec::new();
    for &i in &fresh {
        if let Some(Input::Voucher(v)) = inputs.get(i) {
            for leg in &v.legs {
                match &leg.account {
                    AccountRef::Id(id) => ref_ids.push(*id),
                    AccountRef::No(no) => ref_nos.push(no),
                }
            }
        }
    }
    ref_nos.sort_unstable();
    ref_nos.dedup();
    let ids = accounts::ids_by_no(tx, engine, &ref_nos).await?;
    ref_ids.extend(ids.values().copied());
    // First read without locks; then lock only the rows this batch will update (a hot
    // account that only receives buffered flows is never locked).
    let mut work: HashMap<i64, Account> = HashMap::with_capacity(ref_ids.len());
    if let Some(cache) = cache {
        let cached = cache.lock().unwrap_or_else(|e| e.into_inner());
        ref_ids.retain(|id| match cached.get(id) {
            Some(a) => {
                work.insert(*id, a.clone());
                false
            }
            None => true,
        });
    }
    work.extend(accounts::load(tx, engine, &ref_ids, false).await?);
    let split: Vec<i64> = work
        .values()
        .filter(|a| a.split_count > 0)
        .map(|a| a.id)
        .collect();
    let subs = if split.is_empty() {
        HashMap::new()
    } else {
        let subs = accounts::subs(tx, engine, &split).await?;
        let sub_ids: Vec<i64> = subs.values().flatten().copied().collect();
        work.extend(accounts::load(tx, engine, &sub_ids, false).await?);
        subs
    };
    // PostgreSQL: plan on the unlocked read, then lock the rows the plan changes and re-plan if
    // any of them moved meanwhile (optimistic; a hot account that only receives buffered flows
    // is never locked). SQLite's single writer makes the first read final.
    let mut snapshot = work;
    let mut locked: HashSet<i64> = HashSet::new();
    let (outcomes, prev, work, before) = loop {
        // SQLite plans once on the read it has; only PostgreSQL may need the snapshot again.
        let mut work = if engine == Engine::Postgres {
            snapshot.clone()
        } else {
            std::mem::take(&mut snapshot)
        };
        let before: HashMap<i64, (i64, i64)> = work
            .iter()
            .map(|(id, a)| (*id, (a.debits, a.credits)))
            .collect();
        let (outcomes, prev) = plan_all(inputs, &fresh, &ids, &subs, &mut work, day)?;
        if engine != Engine::Postgres {
            break (outcomes, prev, work, before);
        }
        let to_lock: Vec<i64> = work
            .values()
            .filter(|a| before.get(&a.id) != Some(&(a.debits, a.credits)))
            .map(|a| a.id)
            .filter(|id| !locked.contains(id))
            .collect();
        if to_lock.is_empty() {
            break (outcomes, prev, work, before);
        }
        let rows = accounts::load(tx, engine, &to_lock, true).await?;
        locked.extend(to_lock.iter().copied());
        let stale = rows
            .values()
            .any(|a| snapshot.get(&a.id).map(|s| s.version) != Some(a.version));
        snapshot.extend(rows);
        if !stale {
            break (outcomes, prev, work, before);
        }
    };

    if cache.is_some() {
        check_cached(tx, engine, inputs, &fresh, &ids, &outcomes, &work, &before).await?;
    }
    let recorded: Vec<&Outcome> = outcomes.iter().filter(|o| !o.hash.is_empty()).collect();
    let mut voucher_ids: HashMap<String, i64> = HashMap::with_capacity(recorded.len());
    let mut touched: Vec<Account> = Vec::new();
    if !recorded.is_empty() {
        let batch_id: i64 = sqlx::query(
            "INSERT INTO ledger_batches (day, vouchers, head_hash, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(day)
        .bind(recorded.len() as i64)
        .bind(&prev)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        voucher_ids = insert_vouchers(tx, engine, &recorded, batch_id, day, now).await?;
        insert_entries(tx, engine, &recorded, &voucher_ids, day).await?;
        insert_flows(tx, engine, &recorded, day, now).await?;
        let changed: Vec<&Account> = work
            .values()
            .filter(|a| before.get(&a.id) != Some(&(a.debits, a.credits)))
            .collect();
        update_totals(tx, engine, &changed, &before).await?;
        touched = changed
            .into_iter()
            .map(|a| Account {
                version: a.version + 1,
                ..a.clone()
            })
            .collect();
    }

    // Results in input order; repeats within the batch get the first one's result.
    let mut by_no: HashMap<&str, PostResult> = HashMap::with_capacity(outcomes.len());
    for o in &outcomes {
        let r = match &o.result {
            Ok(_) => Ok(Posted {
                voucher_no: o.voucher_no.clone(),
                voucher_id: voucher_ids.get(&o.voucher_no).copied().unwrap_or(0),
                day,
                replayed: false,
            }),
            Err(e) => Err(e.clone()),
        };
        by_no.insert(&o.voucher_no, r);
    }
    let mut results = Vec::with_capacity(inputs.len());
    for (i, no) in nos.iter().enumerate() {
        let r = if let Some(r) = stored.get(*no) {
            r.clone()
        } else {
            let r = by_no
                .get(no)
                .cloned()
                .ok_or_else(|| LedgerError::Corrupt(format!("no result for {no}")))?;
            match r {
                Ok(p) if first.get(no) != Some(&i) => Ok(Posted {
                    replayed: true,
                    ..p
                }),
                other => other,
            }
        };
        results.push(r);
    }
    Ok((results, touched))
}

/// With cached accounts, the version guard of `update_totals` covers every account a batch
/// changes. What it cannot see is a refusal (or a buffered flow) decided on a stale cached
/// account — a frozen flag lifted elsewhere, say — so those accounts' versions are checked here.
#[allow(clippy::too_many_arguments)]
async fn check_cached(
    tx: &mut Tx,
    engine: Engine,
    inputs: &[Input],
    fresh: &[usize],
    ids: &HashMap<String, i64>,
    outcomes: &[Outcome],
    work: &HashMap<i64, Account>,
    before: &HashMap<i64, (i64, i64)>,
) -> Result<(), LedgerError> {
    let mut check: Vec<i64> = work
        .values()
        .filter(|a| a.buffered && before.get(&a.id) == Some(&(a.debits, a.credits)))
        .map(|a| a.id)
        .collect();
    for (o, &i) in outcomes.iter().zip(fresh) {
        if let (Err(_), Some(Input::Voucher(v))) = (&o.result, inputs.get(i)) {
            for leg in &v.legs {
                match &leg.account {
                    AccountRef::Id(id) => check.push(*id),
                    AccountRef::No(no) => check.extend(ids.get(no)),
                }
            }
        }
    }
    check.sort_unstable();
    check.dedup();
    check.retain(|id| work.contains_key(id));
    for chunk in check.chunks(sql::MAX_PARAMS) {
        let q = format!(
            "SELECT id, version FROM ledger_accounts WHERE id IN ({})",
            sql::list(engine, 1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: i64 = row.try_get("id")?;
            let version: i64 = row.try_get("version")?;
            if work.get(&id).map(|a| a.version) != Some(version) {
                return Err(LedgerError::Stale);
            }
        }
    }
    Ok(())
}

/// Validates and applies every fresh voucher in order, chaining their hashes.
fn plan_all(
    inputs: &[Input],
    fresh: &[usize],
    ids: &HashMap<String, i64>,
    subs: &HashMap<i64, Vec<i64>>,
    work: &mut HashMap<i64, Account>,
    day: i64,
) -> Result<(Vec<Outcome>, String), LedgerError> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(fresh.len());
    let mut prev = String::new();
    for &i in fresh {
        let Some(input) = inputs.get(i) else { continue };
        let (voucher_no, tx_code, biz_ref, result) = match input {
            Input::Voucher(v) => (
                v.voucher_no.clone(),
                v.tx_code.clone(),
                v.biz_ref.clone(),
                plan(v, ids, subs, work, day),
            ),
            Input::Refused {
                voucher_no,
                tx_code,
                biz_ref,
                error,
            } => (
                voucher_no.clone(),
                tx_code.clone(),
                biz_ref.clone(),
                Err(error.clone()),
            ),
        };
        if matches!(result, Err(PostError::InvalidVoucherNo)) {
            // Not storable under its id: answered, not recorded.
            outcomes.push(Outcome {
                voucher_no,
                tx_code,
                biz_ref,
                result,
                hash: String::new(),
            });
            continue;
        }
        let (status, error) = match &result {
            Ok(_) => (VoucherStatus::Posted.as_str(), None),
            Err(e) => (
                VoucherStatus::Failed.as_str(),
                Some(serde_json::to_string(e).map_err(|e| LedgerError::Corrupt(e.to_string()))?),
            ),
        };
        let legs: Vec<(i64, Side, i64)> = match &result {
            Ok(l) => l.iter().map(|l| (l.account_id, l.side, l.amount)).collect(),
            Err(_) => Vec::new(),
        };
        let hash = voucher_hash(
            &prev,
            &voucher_no,
            &tx_code,
            day,
            &biz_ref,
            status,
            error.as_deref(),
            &legs,
        );
        prev.clone_from(&hash);
        outcomes.push(Outcome {
            voucher_no,
            tx_code,
            biz_ref,
            result,
            hash,
        });
    }

    Ok((outcomes, prev))
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

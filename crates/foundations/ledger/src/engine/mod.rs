//! The posting engine (L1, L4, L5): one batch of vouchers in one transaction.
//!
//! The batch is processed in memory — accounts read once, every voucher validated in order
//! against the balances its predecessors left, new balances computed once per account — and
//! then written with multi-row statements: one batch row, the vouchers (hash-chained within the
//! batch), their entries, buffered flows, and one bulk update of the touched accounts. Each
//! voucher succeeds or fails on its own; a failed one is stored as failed so that the same id
//! gets the same answer again.

use std::collections::{HashMap, HashSet};

use paycore_store::{Conn, Engine, Value};

use crate::accounts;
use crate::error::{LedgerError, PostError};
use crate::model::{Account, AccountRef, PostResult, Posted, Voucher, VoucherStatus};
use crate::sql;

mod plan;
mod write;

pub use plan::{hex, voucher_hash, PlannedLeg};
use plan::{plan_all, Outcome};
use write::write_batch;

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
pub async fn current_day(conn: &mut dyn Conn, engine: Engine) -> Result<i64, LedgerError> {
    let sql = format!(
        "SELECT current_day FROM ledger_state WHERE id = 1{}",
        sql::for_share(engine)
    );
    let row = conn
        .fetch_optional(&sql, &[])
        .await?
        .ok_or_else(|| LedgerError::Corrupt("ledger_state is not initialized".into()))?;
    Ok(row.int("current_day")?)
}

/// Results already stored for these voucher ids.
async fn stored_results(
    tx: &mut dyn Conn,
    engine: Engine,
    nos: &[&str],
) -> Result<HashMap<String, PostResult>, LedgerError> {
    let mut out = HashMap::new();
    for chunk in nos.chunks(sql::MAX_PARAMS) {
        let q = format!(
            "SELECT id, voucher_no, day, status, error FROM ledger_vouchers WHERE voucher_no IN ({})",
            sql::list(engine, 1, chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|no| Value::from(*no)).collect();
        for row in tx.fetch_all(&q, &params).await? {
            let no = row.text("voucher_no")?;
            let status = row.text("status")?;
            let result = if status == VoucherStatus::Posted.as_str() {
                Ok(Posted {
                    voucher_no: no.clone(),
                    voucher_id: row.int("id")?,
                    day: row.int("day")?,
                    replayed: true,
                })
            } else {
                let err = row.opt_text("error")?;
                let err = err.unwrap_or_default();
                Err(serde_json::from_str::<PostError>(&err)
                    .map_err(|e| LedgerError::Corrupt(format!("stored refusal: {e}")))?)
            };
            out.insert(no, result);
        }
    }
    Ok(out)
}

/// Posts a batch inside the caller's transaction. Returns one result per input, in order.
pub async fn post_batch(
    tx: &mut dyn Conn,
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
    tx: &mut dyn Conn,
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
    let (first, fresh) = first_fresh(&nos, &stored);

    let (refs, work) = load_batch_accounts(tx, engine, inputs, &fresh, cache).await?;
    let planned = plan_settled(tx, engine, inputs, &fresh, &refs, work, day).await?;
    if cache.is_some() {
        check_cached(
            tx,
            engine,
            inputs,
            &fresh,
            &refs.ids,
            &planned.outcomes,
            &planned.work,
            &planned.before,
        )
        .await?;
    }
    let (voucher_ids, touched) = write_batch(tx, engine, &planned, day, now).await?;
    let results = results_in_order(&nos, &stored, &first, &planned.outcomes, &voucher_ids, day)?;
    Ok((results, touched))
}

/// The inputs to plan: the first occurrence of every id not stored before. Returns the
/// position of each such first occurrence by id, and those positions in input order.
fn first_fresh<'a>(
    nos: &[&'a str],
    stored: &HashMap<String, PostResult>,
) -> (HashMap<&'a str, usize>, Vec<usize>) {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(nos.len());
    let mut fresh: Vec<usize> = Vec::with_capacity(nos.len());
    for (i, no) in nos.iter().enumerate() {
        if !stored.contains_key(*no) {
            if let std::collections::hash_map::Entry::Vacant(slot) = first.entry(no) {
                slot.insert(i);
                fresh.push(i);
            }
        }
    }
    (first, fresh)
}

/// How the legs of a batch resolve to accounts: the ids of the account numbers they name, and
/// the sub-accounts of the split accounts among them.
struct Refs {
    ids: HashMap<String, i64>,
    subs: HashMap<i64, Vec<i64>>,
}

/// Accounts of the fresh vouchers (with the sub-accounts of split ones), read without locks.
async fn load_batch_accounts(
    tx: &mut dyn Conn,
    engine: Engine,
    inputs: &[Input],
    fresh: &[usize],
    cache: Option<&AccountCache>,
) -> Result<(Refs, HashMap<i64, Account>), LedgerError> {
    let (ref_nos, mut ref_ids) = referenced(inputs, fresh);
    let ids = accounts::ids_by_no(tx, engine, &ref_nos).await?;
    ref_ids.extend(ids.values().copied());
    let mut work = read_accounts(tx, engine, ref_ids, cache).await?;
    let subs = read_subs(tx, engine, &mut work).await?;
    Ok((Refs { ids, subs }, work))
}

/// The account numbers (sorted, without repeats) and ids the legs of the fresh vouchers name.
fn referenced<'a>(inputs: &'a [Input], fresh: &[usize]) -> (Vec<&'a str>, Vec<i64>) {
    let mut ref_nos: Vec<&str> = Vec::new();
    let mut ref_ids: Vec<i64> = Vec::new();
    for &i in fresh {
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
    (ref_nos, ref_ids)
}

/// The accounts with these ids, from `cache` where it has them, the rest read from the table.
async fn read_accounts(
    tx: &mut dyn Conn,
    engine: Engine,
    mut ref_ids: Vec<i64>,
    cache: Option<&AccountCache>,
) -> Result<HashMap<i64, Account>, LedgerError> {
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
    Ok(work)
}

/// The sub-accounts of the split accounts in `work`, which are read into `work` as well.
async fn read_subs(
    tx: &mut dyn Conn,
    engine: Engine,
    work: &mut HashMap<i64, Account>,
) -> Result<HashMap<i64, Vec<i64>>, LedgerError> {
    let split: Vec<i64> = work
        .values()
        .filter(|a| a.split_count > 0)
        .map(|a| a.id)
        .collect();
    if split.is_empty() {
        return Ok(HashMap::new());
    }
    let subs = accounts::subs(tx, engine, &split).await?;
    let sub_ids: Vec<i64> = subs.values().flatten().copied().collect();
    work.extend(accounts::load(tx, engine, &sub_ids, false).await?);
    Ok(subs)
}

/// A batch planned on a read of its accounts that holds: the outcomes of its fresh vouchers,
/// the hash of the last one recorded, the working accounts after them and their totals before.
struct Planned {
    outcomes: Vec<Outcome>,
    prev: String,
    work: HashMap<i64, Account>,
    before: HashMap<i64, (i64, i64)>,
}

impl Planned {
    /// The accounts whose totals the plan changes.
    fn changed(&self) -> impl Iterator<Item = &Account> {
        self.work
            .values()
            .filter(|a| self.before.get(&a.id) != Some(&(a.debits, a.credits)))
    }
}

/// Plans the fresh vouchers on `snapshot`. PostgreSQL: plan on the unlocked read, then lock the
/// rows the plan changes and re-plan if any of them moved meanwhile (optimistic; a hot account
/// that only receives buffered flows is never locked). SQLite's single writer makes the first
/// read final.
async fn plan_settled(
    tx: &mut dyn Conn,
    engine: Engine,
    inputs: &[Input],
    fresh: &[usize],
    refs: &Refs,
    mut snapshot: HashMap<i64, Account>,
    day: i64,
) -> Result<Planned, LedgerError> {
    let mut locked: HashSet<i64> = HashSet::new();
    loop {
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
        let (outcomes, prev) = plan_all(inputs, fresh, &refs.ids, &refs.subs, &mut work, day)?;
        let planned = Planned {
            outcomes,
            prev,
            work,
            before,
        };
        if engine != Engine::Postgres {
            return Ok(planned);
        }
        let to_lock: Vec<i64> = planned
            .changed()
            .map(|a| a.id)
            .filter(|id| !locked.contains(id))
            .collect();
        if to_lock.is_empty() {
            return Ok(planned);
        }
        let rows = accounts::load(tx, engine, &to_lock, true).await?;
        locked.extend(to_lock.iter().copied());
        let stale = rows
            .values()
            .any(|a| snapshot.get(&a.id).map(|s| s.version) != Some(a.version));
        snapshot.extend(rows);
        if !stale {
            return Ok(planned);
        }
    }
}

/// Results in input order; repeats within the batch get the first one's result.
fn results_in_order(
    nos: &[&str],
    stored: &HashMap<String, PostResult>,
    first: &HashMap<&str, usize>,
    outcomes: &[Outcome],
    voucher_ids: &HashMap<String, i64>,
    day: i64,
) -> Result<Vec<PostResult>, LedgerError> {
    let mut by_no: HashMap<&str, PostResult> = HashMap::with_capacity(outcomes.len());
    for o in outcomes {
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
    let mut results = Vec::with_capacity(nos.len());
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
    Ok(results)
}

/// With cached accounts, the version guard of `update_totals` covers every account a batch
/// changes. What it cannot see is a refusal (or a buffered flow) decided on a stale cached
/// account — a frozen flag lifted elsewhere, say — so those accounts' versions are checked here.
#[allow(clippy::too_many_arguments)]
async fn check_cached(
    tx: &mut dyn Conn,
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
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        for row in tx.fetch_all(&q, &params).await? {
            let id = row.int("id")?;
            let version = row.int("version")?;
            if work.get(&id).map(|a| a.version) != Some(version) {
                return Err(LedgerError::Stale);
            }
        }
    }
    Ok(())
}

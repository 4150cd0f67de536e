//! Accounts (L2): opening, reading, status changes, hot-account settings.

use std::collections::HashMap;

use paycore_kernel::state::StateMachine as _;
use paycore_kernel::Currency;
use paycore_store::state::Transition;
use paycore_store::{Columns, Conn, Engine, Row, Tx, Value};
use sqlx::any::AnyRow;

use crate::error::LedgerError;
use crate::model::{
    Account, AccountEvent, AccountKind, AccountStatus, NewAccount, Overdraft, Side, Subject,
};
use crate::sql;

pub const COLUMNS: &str = "id, account_no, subject_code, owner, sub_no, parent_id, split_count, \
    kind, currency, normal_side, status, overdraft, overdraft_limit, buffered, debits, credits, \
    debits_pending, credits_pending, version, created_day";

/// The number of an account: `subject:owner:currency`, plus `#n` for a sub-account. Posting
/// rules find an event's accounts by it.
pub fn account_no(subject: &str, owner: &str, currency: &str, sub_no: i64) -> String {
    if sub_no == 0 {
        format!("{subject}:{owner}:{currency}")
    } else {
        format!("{subject}:{owner}:{currency}#{sub_no}")
    }
}

/// Decodes a row of `COLUMNS` by position (the posting engine reads thousands per batch).
pub fn from_row<R: Columns>(row: &R) -> Result<Account, LedgerError> {
    let currency = row.text_at(8)?;
    Ok(Account {
        id: row.int_at(0)?,
        account_no: row.text_at(1)?.to_owned(),
        subject: row.text_at(2)?.to_owned(),
        owner: row.text_at(3)?.to_owned(),
        sub_no: row.int_at(4)?,
        parent_id: row.opt_int_at(5)?,
        split_count: row.int_at(6)?,
        kind: AccountKind::parse(row.text_at(7)?)?,
        currency: Currency::from_code(currency)
            .map_err(|_| LedgerError::Corrupt(format!("currency {currency:?}")))?,
        normal_side: Side::parse(row.text_at(9)?)?,
        status: crate::stored("account status", row.text_at(10)?)?,
        overdraft: Overdraft::parse(row.text_at(11)?, row.int_at(12)?)?,
        buffered: row.int_at(13)? != 0,
        debits: row.int_at(14)?,
        credits: row.int_at(15)?,
        debits_pending: row.int_at(16)?,
        credits_pending: row.int_at(17)?,
        version: row.int_at(18)?,
        created_day: row.int_at(19)?,
    })
}

pub fn subject_from_row(row: &AnyRow) -> Result<Subject, LedgerError> {
    Ok(Subject {
        code: row.try_get("code")?,
        parent: row.try_get("parent_code")?,
        level: u8::try_from(row.try_get::<i64, _>("level")?)
            .map_err(|_| LedgerError::Corrupt("subject level".into()))?,
        element: crate::model::Element::parse(&row.try_get::<String, _>("element")?)?,
        normal_side: Side::parse(&row.try_get::<String, _>("normal_side")?)?,
        name: row.try_get("name")?,
        name_en: row.try_get("name_en")?,
    })
}

pub async fn subject(tx: &mut Tx, code: &str) -> Result<Subject, LedgerError> {
    let row = sqlx::query(
        "SELECT code, parent_code, level, element, normal_side, name, name_en
         FROM ledger_subjects WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| LedgerError::UnknownSubject(code.to_owned()))?;
    subject_from_row(&row)
}

/// Opens an account (and, for `split > 0`, that many sub-accounts). Opening an account that
/// exists with the same settings returns it; different settings are an error.
pub async fn open(
    tx: &mut Tx,
    new: &NewAccount,
    day: i64,
    now: i64,
) -> Result<Account, LedgerError> {
    let subject = subject(tx, &new.subject).await?;
    if subject.level != 3 {
        return Err(LedgerError::NotDetailSubject(new.subject.clone()));
    }
    if let Overdraft::Limit(l) = new.overdraft {
        if l < 0 {
            return Err(LedgerError::AccountPolicy {
                account: new.subject.clone(),
                reason: "overdraft limit must not be negative".into(),
            });
        }
    }
    if new.kind == AccountKind::Customer && new.overdraft == Overdraft::Unbounded {
        return Err(LedgerError::AccountPolicy {
            account: new.subject.clone(),
            reason: "only internal accounts may overdraw without limit".into(),
        });
    }
    let no = account_no(&new.subject, &new.owner, new.currency.code(), 0);
    if let Some(existing) = by_no(tx, &no).await? {
        let same = existing.kind == new.kind && existing.overdraft == new.overdraft;
        return if same {
            Ok(existing)
        } else {
            Err(LedgerError::AccountExists(no))
        };
    }
    insert(tx, new, &subject, &no, 0, None, day, now).await
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &mut Tx,
    new: &NewAccount,
    subject: &Subject,
    no: &str,
    sub_no: i64,
    parent: Option<i64>,
    day: i64,
    now: i64,
) -> Result<Account, LedgerError> {
    let (od, limit) = new.overdraft.columns();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO ledger_accounts (account_no, subject_code, owner, sub_no, parent_id,
            split_count, kind, currency, normal_side, status, overdraft, overdraft_limit, buffered,
            debits, credits, debits_pending, credits_pending, version, created_day, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $13, $9, $10, 0, 0, 0, 0, 0, 0, $11, $12)
         RETURNING {COLUMNS}"
    )))
    .bind(no)
    .bind(&new.subject)
    .bind(&new.owner)
    .bind(sub_no)
    .bind(parent)
    .bind(new.kind.as_str())
    .bind(new.currency.code())
    .bind(subject.normal_side.as_str())
    .bind(od)
    .bind(limit)
    .bind(day)
    .bind(now)
    .bind(AccountStatus::Active.as_str())
    .fetch_one(&mut **tx)
    .await?;
    from_row(&row)
}

pub async fn by_no(tx: &mut dyn Conn, no: &str) -> Result<Option<Account>, LedgerError> {
    let row = tx
        .fetch_optional(
            &format!("SELECT {COLUMNS} FROM ledger_accounts WHERE account_no = $1"),
            &[no.into()],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Accounts by id; PostgreSQL locks them (in id order, so concurrent batches cannot deadlock).
pub async fn load(
    tx: &mut dyn Conn,
    engine: Engine,
    ids: &[i64],
    lock: bool,
) -> Result<HashMap<i64, Account>, LedgerError> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = HashMap::with_capacity(sorted.len());
    let suffix = if lock { sql::for_update(engine) } else { "" };
    for chunk in sorted.chunks(sql::MAX_PARAMS) {
        let q = format!(
            "SELECT {COLUMNS} FROM ledger_accounts WHERE id IN ({}) ORDER BY id{suffix}",
            sql::list(engine, 1, chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        for row in tx.fetch_all(&q, &params).await? {
            let a = from_row(&row)?;
            out.insert(a.id, a);
        }
    }
    Ok(out)
}

/// Ids by account number (unknown numbers are left out).
pub async fn ids_by_no(
    tx: &mut dyn Conn,
    engine: Engine,
    nos: &[&str],
) -> Result<HashMap<String, i64>, LedgerError> {
    let mut out = HashMap::with_capacity(nos.len());
    for chunk in nos.chunks(sql::MAX_PARAMS) {
        let q = format!(
            "SELECT id, account_no FROM ledger_accounts WHERE account_no IN ({})",
            sql::list(engine, 1, chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|no| Value::from(*no)).collect();
        for row in tx.fetch_all(&q, &params).await? {
            out.insert(row.text("account_no")?, row.int("id")?);
        }
    }
    Ok(out)
}

/// Sub-account ids of split accounts: parent id → ids ordered by sub_no.
pub async fn subs(
    tx: &mut dyn Conn,
    engine: Engine,
    parents: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, LedgerError> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in parents.chunks(sql::MAX_PARAMS) {
        let q = format!(
            "SELECT id, parent_id FROM ledger_accounts WHERE parent_id IN ({}) ORDER BY sub_no",
            sql::list(engine, 1, chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        for row in tx.fetch_all(&q, &params).await? {
            if let Some(p) = row.opt_int("parent_id")? {
                out.entry(p).or_default().push(row.int("id")?);
            }
        }
    }
    Ok(out)
}

/// Applies a status event as a compare-and-set and writes a history row.
pub async fn transition(
    tx: &mut Tx,
    engine: Engine,
    no: &str,
    event: AccountEvent,
    now: i64,
) -> Result<Account, LedgerError> {
    let acc = by_no(tx, no)
        .await?
        .ok_or_else(|| LedgerError::AccountNotFound(no.to_owned()))?;
    let acc = load(tx, engine, &[acc.id], true)
        .await?
        .remove(&acc.id)
        .ok_or_else(|| LedgerError::AccountNotFound(no.to_owned()))?;
    let to = paycore_kernel::state::apply(acc.status, event)?;
    if to == AccountStatus::Closed
        && (acc.balance_minor() != 0 || acc.debits_pending != 0 || acc.credits_pending != 0)
    {
        return Err(LedgerError::AccountPolicy {
            account: no.to_owned(),
            reason: "only an account with zero balance and no holds can be closed".into(),
        });
    }
    debug_assert!(!acc.status.is_final());
    Transition::new(acc.status, event, now)
        .by("ledger")
        .set_raw("version = version + 1")
        .apply(tx, acc.id)
        .await?;
    Ok(Account { status: to, ..acc })
}

/// Marks an account buffered (hot). Only internal accounts or accounts allowed to overdraw:
/// their increases can wait for the summarizer without letting anyone spend money twice.
pub async fn set_buffered(tx: &mut Tx, no: &str, on: bool) -> Result<Account, LedgerError> {
    let acc = by_no(tx, no)
        .await?
        .ok_or_else(|| LedgerError::AccountNotFound(no.to_owned()))?;
    if on && acc.kind != AccountKind::Internal && acc.overdraft == Overdraft::None {
        return Err(LedgerError::AccountPolicy {
            account: no.to_owned(),
            reason: "only internal or overdraft-allowed accounts may be buffered".into(),
        });
    }
    sqlx::query("UPDATE ledger_accounts SET buffered = $1, version = version + 1 WHERE id = $2")
        .bind(i64::from(on))
        .bind(acc.id)
        .execute(&mut **tx)
        .await?;
    Ok(Account {
        buffered: on,
        ..acc
    })
}

/// Splits an internal, unbounded account into `n` sub-accounts; legs addressed to it are spread
/// over them by voucher id, so concurrent batches do not all wait for one row.
pub async fn split(
    tx: &mut Tx,
    no: &str,
    n: i64,
    day: i64,
    now: i64,
) -> Result<Vec<Account>, LedgerError> {
    let acc = by_no(tx, no)
        .await?
        .ok_or_else(|| LedgerError::AccountNotFound(no.to_owned()))?;
    if acc.overdraft != Overdraft::Unbounded || !(1..=64).contains(&n) || acc.split_count != 0 {
        return Err(LedgerError::AccountPolicy {
            account: no.to_owned(),
            reason: "only an unsplit account with unbounded overdraft can be split, into 1..=64"
                .into(),
        });
    }
    let subject = subject(tx, &acc.subject).await?;
    let new = NewAccount {
        subject: acc.subject.clone(),
        owner: acc.owner.clone(),
        kind: acc.kind,
        currency: acc.currency,
        overdraft: acc.overdraft,
    };
    let mut out = Vec::new();
    for k in 1..=n {
        let sub_no = account_no(&acc.subject, &acc.owner, acc.currency.code(), k);
        out.push(insert(tx, &new, &subject, &sub_no, k, Some(acc.id), day, now).await?);
    }
    sqlx::query("UPDATE ledger_accounts SET split_count = $1, version = version + 1 WHERE id = $2")
        .bind(n)
        .bind(acc.id)
        .execute(&mut **tx)
        .await?;
    Ok(out)
}

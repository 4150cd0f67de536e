//! The books as beancount (L10), so an independent tool (`bean-check`) can check them: every
//! account opened, every posted voucher a transaction (debits positive, credits negative), and
//! at each closed day a balance assertion for every account with a closing balance.

use std::collections::HashMap;
use std::io::Write;

use paycore_kernel::Money;
use paycore_store::Row;
use sqlx::any::AnyRow;
use sqlx::AnyPool;

use crate::error::LedgerError;
use crate::model::Side;
use crate::model::VoucherStatus;
use crate::{currency, day_date, next_day, Ledger};

fn date(day: i64) -> Result<String, LedgerError> {
    let d = day_date(day)?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    ))
}

/// Letters, digits and dashes only (beancount account components and our narration).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

struct Acct {
    name: String,
    currency: String,
    normal: Side,
}

/// Subjects by code: parent code, element, English name.
type Subjects = HashMap<String, (Option<String>, String, String)>;

pub async fn beancount<W: Write + Send>(ledger: &Ledger, out: &mut W) -> Result<(), LedgerError> {
    let db = ledger.db().reader();
    let subjects = load_subjects(db).await?;
    writeln!(
        out,
        "; paycore ledger export (beancount)\noption \"title\" \"paycore ledger\"\n"
    )?;
    let accts = open_accounts(db, out, &subjects).await?;
    writeln!(out)?;
    write_vouchers(db, out, &accts).await?;
    write_balances(db, out, &accts).await?;
    out.flush()?;
    Ok(())
}

async fn load_subjects(db: &AnyPool) -> Result<Subjects, LedgerError> {
    sqlx::query("SELECT code, parent_code, element, name_en FROM ledger_subjects")
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("code")?,
                (
                    r.try_get("parent_code")?,
                    r.try_get("element")?,
                    r.try_get("name_en")?,
                ),
            ))
        })
        .collect::<Result<_, LedgerError>>()
}

/// The beancount account path of a subject.
fn subject_path(subjects: &Subjects, code: &str) -> String {
    // Root (from the element), then the level-2 and level-3 names.
    let mut names = Vec::new();
    let mut element = String::new();
    let mut c = Some(code.to_owned());
    while let Some(code) = c {
        match subjects.get(&code) {
            Some((parent, el, name)) => {
                element.clone_from(el);
                if parent.is_some() {
                    names.push(clean(name));
                }
                c = parent.clone();
            }
            None => break,
        }
    }
    names.reverse();
    let root = crate::model::Element::parse(&element)
        .map(|e| e.beancount_root())
        .unwrap_or("Equity");
    std::iter::once(root.to_owned())
        .chain(names)
        .collect::<Vec<_>>()
        .join(":")
}

/// An `open` directive for every account; returns the accounts by id.
async fn open_accounts<W: Write + Send>(
    db: &AnyPool,
    out: &mut W,
    subjects: &Subjects,
) -> Result<HashMap<i64, Acct>, LedgerError> {
    let mut accts: HashMap<i64, Acct> = HashMap::new();
    let rows = sqlx::query(
        "SELECT id, subject_code, owner, currency, normal_side, created_day FROM ledger_accounts ORDER BY id",
    )
    .fetch_all(db)
    .await?;
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let owner: String = r.try_get("owner")?;
        let subject: String = r.try_get("subject_code")?;
        let name = if owner.is_empty() {
            format!("{}:A{id}", subject_path(subjects, &subject))
        } else {
            format!(
                "{}:A{id}-{}",
                subject_path(subjects, &subject),
                clean(&owner)
            )
        };
        let cur: String = r.try_get("currency")?;
        writeln!(
            out,
            "{} open {name} {cur}",
            date(r.try_get("created_day")?)?
        )?;
        accts.insert(
            id,
            Acct {
                name,
                currency: cur,
                normal: Side::parse(&r.try_get::<String, _>("normal_side")?)?,
            },
        );
    }
    Ok(accts)
}

/// Vouchers in id order, a page at a time.
async fn write_vouchers<W: Write + Send>(
    db: &AnyPool,
    out: &mut W,
    accts: &HashMap<i64, Acct>,
) -> Result<(), LedgerError> {
    let mut after = 0i64;
    loop {
        let vouchers = sqlx::query(
            "SELECT id, voucher_no, tx_code, day, biz_ref FROM ledger_vouchers
             WHERE id > $1 AND status = $2 ORDER BY id LIMIT 5000",
        )
        .bind(after)
        .bind(VoucherStatus::Posted.as_str())
        .fetch_all(db)
        .await?;
        let Some(last) = vouchers.last() else { break };
        let last: i64 = last.try_get("id")?;
        let legs = page_legs(db, after, last).await?;
        for v in vouchers {
            write_voucher(out, &v, &legs, accts)?;
        }
        after = last;
    }
    Ok(())
}

/// The legs of the vouchers with ids in (`after`, `last`], by voucher id, in leg order.
async fn page_legs(
    db: &AnyPool,
    after: i64,
    last: i64,
) -> Result<HashMap<i64, Vec<(i64, Side, i64)>>, LedgerError> {
    let entries = sqlx::query(
        "SELECT voucher_id, account_id, side, amount FROM ledger_entries
         WHERE voucher_id > $1 AND voucher_id <= $2 ORDER BY voucher_id, leg",
    )
    .bind(after)
    .bind(last)
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

/// One posted voucher as a transaction: debits positive, credits negative.
fn write_voucher<W: Write>(
    out: &mut W,
    v: &AnyRow,
    legs: &HashMap<i64, Vec<(i64, Side, i64)>>,
    accts: &HashMap<i64, Acct>,
) -> Result<(), LedgerError> {
    let id: i64 = v.try_get("id")?;
    writeln!(
        out,
        "{} * \"{}\" \"{} {}\"",
        date(v.try_get("day")?)?,
        clean(&v.try_get::<String, _>("tx_code")?),
        clean(&v.try_get::<String, _>("voucher_no")?),
        clean(&v.try_get::<String, _>("biz_ref")?)
    )?;
    for (account, side, amount) in legs.get(&id).into_iter().flatten() {
        let a = accts
            .get(account)
            .ok_or_else(|| LedgerError::Corrupt(format!("entry on unknown account {account}")))?;
        let signed = match side {
            Side::Debit => *amount,
            Side::Credit => -*amount,
        };
        let m = Money::from_minor(signed, currency(&a.currency)?);
        writeln!(out, "  {} {} {}", a.name, m.to_major_string(), a.currency)?;
    }
    writeln!(out)?;
    Ok(())
}

/// Balance assertions after each closed day (beancount checks them at the start of a date).
async fn write_balances<W: Write + Send>(
    db: &AnyPool,
    out: &mut W,
    accts: &HashMap<i64, Acct>,
) -> Result<(), LedgerError> {
    let rows = sqlx::query(
        "SELECT d.day, d.account_id, d.closing FROM ledger_account_days d
         JOIN ledger_day_ends e ON e.day = d.day AND e.status = $1
         ORDER BY d.day, d.account_id",
    )
    .bind(crate::DayEndStatus::Closed.as_str())
    .fetch_all(db)
    .await?;
    for r in rows {
        let account: i64 = r.try_get("account_id")?;
        let a = accts
            .get(&account)
            .ok_or_else(|| LedgerError::Corrupt(format!("summary of unknown account {account}")))?;
        let closing: i64 = r.try_get("closing")?;
        let signed = match a.normal {
            Side::Debit => closing,
            Side::Credit => -closing,
        };
        let m = Money::from_minor(signed, currency(&a.currency)?);
        writeln!(
            out,
            "{} balance {} {} {}",
            date(next_day(r.try_get("day")?)?)?,
            a.name,
            m.to_major_string(),
            a.currency
        )?;
    }
    Ok(())
}

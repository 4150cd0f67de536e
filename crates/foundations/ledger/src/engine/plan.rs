//! Planning a batch in memory: every voucher checked in order against the balances its
//! predecessors left, and the hash chain that ties the recorded ones together.

use std::collections::{BTreeMap, HashMap};

use aws_lc_rs::digest;

use super::{Input, MAX_LEGS};
use crate::error::{LedgerError, PostError};
use crate::model::{Account, AccountRef, AccountStatus, Side, Voucher, VoucherStatus};

/// A leg resolved to an account.
#[derive(Debug, Clone, Copy)]
pub struct PlannedLeg {
    pub account_id: i64,
    pub side: Side,
    pub amount: i64,
    /// Written as a flow for the summarizer instead of to the balance.
    pub buffered: bool,
}

pub(super) struct Outcome {
    pub(super) voucher_no: String,
    pub(super) tx_code: String,
    pub(super) biz_ref: String,
    pub(super) result: Result<Vec<PlannedLeg>, PostError>,
    pub(super) hash: String,
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
    let legs = resolve_legs(v, ids, subs, work)?;
    check_balanced(v)?;
    check_day(v, day)?;
    check_status(&legs, work)?;
    apply_legs(&legs, work)?;
    Ok(legs)
}

/// Accounts, then currencies: each leg resolved to the account it posts to (a split account's
/// sub-account), in leg order, the first unknown account or currency mismatch refusing.
fn resolve_legs(
    v: &Voucher,
    ids: &HashMap<String, i64>,
    subs: &HashMap<i64, Vec<i64>>,
    work: &HashMap<i64, Account>,
) -> Result<Vec<PlannedLeg>, PostError> {
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
    Ok(legs)
}

/// Debits equal credits per currency.
fn check_balanced(v: &Voucher) -> Result<(), PostError> {
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
    Ok(())
}

/// The day the voucher asks for, if any, is the current one.
fn check_day(v: &Voucher, day: i64) -> Result<(), PostError> {
    match v.day {
        Some(d) if d < day => Err(PostError::DayClosed {
            day: d,
            current: day,
        }),
        Some(d) if d > day => Err(PostError::DayNotOpen {
            day: d,
            current: day,
        }),
        _ => Ok(()),
    }
}

/// Account status: a closed account takes nothing, a frozen one no debit.
fn check_status(legs: &[PlannedLeg], work: &HashMap<i64, Account>) -> Result<(), PostError> {
    for leg in legs {
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
    Ok(())
}

/// New totals per account; overdraft for every account this voucher lowers. The working
/// balances change only when every account passes.
fn apply_legs(legs: &[PlannedLeg], work: &mut HashMap<i64, Account>) -> Result<(), PostError> {
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
    Ok(())
}

/// Validates and applies every fresh voucher in order, chaining their hashes.
pub(super) fn plan_all(
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

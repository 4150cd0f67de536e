//! Holds (L6): two-phase amounts for preauth and withdrawals. A hold reserves `amount` as
//! pending on a debit and a credit account (the available balance counts it at once); capture
//! posts a voucher for up to the held amount and releases the rest; void releases it all;
//! expiry (by the ledger clock) voids what was not captured in time.

use paycore_kernel::state::StateMachine;
use paycore_kernel::Money;
use paycore_store::state::{Stored, Table, Transition};
use paycore_store::{Conn, Engine, Row};
use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, PostError};
use crate::model::{Account, AccountRef, AccountStatus, Leg, Posted, Side, Voucher};
use crate::{accounts, engine, Ledger};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    Pending,
    Captured,
    Voided,
    Expired,
}
paycore_kernel::named!(HoldStatus { Pending => "pending", Captured => "captured",
    Voided => "voided", Expired => "expired" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEvent {
    Capture,
    Void,
    Expire,
}
paycore_kernel::named!(HoldEvent { Capture => "capture", Void => "void", Expire => "expire" });

impl StateMachine for HoldStatus {
    type Event = HoldEvent;
    const INITIAL: &'static [Self] = &[HoldStatus::Pending];
    const TRANSITIONS: &'static [(Self, HoldEvent, Self)] = &[
        (
            HoldStatus::Pending,
            HoldEvent::Capture,
            HoldStatus::Captured,
        ),
        (HoldStatus::Pending, HoldEvent::Void, HoldStatus::Voided),
        (HoldStatus::Pending, HoldEvent::Expire, HoldStatus::Expired),
    ];
}

impl Stored for HoldStatus {
    const TABLE: Table = Table {
        machine: "ledger hold",
        table: "ledger_holds",
        key: "hold_no",
        status: "status",
        updated_at: Some("updated_at"),
        history: "ledger_hold_history",
        history_key: "hold_no",
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    pub hold_no: String,
    /// The account the captured amount will be debited from.
    pub debit: AccountRef,
    pub credit: AccountRef,
    pub amount: Money,
    /// Ledger-clock unix millis after which the hold is released.
    pub expires_at: i64,
    pub biz_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub hold_no: String,
    pub debit_account_id: i64,
    pub credit_account_id: i64,
    pub amount: Money,
    pub captured: Money,
    pub status: HoldStatus,
    pub capture_voucher: Option<String>,
    pub expires_at: i64,
    pub biz_ref: String,
}

async fn get(
    tx: &mut dyn Conn,
    engine: paycore_store::Engine,
    hold_no: &str,
) -> Result<Option<Hold>, LedgerError> {
    let sql = format!(
        "SELECT hold_no, debit_account_id, credit_account_id, amount, currency, status, captured,
                capture_voucher, expires_at, biz_ref
         FROM ledger_holds WHERE hold_no = $1{}",
        crate::sql::for_update(engine)
    );
    let Some(row) = tx.fetch_optional(&sql, &[hold_no.into()]).await? else {
        return Ok(None);
    };
    let currency = crate::currency(&row.text("currency")?)?;
    Ok(Some(Hold {
        hold_no: row.text("hold_no")?,
        debit_account_id: row.int("debit_account_id")?,
        credit_account_id: row.int("credit_account_id")?,
        amount: Money::from_minor(row.int("amount")?, currency),
        captured: Money::from_minor(row.int("captured")?, currency),
        status: crate::stored("hold status", &row.text("status")?)?,
        capture_voucher: row.opt_text("capture_voucher")?,
        expires_at: row.int("expires_at")?,
        biz_ref: row.text("biz_ref")?,
    }))
}

async fn resolve(tx: &mut dyn Conn, r: &AccountRef) -> Result<Option<i64>, LedgerError> {
    Ok(match r {
        AccountRef::Id(id) => Some(*id),
        AccountRef::No(no) => accounts::by_no(tx, no).await?.map(|a| a.id),
    })
}

/// Adds `sign * amount` to the pending columns of the hold's two accounts.
async fn move_pending(tx: &mut dyn Conn, h: &Hold, sign: i64) -> Result<(), LedgerError> {
    let delta = h
        .amount
        .minor()
        .checked_mul(sign)
        .ok_or(PostError::Overflow)?;
    for (col, id) in [
        ("debits_pending", h.debit_account_id),
        ("credits_pending", h.credit_account_id),
    ] {
        tx.execute(
            &format!(
                "UPDATE ledger_accounts SET {col} = {col} + $1, version = version + 1 WHERE id = $2"
            ),
            &[delta.into(), id.into()],
        )
        .await?;
    }
    Ok(())
}

/// Moves a pending hold by `event` (the executor's compare-and-set and history row).
async fn settle(
    tx: &mut dyn Conn,
    hold_no: &str,
    event: HoldEvent,
    captured: i64,
    voucher: Option<&str>,
    now: i64,
) -> Result<(), LedgerError> {
    Transition::new(HoldStatus::Pending, event, now)
        .by("ledger")
        .set("captured", captured)
        .set("capture_voucher", voucher)
        .apply(tx, hold_no)
        .await?;
    Ok(())
}

fn check_overdraft(acc: &Account, extra_pending: i64, side: Side) -> Result<(), PostError> {
    // A pending leg on the side that lowers the account reduces what is available.
    if side == acc.normal_side {
        return Ok(());
    }
    let available = acc.available_minor() - i128::from(extra_pending);
    if acc.overdraft.allows(available) {
        Ok(())
    } else {
        Err(PostError::Overdraft {
            account: acc.account_no.clone(),
            available: i64::try_from(acc.available_minor()).unwrap_or(i64::MIN),
        })
    }
}

impl Ledger {
    /// Places a hold. Placing the same hold again returns it; a different hold under the same
    /// number is refused.
    pub async fn hold(&self, req: &HoldRequest) -> Result<Hold, LedgerError> {
        self.ready().await?;
        let mut tx = self.db().begin().await?;
        let hold = self.hold_in(&mut tx, req).await?;
        tx.commit().await?;
        self.db().durable().await?;
        self.invalidate(&[hold.debit_account_id, hold.credit_account_id]);
        Ok(hold)
    }

    /// [`Ledger::hold`] inside the caller's transaction (a business step reserves funds with
    /// its own change). Call [`Ledger::ready`] before the transaction.
    pub async fn hold_in(&self, tx: &mut dyn Conn, req: &HoldRequest) -> Result<Hold, LedgerError> {
        let engine = self.db().engine();
        let now = self.clock().unix_millis();
        if req.hold_no.is_empty() || req.hold_no.len() > 64 {
            return Err(PostError::InvalidVoucherNo.into());
        }
        if req.amount.minor() <= 0 {
            return Err(PostError::NonPositiveAmount { leg: 0 }.into());
        }
        if let Some(h) = get(tx, engine, &req.hold_no).await? {
            let d = resolve(tx, &req.debit).await?;
            let c = resolve(tx, &req.credit).await?;
            if d == Some(h.debit_account_id)
                && c == Some(h.credit_account_id)
                && h.amount == req.amount
            {
                return Ok(h);
            }
            return Err(PostError::HoldExists {
                hold_no: req.hold_no.clone(),
            }
            .into());
        }
        let mut ids = Vec::new();
        for (leg, r) in [(0usize, &req.debit), (1, &req.credit)] {
            let unknown = || PostError::UnknownAccount {
                leg,
                account: format!("{r:?}"),
            };
            ids.push(resolve(tx, r).await?.ok_or_else(unknown)?);
        }
        let accs = accounts::load(tx, engine, &ids, true).await?;
        let mut pair = Vec::new();
        for (leg, id) in ids.iter().enumerate() {
            let acc = accs.get(id).ok_or(PostError::UnknownAccount {
                leg,
                account: id.to_string(),
            })?;
            if acc.currency != req.amount.currency() {
                return Err(PostError::CurrencyMismatch {
                    leg,
                    account_currency: acc.currency.code().into(),
                    leg_currency: req.amount.currency().code().into(),
                }
                .into());
            }
            pair.push(acc.clone());
        }
        let (debit, credit) = match (pair.first(), pair.get(1)) {
            (Some(d), Some(c)) => (d.clone(), c.clone()),
            _ => return Err(LedgerError::Corrupt("hold accounts".into())),
        };
        for (acc, side) in [(&debit, Side::Debit), (&credit, Side::Credit)] {
            match acc.status {
                AccountStatus::Closed => {
                    return Err(PostError::AccountClosed {
                        account: acc.account_no.clone(),
                    }
                    .into())
                }
                AccountStatus::Frozen if side == Side::Debit => {
                    return Err(PostError::AccountFrozen {
                        account: acc.account_no.clone(),
                    }
                    .into())
                }
                _ => {}
            }
        }
        check_overdraft(&debit, req.amount.minor(), Side::Debit)?;
        check_overdraft(&credit, req.amount.minor(), Side::Credit)?;
        let hold = Hold {
            hold_no: req.hold_no.clone(),
            debit_account_id: debit.id,
            credit_account_id: credit.id,
            amount: req.amount,
            captured: Money::zero(req.amount.currency()),
            status: HoldStatus::Pending,
            capture_voucher: None,
            expires_at: req.expires_at,
            biz_ref: req.biz_ref.clone(),
        };
        tx.execute(
            "INSERT INTO ledger_holds (hold_no, debit_account_id, credit_account_id, amount,
                currency, status, captured, expires_at, biz_ref, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $9, 0, $6, $7, $8, $8)",
            &[
                hold.hold_no.as_str().into(),
                debit.id.into(),
                credit.id.into(),
                req.amount.minor().into(),
                req.amount.currency().code().into(),
                req.expires_at.into(),
                req.biz_ref.as_str().into(),
                now.into(),
                HoldStatus::Pending.as_str().into(),
            ],
        )
        .await?;
        move_pending(tx, &hold, 1).await?;
        Ok(hold)
    }

    /// Captures up to the held amount as voucher `voucher_no`; the remainder is released.
    /// Capturing again with the same voucher id returns the first result.
    pub async fn capture(
        &self,
        hold_no: &str,
        amount: Money,
        voucher_no: &str,
        tx_code: &str,
    ) -> Result<Posted, LedgerError> {
        self.ready().await?;
        let engine = self.db().engine();
        let now = self.clock().unix_millis();
        let mut tx = self.db().begin().await?;
        let h = get(&mut tx, engine, hold_no)
            .await?
            .ok_or_else(|| PostError::HoldNotFound {
                hold_no: hold_no.to_owned(),
            })?;
        if h.status == HoldStatus::Captured && h.capture_voucher.as_deref() == Some(voucher_no) {
            let row = sqlx::query("SELECT id, day FROM ledger_vouchers WHERE voucher_no = $1")
                .bind(voucher_no)
                .fetch_one(&mut *tx)
                .await?;
            return Ok(Posted {
                voucher_no: voucher_no.to_owned(),
                voucher_id: row.try_get("id")?,
                day: row.try_get("day")?,
                replayed: true,
            });
        }
        if h.status == HoldStatus::Pending && now >= h.expires_at {
            // Expired by the ledger clock: release it now and refuse the capture.
            move_pending(&mut tx, &h, -1).await?;
            settle(&mut tx, hold_no, HoldEvent::Expire, 0, None, now).await?;
            tx.commit().await?;
            self.db().durable().await?;
            self.invalidate(&[h.debit_account_id, h.credit_account_id]);
            return Err(PostError::HoldNotPending {
                hold_no: hold_no.to_owned(),
                status: "expired".into(),
            }
            .into());
        }
        if h.status != HoldStatus::Pending {
            return Err(PostError::HoldNotPending {
                hold_no: hold_no.to_owned(),
                status: h.status.as_str().into(),
            }
            .into());
        }
        if amount.currency() != h.amount.currency() {
            return Err(PostError::CurrencyMismatch {
                leg: 0,
                account_currency: h.amount.currency().code().into(),
                leg_currency: amount.currency().code().into(),
            }
            .into());
        }
        if amount.minor() <= 0 {
            return Err(PostError::NonPositiveAmount { leg: 0 }.into());
        }
        if amount.minor() > h.amount.minor() {
            return Err(PostError::CaptureExceedsHold {
                requested: amount.minor(),
                held: h.amount.minor(),
            }
            .into());
        }
        move_pending(&mut tx, &h, -1).await?;
        let v = Voucher::new(
            voucher_no,
            tx_code,
            &h.biz_ref,
            vec![
                Leg::debit(h.debit_account_id, amount),
                Leg::credit(h.credit_account_id, amount),
            ],
        );
        let mut r = engine::post_batch(&mut tx, engine, &[engine::Input::Voucher(v)], now).await?;
        let posted = match r.pop() {
            Some(Ok(p)) if !p.replayed => p,
            Some(Ok(_)) => return Err(PostError::InvalidVoucherNo.into()),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(LedgerError::Corrupt("capture produced no result".into())),
        };
        settle(
            &mut tx,
            hold_no,
            HoldEvent::Capture,
            amount.minor(),
            Some(voucher_no),
            now,
        )
        .await?;
        tx.commit().await?;
        self.db().durable().await?;
        self.invalidate(&[h.debit_account_id, h.credit_account_id]);
        Ok(posted)
    }

    /// Releases a pending hold. Voiding twice is refused (`HoldNotPending`).
    pub async fn void(&self, hold_no: &str) -> Result<Hold, LedgerError> {
        self.ready().await?;
        self.release(hold_no, HoldEvent::Void).await
    }

    async fn release(&self, hold_no: &str, event: HoldEvent) -> Result<Hold, LedgerError> {
        let mut tx = self.db().begin().await?;
        let h = self.release_in(&mut tx, hold_no, event).await?;
        tx.commit().await?;
        self.db().durable().await?;
        self.invalidate(&[h.debit_account_id, h.credit_account_id]);
        Ok(h)
    }

    /// Releases a pending hold inside the caller's transaction (`HoldNotPending` when it was
    /// captured, voided or expired already).
    pub async fn void_in(&self, tx: &mut dyn Conn, hold_no: &str) -> Result<Hold, LedgerError> {
        self.release_in(tx, hold_no, HoldEvent::Void).await
    }

    /// Locks, in one statement and in id order, every account that `events` post to and that
    /// the holds `hold_nos` move (PostgreSQL; SQLite's one writer takes no row locks). A
    /// transaction that releases a hold and then posts calls this first: it then takes its
    /// locks in the one order every posting takes them, and cannot deadlock with them.
    pub async fn lock_in(
        &self,
        tx: &mut dyn Conn,
        events: &[crate::model::BusinessEvent],
        hold_nos: &[&str],
    ) -> Result<(), LedgerError> {
        let engine = self.db().engine();
        if engine != Engine::Postgres {
            return Ok(());
        }
        let mut nos: Vec<String> = Vec::new();
        let mut ids: Vec<i64> = Vec::new();
        for ev in events {
            if let engine::Input::Voucher(v) = self.event_input(ev) {
                for leg in v.legs {
                    match leg.account {
                        AccountRef::Id(id) => ids.push(id),
                        AccountRef::No(no) => nos.push(no),
                    }
                }
            }
        }
        for no in hold_nos {
            if let Some(h) = get(tx, engine, no).await? {
                ids.extend([h.debit_account_id, h.credit_account_id]);
            }
        }
        let nos: Vec<&str> = nos.iter().map(String::as_str).collect();
        ids.extend(accounts::ids_by_no(tx, engine, &nos).await?.into_values());
        ids.sort_unstable();
        ids.dedup();
        let locked = accounts::load(tx, engine, &ids, true).await?;
        let split: Vec<i64> = locked
            .values()
            .filter(|a| a.split_count > 0)
            .map(|a| a.id)
            .collect();
        if !split.is_empty() {
            let mut subs: Vec<i64> = accounts::subs(tx, engine, &split)
                .await?
                .into_values()
                .flatten()
                .collect();
            subs.sort_unstable();
            accounts::load(tx, engine, &subs, true).await?;
        }
        Ok(())
    }

    async fn release_in(
        &self,
        tx: &mut dyn Conn,
        hold_no: &str,
        event: HoldEvent,
    ) -> Result<Hold, LedgerError> {
        let engine = self.db().engine();
        let now = self.clock().unix_millis();
        let h = get(tx, engine, hold_no)
            .await?
            .ok_or_else(|| PostError::HoldNotFound {
                hold_no: hold_no.to_owned(),
            })?;
        if h.status != HoldStatus::Pending {
            return Err(PostError::HoldNotPending {
                hold_no: hold_no.to_owned(),
                status: h.status.as_str().into(),
            }
            .into());
        }
        let to = paycore_kernel::state::apply(h.status, event)?;
        // Both accounts locked at once, in id order like every posting, before either moves.
        accounts::load(tx, engine, &[h.debit_account_id, h.credit_account_id], true).await?;
        move_pending(tx, &h, -1).await?;
        settle(tx, hold_no, event, 0, None, now).await?;
        Ok(Hold { status: to, ..h })
    }

    /// Expires every pending hold whose time has passed on the ledger clock. Returns how many.
    pub async fn expire_holds(&self) -> Result<usize, LedgerError> {
        self.ready().await?;
        let now = self.clock().unix_millis();
        let rows = sqlx::query("SELECT hold_no FROM ledger_holds WHERE status = $2 AND expires_at <= $1 ORDER BY id LIMIT 10000")
            .bind(now)
            .bind(HoldStatus::Pending.as_str())
            .fetch_all(self.db().writer())
            .await?;
        let mut n = 0;
        for row in rows {
            let no: String = row.try_get("hold_no")?;
            match self.release(&no, HoldEvent::Expire).await {
                Ok(_) => n += 1,
                // Captured or voided meanwhile: nothing to expire.
                Err(LedgerError::Refused(PostError::HoldNotPending { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    pub async fn get_hold(&self, hold_no: &str) -> Result<Hold, LedgerError> {
        self.ready().await?;
        let mut tx = self.db().begin().await?;
        let h = get(&mut tx, paycore_store::Engine::Sqlite, hold_no).await?;
        tx.commit().await?;
        self.db().durable().await?;
        h.ok_or_else(|| {
            PostError::HoldNotFound {
                hold_no: hold_no.to_owned(),
            }
            .into()
        })
    }
}

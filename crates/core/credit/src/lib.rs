//! Credit lines (信用支付, P9): an operator grants a member a line (`limit`); payments use it,
//! refunds give it back and repayments from the wallet free it again. What is used moves only
//! by one conditional update that keeps `0 ≤ used ≤ limit`, inside the transaction of the
//! movement (two parallel payments cannot both pass the limit). Every move is an entry; a
//! month's entries are the member's bill, due on the 10th of the next month.
//!
//! The money side (the member owes the platform: 112203) is the ledger's, posted by the same
//! transaction; this crate keeps the line and its limit.

mod bills;

pub use bills::Bill;

use std::sync::Arc;

use paycore_kernel::{Clock, Currency, Money};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::{Conn, Db, StoreError, Value};
use sqlx::Row as _;

/// The credit tables.
pub const SCHEMA: Schema = Schema {
    component: "credit",
    migrations: &[Migration {
        version: 1,
        name: "credit",
        sql: include_str!("../migrations/0001_credit.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("{0}")]
    Invalid(String),
    /// Not enough of the line is available: nothing was used.
    #[error("the credit available is not enough")]
    Insufficient,
    #[error("stored credit data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CreditError {
    fn from(e: sqlx::Error) -> Self {
        CreditError::Store(e.into())
    }
}

/// Why a line's use moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A payment used it.
    Spend,
    /// A refund gave it back.
    GiveBack,
    /// The member repaid it.
    Repay,
}
paycore_kernel::named!(EntryKind { Spend => "spend", GiveBack => "give_back", Repay => "repay" });

/// A member's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub member_id: String,
    pub limit: Money,
    pub used: Money,
    pub updated_at: i64,
}

impl Line {
    pub fn available(&self) -> Money {
        Money::from_minor(
            (self.limit.minor() - self.used.minor()).max(0),
            self.limit.currency(),
        )
    }
}

/// Credit lines are in CNY.
pub const CURRENCY: Currency = Currency::CNY;

/// The credit lines over one database. Cheap to clone.
#[derive(Clone)]
pub struct Credit {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Months and due dates count in the platform's time zone.
    offset: time::UtcOffset,
}

impl Credit {
    pub fn new(db: Db, clock: Arc<dyn Clock>, offset: time::UtcOffset) -> Self {
        Self { db, clock, offset }
    }

    /// Grants or changes a member's line. A limit below what is used now is refused (the
    /// member would owe more than the line; lower it after repayment).
    pub async fn set_limit(
        &self,
        member_id: &str,
        limit: Money,
        actor: &str,
    ) -> Result<Line, CreditError> {
        if limit.currency() != CURRENCY || limit.is_negative() {
            return Err(CreditError::Invalid(
                "a credit limit is zero or more CNY".into(),
            ));
        }
        let now = self.clock.unix_millis();
        let values: Vec<Value> = vec![
            member_id.into(),
            CURRENCY.code().into(),
            limit.minor().into(),
            actor.into(),
            now.into(),
        ];
        let changed = self
            .db
            .unit(move |c| {
                Box::pin(async move {
                    c.execute(
                        "INSERT INTO credit_lines (member_id, currency, limit_amount, used,
                            updated_by, created_at, updated_at)
                         VALUES ($1, $2, $3, 0, $4, $5, $5)
                         ON CONFLICT (member_id) DO UPDATE SET limit_amount = excluded.limit_amount,
                            updated_by = excluded.updated_by, updated_at = excluded.updated_at
                         WHERE credit_lines.used <= excluded.limit_amount",
                        &values,
                    )
                    .await
                })
            })
            .await?;
        if changed == 0 {
            return Err(CreditError::Invalid(
                "the member uses more than this limit now".into(),
            ));
        }
        self.line(member_id).await
    }

    /// The member's line: a zero line when none was granted.
    pub async fn line(&self, member_id: &str) -> Result<Line, CreditError> {
        let row = sqlx::query(
            "SELECT member_id, currency, limit_amount, used, updated_at FROM credit_lines
             WHERE member_id = $1",
        )
        .bind(member_id)
        .fetch_optional(self.db.reader())
        .await?;
        let Some(r) = row else {
            return Ok(Line {
                member_id: member_id.into(),
                limit: Money::zero(CURRENCY),
                used: Money::zero(CURRENCY),
                updated_at: 0,
            });
        };
        let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)
            .map_err(|_| CreditError::Corrupt("currency".into()))?;
        Ok(Line {
            member_id: r.try_get("member_id")?,
            limit: Money::from_minor(r.try_get("limit_amount")?, currency),
            used: Money::from_minor(r.try_get("used")?, currency),
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// The amount of the movement `reference` made, if it was made (a repeated request).
    pub async fn entry_amount(&self, reference: &str) -> Result<Option<Money>, CreditError> {
        let row = sqlx::query("SELECT amount FROM credit_entries WHERE ref = $1")
            .bind(reference)
            .fetch_optional(self.db.reader())
            .await?;
        match row {
            Some(r) => Ok(Some(Money::from_minor(r.try_get("amount")?, CURRENCY))),
            None => Ok(None),
        }
    }

    /// Uses `amount` of the member's line for `reference` (a payment's part), in the caller's
    /// transaction: one conditional update, refused when it would pass the limit.
    pub async fn spend_in(
        &self,
        conn: &mut dyn Conn,
        member_id: &str,
        reference: &str,
        amount: Money,
    ) -> Result<(), CreditError> {
        self.move_in(conn, member_id, reference, EntryKind::Spend, amount)
            .await
    }

    /// Gives `amount` back to the line (a refund of a payment it paid), once per `reference`.
    pub async fn give_back_in(
        &self,
        conn: &mut dyn Conn,
        member_id: &str,
        reference: &str,
        amount: Money,
    ) -> Result<(), CreditError> {
        self.move_in(conn, member_id, reference, EntryKind::GiveBack, amount)
            .await
    }

    /// Records a repayment of `amount` (its money moves in the caller's transaction too).
    pub async fn repay_in(
        &self,
        conn: &mut dyn Conn,
        member_id: &str,
        reference: &str,
        amount: Money,
    ) -> Result<(), CreditError> {
        self.move_in(conn, member_id, reference, EntryKind::Repay, amount)
            .await
    }

    /// Moves the line's use by `amount` — up for a spend, never past the limit; down
    /// otherwise, never below zero — by one conditional update, with its entry.
    async fn move_in(
        &self,
        conn: &mut dyn Conn,
        member_id: &str,
        reference: &str,
        kind: EntryKind,
        amount: Money,
    ) -> Result<(), CreditError> {
        self.check(amount)?;
        let sql = match kind {
            EntryKind::Spend => {
                "UPDATE credit_lines SET used = used + $1, updated_at = $2
                 WHERE member_id = $3 AND used + $1 <= limit_amount"
            }
            EntryKind::GiveBack | EntryKind::Repay => {
                "UPDATE credit_lines SET used = used - $1, updated_at = $2
                 WHERE member_id = $3 AND used >= $1"
            }
        };
        let params = [
            amount.minor().into(),
            self.clock.unix_millis().into(),
            member_id.into(),
        ];
        if conn.execute(sql, &params).await? != 1 {
            return Err(match kind {
                EntryKind::Spend => CreditError::Insufficient,
                _ => CreditError::Invalid("more than the member owes on the line".into()),
            });
        }
        self.entry_in(conn, member_id, reference, kind, amount)
            .await
    }

    fn check(&self, amount: Money) -> Result<(), CreditError> {
        match amount.currency() == CURRENCY && amount.is_positive() {
            true => Ok(()),
            false => Err(CreditError::Invalid(
                "credit moves positive amounts of CNY".into(),
            )),
        }
    }

    async fn entry_in(
        &self,
        conn: &mut dyn Conn,
        member_id: &str,
        reference: &str,
        kind: EntryKind,
        amount: Money,
    ) -> Result<(), CreditError> {
        // The reference is unique: the same movement twice fails its transaction whole.
        conn.execute(
            "INSERT INTO credit_entries (member_id, ref, kind, amount, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                member_id.into(),
                reference.into(),
                kind.as_str().into(),
                amount.minor().into(),
                self.clock.unix_millis().into(),
            ],
        )
        .await?;
        Ok(())
    }
}

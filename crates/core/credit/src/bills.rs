//! The member's monthly credit bills: each month's spending, give-backs and repayments in the
//! platform's time zone, what was owed when the month closed, and the due date (the 10th of the
//! next month). Read from the entries, which only the line's own movements write.

use sqlx::Row as _;
use time::{Date, Month, OffsetDateTime};

use crate::{Credit, CreditError, EntryKind, CURRENCY};
use paycore_kernel::state::Named;
use paycore_kernel::Money;

/// One month of a member's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// `YYYY-MM`.
    pub month: String,
    pub spent: Money,
    pub given_back: Money,
    pub repaid: Money,
    /// Owed on the line when the month closed (or now, for the current month).
    pub closing_used: Money,
    pub due_date: Date,
}

fn month_key(t: OffsetDateTime) -> (i32, Month) {
    (t.year(), t.month())
}

fn due_date((year, month): (i32, Month)) -> Result<Date, CreditError> {
    let (y, m) = match month {
        Month::December => (year + 1, Month::January),
        m => (year, m.next()),
    };
    Date::from_calendar_date(y, m, 10).map_err(|e| CreditError::Corrupt(e.to_string()))
}

impl Credit {
    /// The member's bills, newest first (months with no movement are left out).
    pub async fn bills(&self, member_id: &str) -> Result<Vec<Bill>, CreditError> {
        let rows = sqlx::query(
            "SELECT kind, amount, created_at FROM credit_entries WHERE member_id = $1
             ORDER BY created_at, id",
        )
        .bind(member_id)
        .fetch_all(self.db.reader())
        .await?;
        let mut bills: Vec<((i32, Month), [i64; 3], i64)> = Vec::new();
        let mut used = 0i64;
        for r in rows {
            let at: i64 = r.try_get("created_at")?;
            let amount: i64 = r.try_get("amount")?;
            let kind = EntryKind::parse(&r.try_get::<String, _>("kind")?)
                .ok_or_else(|| CreditError::Corrupt("entry kind".into()))?;
            let t = OffsetDateTime::from_unix_timestamp(at / 1000)
                .map_err(|e| CreditError::Corrupt(e.to_string()))?
                .to_offset(self.offset);
            let key = month_key(t);
            if bills.last().map(|b| b.0) != Some(key) {
                bills.push((key, [0; 3], used));
            }
            let (slot, delta) = match kind {
                EntryKind::Spend => (0, amount),
                EntryKind::GiveBack => (1, -amount),
                EntryKind::Repay => (2, -amount),
            };
            used += delta;
            if let Some(b) = bills.last_mut() {
                b.1[slot] += amount;
                b.2 = used;
            }
        }
        let money = |m: i64| Money::from_minor(m, CURRENCY);
        let mut out = Vec::with_capacity(bills.len());
        for (key, [spent, back, repaid], closing) in bills.into_iter().rev() {
            out.push(Bill {
                month: format!("{:04}-{:02}", key.0, u8::from(key.1)),
                spent: money(spent),
                given_back: money(back),
                repaid: money(repaid),
                closing_used: money(closing),
                due_date: due_date(key)?,
            });
        }
        Ok(out)
    }
}

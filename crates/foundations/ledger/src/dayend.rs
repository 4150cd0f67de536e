//! Accounting day and day-end (L8, 会计日与日切, article 001 3.17).
//!
//! Every voucher carries the accounting day current when it committed. Day-end first switches
//! the day (so new vouchers go to the next one while the closed day is checked), applies the
//! buffered flows, then checks the day — debits = credits, opening + movement = closing for
//! every account and against the account's own totals, parent subject = sum of children,
//! customer balances = their liability subjects, and the trial balance — and only then writes
//! the daily and period summaries and marks the day closed, all in one transaction. A failed
//! check leaves the day `failed` with a report; running day-end again resumes it.

use std::collections::{BTreeMap, HashMap};

use aws_lc_rs::digest;
use paycore_kernel::state::StateMachine;
use paycore_kernel::Money;
use paycore_store::state::{Stored, Table, Transition, TransitionError};
use paycore_store::{Row, Tx};
use serde::Serialize;

use crate::error::LedgerError;
use crate::model::{AccountKind, Side, Subject};
use crate::{currency, day_date, engine, next_day, Ledger};

/// Where the close of an accounting day is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DayEndStatus {
    /// New vouchers go to the next day; this one waits for its checks.
    Switched,
    /// A check failed; running day-end again resumes it.
    Failed,
    Closed,
}
paycore_kernel::named!(DayEndStatus { Switched => "switched", Failed => "failed", Closed => "closed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayEndEvent {
    ChecksFailed,
    Close,
}
paycore_kernel::named!(DayEndEvent { ChecksFailed => "checks_failed", Close => "close" });

impl StateMachine for DayEndStatus {
    type Event = DayEndEvent;
    const INITIAL: &'static [Self] = &[DayEndStatus::Switched];
    const TRANSITIONS: &'static [(Self, DayEndEvent, Self)] = &[
        (
            DayEndStatus::Switched,
            DayEndEvent::ChecksFailed,
            DayEndStatus::Failed,
        ),
        (
            DayEndStatus::Switched,
            DayEndEvent::Close,
            DayEndStatus::Closed,
        ),
        (
            DayEndStatus::Failed,
            DayEndEvent::ChecksFailed,
            DayEndStatus::Failed,
        ),
        (
            DayEndStatus::Failed,
            DayEndEvent::Close,
            DayEndStatus::Closed,
        ),
    ];
}

impl Stored for DayEndStatus {
    const TABLE: Table = Table {
        machine: "day-end",
        table: "ledger_day_ends",
        key: "day",
        status: "status",
        updated_at: Some("updated_at"),
        history: "ledger_day_end_history",
        history_key: "day",
    };
}

/// The subject whose total must equal the sum of customer balances.
pub const CUSTOMER_FUNDS_SUBJECT: &str = "2241";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What differs, when it fails (at most 50 lines).
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayEndReport {
    /// Days closed by this run (may be several after downtime), oldest first.
    pub closed: Vec<i64>,
    /// The day that failed its checks, if any; it stays open for a rerun.
    pub failed: Option<i64>,
    pub current_day: i64,
    pub flows_summarized: usize,
    pub checks: Vec<Check>,
}

impl DayEndReport {
    pub fn ok(&self) -> bool {
        self.failed.is_none()
    }
}

/// Per-account figures of one day, normal-side balances.
#[derive(Debug, Clone)]
struct Fig {
    id: i64,
    subject: String,
    currency: String,
    kind: AccountKind,
    normal: Side,
    opening: i128,
    debits: i128,
    credits: i128,
    /// opening + movement, from the entries.
    closing: i128,
    /// From the account's totals (+ unapplied flows − later movement).
    closing_by_account: i128,
}

async fn sums_by_account_side(
    tx: &mut Tx,
    sql: &str,
    day: i64,
) -> Result<HashMap<(i64, Side), i128>, LedgerError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(day)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = HashMap::new();
    for r in rows {
        let side = Side::parse(&r.try_get::<String, _>("side")?)?;
        let s: i64 = r.try_get("s")?;
        out.insert((r.try_get::<i64, _>("account_id")?, side), i128::from(s));
    }
    Ok(out)
}

/// The last closed day before `day`, if any.
async fn previous_closed(tx: &mut Tx, day: i64) -> Result<Option<i64>, LedgerError> {
    Ok(
        sqlx::query("SELECT MAX(day) AS d FROM ledger_day_ends WHERE day < $1 AND status = $2")
            .bind(day)
            .bind(DayEndStatus::Closed.as_str())
            .fetch_one(&mut **tx)
            .await?
            .try_get("d")?,
    )
}

async fn figures(tx: &mut Tx, day: i64) -> Result<Vec<Fig>, LedgerError> {
    let opening: HashMap<i64, i128> = match previous_closed(tx, day).await? {
        Some(prev) => {
            sqlx::query("SELECT account_id, closing FROM ledger_account_days WHERE day = $1")
                .bind(prev)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("account_id")?,
                        i128::from(r.try_get::<i64, _>("closing")?),
                    ))
                })
                .collect::<Result<_, LedgerError>>()?
        }
        None => HashMap::new(),
    };
    let moved = sums_by_account_side(
        tx,
        "SELECT account_id, side, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_entries
         WHERE day = $1 GROUP BY account_id, side",
        day,
    )
    .await?;
    let later = sums_by_account_side(
        tx,
        "SELECT account_id, side, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_entries
         WHERE day > $1 GROUP BY account_id, side",
        day,
    )
    .await?;
    let flows = sums_by_account_side(
        tx,
        "SELECT account_id, side, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_flows
         WHERE day >= $1 OR day < $1 GROUP BY account_id, side",
        day,
    )
    .await?;
    let rows = sqlx::query(
        "SELECT id, subject_code, currency, kind, normal_side, debits, credits FROM ledger_accounts ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let normal = Side::parse(&r.try_get::<String, _>("normal_side")?)?;
        let get = |m: &HashMap<(i64, Side), i128>, s: Side| m.get(&(id, s)).copied().unwrap_or(0);
        let signed = |d: i128, c: i128| match normal {
            Side::Debit => d - c,
            Side::Credit => c - d,
        };
        let (dm, cm) = (get(&moved, Side::Debit), get(&moved, Side::Credit));
        let open = opening.get(&id).copied().unwrap_or(0);
        let totals = signed(
            i128::from(r.try_get::<i64, _>("debits")?) + get(&flows, Side::Debit),
            i128::from(r.try_get::<i64, _>("credits")?) + get(&flows, Side::Credit),
        );
        out.push(Fig {
            id,
            subject: r.try_get("subject_code")?,
            currency: r.try_get("currency")?,
            kind: AccountKind::parse(&r.try_get::<String, _>("kind")?)?,
            normal,
            opening: open,
            debits: dm,
            credits: cm,
            closing: open + signed(dm, cm),
            closing_by_account: totals
                - signed(get(&later, Side::Debit), get(&later, Side::Credit)),
        });
    }
    Ok(out)
}

/// Subject figures per (subject, currency): opening, debits, credits, closing (normal side of
/// the subject), rolled up from accounts to every ancestor.
type SubjectFigs = BTreeMap<(String, String), [i128; 4]>;

fn roll_up(figs: &[Fig], subjects: &HashMap<String, Subject>) -> SubjectFigs {
    let mut out: SubjectFigs = BTreeMap::new();
    for f in figs {
        let mut code = Some(f.subject.clone());
        while let Some(c) = code {
            let Some(s) = subjects.get(&c) else { break };
            // A figure in the account's normal side flips when the subject's side differs.
            let flip = if s.normal_side == f.normal { 1 } else { -1 };
            let e = out.entry((c.clone(), f.currency.clone())).or_insert([0; 4]);
            e[0] += flip * f.opening;
            e[1] += f.debits;
            e[2] += f.credits;
            e[3] += flip * f.closing;
            code = s.parent.clone();
        }
    }
    out
}

fn check(name: &str, differences: Vec<String>) -> Check {
    Check {
        name: name.to_owned(),
        ok: differences.is_empty(),
        differences: differences.into_iter().take(50).collect(),
    }
}

fn run_checks(
    figs: &[Fig],
    subjects: &HashMap<String, Subject>,
    rolled: &SubjectFigs,
) -> Vec<Check> {
    vec![
        check("debits_equal_credits", debits_equal_credits(figs)),
        check(
            "opening_plus_movement_equals_closing",
            opening_plus_movement(figs),
        ),
        check(
            "parent_equals_children",
            parent_equals_children(figs, subjects, rolled),
        ),
        check(
            "customer_balances_equal_liability_subject",
            customer_funds(figs, rolled),
        ),
        check("trial_balance", trial_balance_differences(figs)),
    ]
}

/// 1. Debit movement = credit movement, per currency.
fn debits_equal_credits(figs: &[Fig]) -> Vec<String> {
    let mut by_cur: BTreeMap<&str, (i128, i128)> = BTreeMap::new();
    for f in figs {
        let t = by_cur.entry(&f.currency).or_default();
        t.0 += f.debits;
        t.1 += f.credits;
    }
    by_cur
        .iter()
        .filter(|(_, (d, c))| d != c)
        .map(|(cur, (d, c))| format!("{cur}: debits {d} credits {c}"))
        .collect()
}

/// 2. Opening + movement (entries) = closing by the account's own totals.
fn opening_plus_movement(figs: &[Fig]) -> Vec<String> {
    figs.iter()
        .filter(|f| f.closing != f.closing_by_account)
        .map(|f| {
            format!(
                "account {}: opening {} + movement = {} but its balance says {}",
                f.id, f.opening, f.closing, f.closing_by_account
            )
        })
        .collect()
}

/// 3. Parent = sum of children.
fn parent_equals_children(
    figs: &[Fig],
    subjects: &HashMap<String, Subject>,
    rolled: &SubjectFigs,
) -> Vec<String> {
    let children = children_sums(subjects, rolled);
    let mut pc = Vec::new();
    for ((code, cur), v) in rolled {
        let is_parent = subjects
            .values()
            .any(|s| s.parent.as_deref() == Some(code.as_str()));
        if !is_parent {
            continue;
        }
        let sum = children
            .get(&(code.clone(), cur.clone()))
            .copied()
            .unwrap_or([0; 4]);
        if sum != *v {
            pc.push(format!(
                "subject {code} {cur}: {v:?} but children sum to {sum:?}"
            ));
        }
    }
    // Accounts on a non-detail subject would be invisible to the children sums.
    for f in figs {
        if subjects.get(&f.subject).map(|s| s.level) != Some(3) {
            pc.push(format!(
                "account {} is on non-detail subject {}",
                f.id, f.subject
            ));
        }
    }
    pc
}

/// Per (parent subject, currency), the sum of its children's figures in the parent's side.
fn children_sums(subjects: &HashMap<String, Subject>, rolled: &SubjectFigs) -> SubjectFigs {
    let mut children: SubjectFigs = BTreeMap::new();
    for ((code, cur), v) in rolled {
        let Some(s) = subjects.get(code) else {
            continue;
        };
        let Some(parent) = &s.parent else { continue };
        let Some(p) = subjects.get(parent) else {
            continue;
        };
        let flip = if p.normal_side == s.normal_side {
            1
        } else {
            -1
        };
        let e = children
            .entry((parent.clone(), cur.clone()))
            .or_insert([0; 4]);
        e[0] += flip * v[0];
        e[1] += v[1];
        e[2] += v[2];
        e[3] += flip * v[3];
    }
    children
}

/// 4. Customer balances = the customer-funds liability subject.
fn customer_funds(figs: &[Fig], rolled: &SubjectFigs) -> Vec<String> {
    let mut cust: BTreeMap<&str, i128> = BTreeMap::new();
    for f in figs.iter().filter(|f| f.kind == AccountKind::Customer) {
        *cust.entry(&f.currency).or_default() += f.closing;
    }
    let mut cf = Vec::new();
    let currencies: std::collections::BTreeSet<&str> =
        figs.iter().map(|f| f.currency.as_str()).collect();
    for cur in currencies {
        let subject = rolled
            .get(&(CUSTOMER_FUNDS_SUBJECT.to_owned(), cur.to_owned()))
            .map(|v| v[3])
            .unwrap_or(0);
        let c = cust.get(cur).copied().unwrap_or(0);
        if c != subject {
            cf.push(format!(
                "{cur}: customer accounts {c}, subject {CUSTOMER_FUNDS_SUBJECT} {subject}"
            ));
        }
    }
    cf
}

/// 5. Trial balance on the accounts' own balances: debit side = credit side, per currency.
fn trial_balance_differences(figs: &[Fig]) -> Vec<String> {
    let mut tb: BTreeMap<&str, (i128, i128)> = BTreeMap::new();
    for f in figs {
        let t = tb.entry(&f.currency).or_default();
        match f.normal {
            Side::Debit => t.0 += f.closing_by_account,
            Side::Credit => t.1 += f.closing_by_account,
        }
    }
    tb.iter()
        .filter(|(_, (d, c))| d != c)
        .map(|(cur, (d, c))| format!("{cur}: debit balances {d} credit balances {c}"))
        .collect()
}

async fn subject_map(tx: &mut Tx) -> Result<HashMap<String, Subject>, LedgerError> {
    let rows = sqlx::query(
        "SELECT code, parent_code, level, element, normal_side, name, name_en FROM ledger_subjects",
    )
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| crate::accounts::subject_from_row(r).map(|s| (s.code.clone(), s)))
        .collect()
}

fn to_i64(v: i128) -> Result<i64, LedgerError> {
    i64::try_from(v).map_err(|_| LedgerError::Money(paycore_kernel::MoneyError::Overflow))
}

fn today(ledger: &Ledger) -> i64 {
    let d = ledger.clock().now().date();
    i64::from(d.year()) * 10_000 + i64::from(u8::from(d.month())) * 100 + i64::from(d.day())
}

/// Closes every accounting day before today's date on the ledger clock (resuming a day that
/// was switched or failed first). Running it again closes nothing more.
pub async fn run(ledger: &Ledger) -> Result<DayEndReport, LedgerError> {
    let mut report = DayEndReport {
        closed: Vec::new(),
        failed: None,
        current_day: 0,
        flows_summarized: 0,
        checks: Vec::new(),
    };
    loop {
        let day = match open_day_end(ledger).await? {
            Some(d) => d,
            None => {
                let current = ledger.current_day().await?;
                if current >= today(ledger) {
                    report.current_day = current;
                    return Ok(report);
                }
                switch(ledger, current).await?;
                current
            }
        };
        report.flows_summarized += ledger.summarize_all().await?;
        let checks = close(ledger, day).await?;
        let ok = checks.iter().all(|c| c.ok);
        report.checks = checks;
        if !ok {
            report.failed = Some(day);
            report.current_day = ledger.current_day().await?;
            tracing::error!(target: "error", day, "day-end checks failed");
            return Ok(report);
        }
        report.closed.push(day);
        tracing::info!(target: "digest.biz", biz = "ledger.day_end", day, "day closed");
    }
}

/// Closes the current accounting day now, whatever the clock says (operator's choice).
pub async fn run_now(ledger: &Ledger) -> Result<DayEndReport, LedgerError> {
    if open_day_end(ledger).await?.is_none() {
        let current = ledger.current_day().await?;
        switch(ledger, current).await?;
    }
    let mut r = run(ledger).await?;
    if r.failed.is_none() && r.closed.is_empty() {
        r.current_day = ledger.current_day().await?;
    }
    Ok(r)
}

async fn open_day_end(ledger: &Ledger) -> Result<Option<i64>, LedgerError> {
    Ok(
        sqlx::query("SELECT MIN(day) AS d FROM ledger_day_ends WHERE status <> $1")
            .bind(DayEndStatus::Closed.as_str())
            .fetch_one(ledger.db().writer())
            .await?
            .try_get("d")?,
    )
}

/// Moves the accounting day from `day` to the next (compare-and-set) and records the day-end.
async fn switch(ledger: &Ledger, day: i64) -> Result<(), LedgerError> {
    let next = next_day(day)?;
    let now = ledger.clock().unix_millis();
    let mut tx = ledger.db().begin().await?;
    let done = sqlx::query("UPDATE ledger_state SET current_day = $1, updated_at = $2 WHERE id = 1 AND current_day = $3")
        .bind(next)
        .bind(now)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 1 {
        let added = sqlx::query(
            "INSERT INTO ledger_day_ends (day, status, updated_at) VALUES ($1, $3, $2)
             ON CONFLICT (day) DO NOTHING",
        )
        .bind(day)
        .bind(now)
        .bind(DayEndStatus::Switched.as_str())
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 1 {
            paycore_store::state::created(&mut tx, day, DayEndStatus::Switched, "day-end", now)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The day-end's state, read in `tx`.
async fn day_end_status(tx: &mut Tx, day: i64) -> Result<Option<DayEndStatus>, LedgerError> {
    sqlx::query("SELECT status FROM ledger_day_ends WHERE day = $1")
        .bind(day)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| crate::stored("day-end status", &r.try_get::<String, _>("status")?))
        .transpose()
}

async fn close(ledger: &Ledger, day: i64) -> Result<Vec<Check>, LedgerError> {
    let now = ledger.clock().unix_millis();
    let mut tx = ledger.db().begin().await?;
    let from = match day_end_status(&mut tx, day).await? {
        Some(DayEndStatus::Closed) | None => return Ok(Vec::new()),
        Some(s) => s,
    };
    let subjects = subject_map(&mut tx).await?;
    let figs = figures(&mut tx, day).await?;
    let rolled = roll_up(&figs, &subjects);
    let checks = run_checks(&figs, &subjects, &rolled);
    let ok = checks.iter().all(|c| c.ok);
    let report = serde_json::to_string(&checks).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    if !ok {
        Transition::new(from, DayEndEvent::ChecksFailed, now)
            .by("day-end")
            .set("report", report)
            .apply(&mut tx, day)
            .await?;
        tx.commit().await?;
        return Ok(checks);
    }
    for f in figs
        .iter()
        .filter(|f| f.closing != 0 || f.debits != 0 || f.credits != 0)
    {
        sqlx::query(
            "INSERT INTO ledger_account_days (day, account_id, opening, debits, credits, closing)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(day)
        .bind(f.id)
        .bind(to_i64(f.opening)?)
        .bind(to_i64(f.debits)?)
        .bind(to_i64(f.credits)?)
        .bind(to_i64(f.closing)?)
        .execute(&mut *tx)
        .await?;
    }
    let date = day_date(day)?;
    let month = day / 100;
    let quarter = i64::from(date.year()) * 10 + (i64::from(u8::from(date.month())) - 1) / 3 + 1;
    let year = i64::from(date.year());
    for ((code, cur), v) in &rolled {
        for (period, key) in [("D", day), ("M", month), ("Q", quarter), ("Y", year)] {
            sqlx::query(
                "INSERT INTO ledger_subject_summaries
                    (period, period_key, subject_code, currency, opening, debits, credits, closing)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (period, period_key, subject_code, currency) DO UPDATE SET
                    debits = ledger_subject_summaries.debits + $6,
                    credits = ledger_subject_summaries.credits + $7,
                    closing = $8",
            )
            .bind(period)
            .bind(key)
            .bind(code)
            .bind(cur)
            .bind(to_i64(v[0])?)
            .bind(to_i64(v[1])?)
            .bind(to_i64(v[2])?)
            .bind(to_i64(v[3])?)
            .execute(&mut *tx)
            .await?;
        }
    }
    let digest = batch_digest(&mut tx, day).await?;
    let closed = Transition::new(from, DayEndEvent::Close, now)
        .by("day-end")
        .set("batch_digest", digest)
        .set("report", report)
        .apply(&mut tx, day)
        .await;
    match closed {
        Ok(_) => tx.commit().await?,
        // Another node closed it meanwhile: keep its result.
        Err(TransitionError::Lost { .. }) => tx.rollback().await?,
        Err(e) => return Err(e.into()),
    }
    Ok(checks)
}

/// Seal over the day's batches: their ids, voucher counts and head hashes, in id order.
pub async fn batch_digest(tx: &mut Tx, day: i64) -> Result<String, LedgerError> {
    let rows = sqlx::query(
        "SELECT id, vouchers, head_hash FROM ledger_batches WHERE day = $1 ORDER BY id",
    )
    .bind(day)
    .fetch_all(&mut **tx)
    .await?;
    let mut ctx = digest::Context::new(&digest::SHA256);
    for r in rows {
        ctx.update(&r.try_get::<i64, _>("id")?.to_le_bytes());
        ctx.update(&r.try_get::<i64, _>("vouchers")?.to_le_bytes());
        ctx.update(r.try_get::<String, _>("head_hash")?.as_bytes());
    }
    Ok(engine::hex(ctx.finish().as_ref()))
}

// ----- trial balance -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialRow {
    pub subject: String,
    pub name: String,
    pub level: u8,
    pub normal_side: Side,
    pub opening: Money,
    pub debits: Money,
    pub credits: Money,
    /// Closing balance on the subject's normal side.
    pub closing: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialTotal {
    pub currency: String,
    pub debits: Money,
    pub credits: Money,
    /// Σ closing of debit-normal level-1 subjects and of credit-normal ones.
    pub debit_balances: Money,
    pub credit_balances: Money,
    pub balanced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialBalance {
    pub day: i64,
    /// True for a closed day (from its summaries), false for the open day (live).
    pub closed: bool,
    pub rows: Vec<TrialRow>,
    pub totals: Vec<TrialTotal>,
}

impl TrialBalance {
    pub fn balanced(&self) -> bool {
        self.totals.iter().all(|t| t.balanced)
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Trial balance {} ({})\n{:<8} {:<3} {:<30} {:>18} {:>18} {:>18} {:>18}\n",
            self.day,
            if self.closed { "closed" } else { "open, live" },
            "subject",
            "cur",
            "name",
            "opening",
            "debits",
            "credits",
            "closing"
        );
        for r in &self.rows {
            let indent = "  ".repeat(usize::from(r.level.saturating_sub(1)));
            s.push_str(&format!(
                "{:<8} {:<3} {:<30} {:>18} {:>18} {:>18} {:>18} {}\n",
                r.subject,
                r.closing.currency().code(),
                format!("{indent}{}", r.name),
                r.opening.to_major_string(),
                r.debits.to_major_string(),
                r.credits.to_major_string(),
                r.closing.to_major_string(),
                r.normal_side.as_str()
            ));
        }
        for t in &self.totals {
            s.push_str(&format!(
                "total {}: debits {} credits {}; debit balances {} credit balances {} — {}\n",
                t.currency,
                t.debits.to_major_string(),
                t.credits.to_major_string(),
                t.debit_balances.to_major_string(),
                t.credit_balances.to_major_string(),
                if t.balanced {
                    "balanced"
                } else {
                    "NOT BALANCED"
                }
            ));
        }
        s
    }
}

pub async fn trial_balance(ledger: &Ledger, day: Option<i64>) -> Result<TrialBalance, LedgerError> {
    let mut tx = ledger.db().begin().await?;
    let subjects = subject_map(&mut tx).await?;
    let current = engine::current_day(&mut tx, ledger.db().engine()).await?;
    let day = day.unwrap_or(current);
    let closed = day_end_status(&mut tx, day).await? == Some(DayEndStatus::Closed);
    let rolled: SubjectFigs = if closed {
        let rows = sqlx::query(
            "SELECT subject_code, currency, opening, debits, credits, closing
             FROM ledger_subject_summaries WHERE period = 'D' AND period_key = $1",
        )
        .bind(day)
        .fetch_all(&mut *tx)
        .await?;
        let mut m = BTreeMap::new();
        for r in rows {
            m.insert(
                (r.try_get("subject_code")?, r.try_get("currency")?),
                [
                    i128::from(r.try_get::<i64, _>("opening")?),
                    i128::from(r.try_get::<i64, _>("debits")?),
                    i128::from(r.try_get::<i64, _>("credits")?),
                    i128::from(r.try_get::<i64, _>("closing")?),
                ],
            );
        }
        m
    } else if day == current {
        let figs = figures(&mut tx, day).await?;
        roll_up(&figs, &subjects)
    } else {
        return Err(LedgerError::NoSuchDay(day));
    };
    tx.commit().await?;
    let mut rows = Vec::new();
    let mut totals: BTreeMap<String, [i128; 4]> = BTreeMap::new();
    for ((code, cur), v) in &rolled {
        let Some(s) = subjects.get(code) else {
            continue;
        };
        let c = currency(cur)?;
        let m = |x: i128| to_i64(x).map(|x| Money::from_minor(x, c));
        rows.push(TrialRow {
            subject: code.clone(),
            name: s.name.clone(),
            level: s.level,
            normal_side: s.normal_side,
            opening: m(v[0])?,
            debits: m(v[1])?,
            credits: m(v[2])?,
            closing: m(v[3])?,
        });
        if s.level == 1 {
            let t = totals.entry(cur.clone()).or_insert([0; 4]);
            t[0] += v[1];
            t[1] += v[2];
            match s.normal_side {
                Side::Debit => t[2] += v[3],
                Side::Credit => t[3] += v[3],
            }
        }
    }
    rows.sort_by(|a, b| {
        (a.closing.currency().code(), &a.subject).cmp(&(b.closing.currency().code(), &b.subject))
    });
    let totals = totals
        .into_iter()
        .map(|(cur, t)| {
            let c = currency(&cur)?;
            let m = |x: i128| to_i64(x).map(|x| Money::from_minor(x, c));
            Ok(TrialTotal {
                currency: cur,
                debits: m(t[0])?,
                credits: m(t[1])?,
                debit_balances: m(t[2])?,
                credit_balances: m(t[3])?,
                balanced: t[0] == t[1] && t[2] == t[3],
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    Ok(TrialBalance {
        day,
        closed,
        rows,
        totals,
    })
}

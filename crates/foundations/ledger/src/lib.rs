//! Foundations layer: the ledger and accounting center (账务中心 + 会计中心).
//!
//! Only the ledger writes balances; every business module posts through it.
//!
//! - [`model`]: subjects (会计科目), accounts, legs, vouchers, business events.
//! - [`rules`]: posting rules (记账方案) — transaction codes as data.
//! - [`engine`]: the batch posting engine (double entry, DD+ DC- CC+ CD-, idempotency).
//! - [`holds`]: two-phase amounts for preauth and withdrawals.
//! - [`hot`]: buffered posting (缓冲记账) for hot accounts and its summarizer.
//! - [`dayend`]: accounting day (会计日), day-end (日切), trial balance.
//! - [`export`]: the books as beancount; [`verify`]: the voucher hash chains.
//! - [`committer`]: group commit of single-voucher callers.
//! - [`bench`]: `paycore bench ledger`.

pub mod accounts;
pub mod bench;
pub mod committer;
pub mod dayend;
pub mod engine;
pub mod error;
pub mod export;
pub mod holds;
pub mod hot;
pub mod model;
pub mod rules;
mod sql;
pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use paycore_kernel::{Clock, Currency, Money};
use paycore_store::{Conn, Db, Engine, Row};
use tokio::sync::OnceCell;

pub use dayend::DayEndStatus;
pub use dayend::{DayEndReport, TrialBalance};
pub use error::{LedgerError, PostError};
pub use holds::{Hold, HoldEvent, HoldRequest, HoldStatus};
pub use hot::{BufferLag, SummaryRun};
pub use model::*;
pub use verify::VerifyReport;

/// The ledger's tables.
pub const SCHEMA: paycore_store::migrate::Schema = paycore_store::migrate::Schema {
    component: "ledger",
    migrations: &[
        paycore_store::migrate::Migration {
            version: 1,
            name: "ledger",
            sql: include_str!("../migrations/0001_ledger.sql"),
        },
        paycore_store::migrate::Migration {
            version: 2,
            name: "status histories",
            sql: include_str!("../migrations/0002_histories.sql"),
        },
    ],
};

/// A stored name of one of the ledger's enums; an unknown name is corrupt data.
pub(crate) fn stored<T: paycore_kernel::state::Named>(
    what: &str,
    s: &str,
) -> Result<T, LedgerError> {
    T::parse(s).ok_or_else(|| LedgerError::Corrupt(format!("{what} {s:?}")))
}

/// Settings of the ledger's background work.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// Most vouchers one group commit takes from the queue.
    pub group_max: usize,
    /// Concurrent group-commit writers (batches in flight; on SQLite they share commits).
    pub writers: usize,
    /// Buffered flows applied per summarizer transaction.
    pub summary_batch: i64,
    /// Summarizer interval in milliseconds.
    pub summary_interval_ms: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            group_max: 8_192,
            writers: 4,
            summary_batch: 10_000,
            summary_interval_ms: 1_000,
        }
    }
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    config: LedgerConfig,
    ready: OnceCell<()>,
    rules: RwLock<HashMap<String, rules::Rule>>,
    committer: OnceCell<committer::Committer>,
    /// Accounts between batches (SQLite, whose writes all go through one connection).
    cache: Option<Arc<engine::AccountCache>>,
}

/// The ledger. Cheap to clone; all clones share the group committer and the loaded rules.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

fn day_number(d: time::Date) -> i64 {
    i64::from(d.year()) * 10_000 + i64::from(u8::from(d.month())) * 100 + i64::from(d.day())
}

/// yyyyMMdd → date.
pub fn day_date(day: i64) -> Result<time::Date, LedgerError> {
    let month = u8::try_from(day / 100 % 100)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    let dom = u8::try_from(day % 100).ok();
    match (i32::try_from(day / 10_000), month, dom) {
        (Ok(y), Some(m), Some(d)) => {
            time::Date::from_calendar_date(y, m, d).map_err(|e| LedgerError::Corrupt(e.to_string()))
        }
        _ => Err(LedgerError::Corrupt(format!("day {day}"))),
    }
}

pub fn next_day(day: i64) -> Result<i64, LedgerError> {
    let d = day_date(day)?;
    d.next_day()
        .map(day_number)
        .ok_or_else(|| LedgerError::Corrupt(format!("no day after {day}")))
}

impl Ledger {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Ledger {
        Self::with_config(db, clock, LedgerConfig::default())
    }

    pub fn with_config(db: Db, clock: Arc<dyn Clock>, config: LedgerConfig) -> Ledger {
        Ledger {
            inner: Arc::new(Inner {
                clock,
                config,
                ready: OnceCell::new(),
                rules: RwLock::new(HashMap::new()),
                committer: OnceCell::new(),
                cache: (db.engine() == Engine::Sqlite)
                    .then(|| Arc::new(engine::AccountCache::default())),
                db,
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.inner.config
    }

    pub(crate) fn cache(&self) -> Option<Arc<engine::AccountCache>> {
        self.inner.cache.clone()
    }

    /// Forgets cached accounts that a change outside the posting engine touched.
    pub(crate) fn invalidate(&self, ids: &[i64]) {
        if let Some(c) = &self.inner.cache {
            let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
            for id in ids {
                c.remove(id);
            }
        }
    }

    fn now(&self) -> i64 {
        self.inner.clock.unix_millis()
    }

    /// Creates the accounting-day row (today by the ledger clock) and loads the posting rules
    /// file into the database when it is newer. Every entry point calls it; it runs once.
    pub async fn ready(&self) -> Result<(), LedgerError> {
        self.inner
            .ready
            .get_or_try_init(|| async {
                let today = day_number(self.inner.clock.now().date());
                let mut tx = self.inner.db.begin().await?;
                sqlx::query(
                    "INSERT INTO ledger_state (id, current_day, updated_at) VALUES (1, $1, $2)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(today)
                .bind(self.now())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.load_rules(rules::BUILTIN_RULES).await?;
                Ok::<(), LedgerError>(())
            })
            .await?;
        Ok(())
    }

    /// Loads a rules file into `ledger_rules` when its version is newer than the stored one
    /// (every rule validated first; subjects must be detail subjects), then into memory.
    pub async fn load_rules(&self, text: &str) -> Result<usize, LedgerError> {
        let file = rules::parse_file(text)?;
        let mut tx = self.inner.db.begin().await?;
        let stored: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM ledger_rules")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        if stored.is_none_or(|v| v < file.version) {
            for rule in &file.rules {
                for leg in &rule.legs {
                    let s = accounts::subject(&mut tx, &leg.subject).await?;
                    if s.level != 3 {
                        return Err(LedgerError::Rules(format!(
                            "{}: subject {} is not a detail subject",
                            rule.code, leg.subject
                        )));
                    }
                }
                let legs = serde_json::to_string(&rule.legs)
                    .map_err(|e| LedgerError::Rules(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO ledger_rules (tx_code, version, description, legs) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tx_code) DO UPDATE SET version = $2, description = $3, legs = $4",
                )
                .bind(&rule.code)
                .bind(file.version)
                .bind(&rule.description)
                .bind(legs)
                .execute(&mut *tx)
                .await?;
            }
        }
        let rows = sqlx::query("SELECT tx_code, description, legs FROM ledger_rules")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut map = HashMap::with_capacity(rows.len());
        for row in rows {
            let legs: String = row.try_get("legs")?;
            let rule = rules::Rule {
                code: row.try_get("tx_code")?,
                description: row.try_get("description")?,
                legs: serde_json::from_str(&legs).map_err(|e| LedgerError::Rules(e.to_string()))?,
            };
            rule.validate().map_err(LedgerError::Rules)?;
            map.insert(rule.code.clone(), rule);
        }
        let n = map.len();
        *self.inner.rules.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(n)
    }

    /// The loaded posting rules, by code.
    pub fn rules(&self) -> Vec<rules::Rule> {
        let map = self.inner.rules.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<rules::Rule> = map.values().cloned().collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }

    /// Expands a business event by its transaction code into a voucher (accounts by number).
    pub fn expand(&self, ev: &BusinessEvent) -> Result<Voucher, PostError> {
        let map = self.inner.rules.read().unwrap_or_else(|e| e.into_inner());
        let rule = map
            .get(&ev.tx_code)
            .ok_or_else(|| PostError::UnknownTxCode {
                tx_code: ev.tx_code.chars().take(64).collect(),
            })?;
        let legs = rule
            .expand(ev)?
            .into_iter()
            .map(|(subject, owner, side, amount)| Leg {
                account: AccountRef::No(accounts::account_no(
                    &subject,
                    &owner,
                    amount.currency().code(),
                    0,
                )),
                side,
                amount,
            })
            .collect();
        Ok(Voucher::new(&ev.voucher_no, &ev.tx_code, &ev.biz_ref, legs))
    }

    fn event_input(&self, ev: &BusinessEvent) -> engine::Input {
        match self.expand(ev) {
            Ok(v) => engine::Input::Voucher(v),
            Err(error) => engine::Input::Refused {
                voucher_no: ev.voucher_no.clone(),
                tx_code: ev.tx_code.clone(),
                biz_ref: ev.biz_ref.clone(),
                error,
            },
        }
    }

    // ----- accounts -------------------------------------------------------------------------

    pub async fn current_day(&self) -> Result<i64, LedgerError> {
        self.ready().await?;
        let row = sqlx::query("SELECT current_day FROM ledger_state WHERE id = 1")
            .fetch_one(self.inner.db.writer())
            .await?;
        Ok(row.try_get("current_day")?)
    }

    pub async fn open_account(&self, new: &NewAccount) -> Result<Account, LedgerError> {
        let mut opened = self.open_accounts(std::slice::from_ref(new)).await?;
        opened
            .pop()
            .ok_or_else(|| LedgerError::Corrupt("no account opened".into()))
    }

    /// Opens many accounts in one transaction (set-up, benchmarks). Opening is idempotent:
    /// when another caller opens the same account at the same moment (a unique-key refusal
    /// on PostgreSQL), the transaction runs once more and finds it.
    pub async fn open_accounts(&self, new: &[NewAccount]) -> Result<Vec<Account>, LedgerError> {
        self.ready().await?;
        match self.open_accounts_once(new).await {
            Err(LedgerError::Store(e)) if e.is_unique_violation() || e.is_conflict() => {
                self.open_accounts_once(new).await
            }
            other => other,
        }
    }

    async fn open_accounts_once(&self, new: &[NewAccount]) -> Result<Vec<Account>, LedgerError> {
        let mut tx = self.inner.db.begin().await?;
        let day = engine::current_day(&mut tx, self.inner.db.engine()).await?;
        let mut out = Vec::with_capacity(new.len());
        for n in new {
            out.push(accounts::open(&mut tx, n, day, self.now()).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn account(&self, account_no: &str) -> Result<Account, LedgerError> {
        self.ready().await?;
        let mut tx = self.inner.db.begin().await?;
        let acc = accounts::by_no(&mut tx, account_no).await?;
        tx.commit().await?;
        acc.ok_or_else(|| LedgerError::AccountNotFound(account_no.to_owned()))
    }

    /// Freeze (no debits), unfreeze, close (only at zero balance without holds).
    pub async fn set_account_status(
        &self,
        account_no: &str,
        event: AccountEvent,
    ) -> Result<Account, LedgerError> {
        self.ready().await?;
        let mut tx = self.inner.db.begin().await?;
        let a = accounts::transition(
            &mut tx,
            self.inner.db.engine(),
            account_no,
            event,
            self.now(),
        )
        .await?;
        tx.commit().await?;
        self.invalidate(&[a.id]);
        Ok(a)
    }

    /// Marks an account hot: its increases are written as flows and summarized later.
    pub async fn set_buffered(&self, account_no: &str, on: bool) -> Result<Account, LedgerError> {
        self.ready().await?;
        let mut tx = self.inner.db.begin().await?;
        let a = accounts::set_buffered(&mut tx, account_no, on).await?;
        tx.commit().await?;
        self.invalidate(&[a.id]);
        Ok(a)
    }

    /// Splits an internal account into `n` sub-accounts.
    pub async fn split_account(
        &self,
        account_no: &str,
        n: i64,
    ) -> Result<Vec<Account>, LedgerError> {
        self.ready().await?;
        let mut tx = self.inner.db.begin().await?;
        let day = engine::current_day(&mut tx, self.inner.db.engine()).await?;
        let subs = accounts::split(&mut tx, account_no, n, day, self.now()).await?;
        tx.commit().await?;
        if let Some(parent) = subs.first().and_then(|s| s.parent_id) {
            self.invalidate(&[parent]);
        }
        Ok(subs)
    }

    /// Balances of an account; a split account reports the sum of its sub-accounts.
    pub async fn balance(&self, account_no: &str) -> Result<Balance, LedgerError> {
        self.ready().await?;
        let acc = self.account(account_no).await?;
        let mut parts = vec![acc.clone()];
        if acc.split_count > 0 {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM ledger_accounts WHERE parent_id = $1",
                accounts::COLUMNS
            )))
            .bind(acc.id)
            .fetch_all(self.inner.db.reader())
            .await?;
            for r in &rows {
                parts.push(accounts::from_row(r)?);
            }
        }
        let mut posted: i128 = 0;
        let mut pending: i128 = 0;
        let mut unapplied: i128 = 0;
        for p in &parts {
            posted += p.balance_minor();
            pending += p.pending_decrease();
            let row = sqlx::query(
                "SELECT side, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS s FROM ledger_flows
                 WHERE account_id = $1 GROUP BY side",
            )
            .bind(p.id)
            .fetch_all(self.inner.db.writer())
            .await?;
            for r in row {
                let side = Side::parse(&r.try_get::<String, _>("side")?)?;
                let s: i64 = r.try_get("s")?;
                unapplied += i128::from(s) * i128::from(side.sign_on(p.normal_side));
            }
        }
        let m = |v: i128| -> Result<Money, LedgerError> {
            i64::try_from(v)
                .map(|v| Money::from_minor(v, acc.currency))
                .map_err(|_| LedgerError::Money(paycore_kernel::MoneyError::Overflow))
        };
        Ok(Balance {
            account_no: acc.account_no.clone(),
            subject: acc.subject.clone(),
            status: acc.status,
            posted: m(posted)?,
            pending: m(pending)?,
            available: m(posted - pending)?,
            unapplied: m(unapplied)?,
            version: acc.version,
        })
    }

    /// Entries of an account, oldest first, after entry id `after` (paging), optionally of
    /// one accounting day.
    pub async fn statement(
        &self,
        account_no: &str,
        day: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StatementLine>, LedgerError> {
        self.ready().await?;
        let acc = self.account(account_no).await?;
        let rows = sqlx::query(
            "SELECT e.id, e.side, e.amount, e.day, v.voucher_no, v.tx_code, v.biz_ref
             FROM ledger_entries e JOIN ledger_vouchers v ON v.id = e.voucher_id
             WHERE (e.account_id = $1 OR e.account_id IN
                    (SELECT id FROM ledger_accounts WHERE parent_id = $1))
               AND e.id > $2 AND ($3 = 0 OR e.day = $3)
             ORDER BY e.id LIMIT $4",
        )
        .bind(acc.id)
        .bind(after)
        .bind(day.unwrap_or(0))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.inner.db.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StatementLine {
                    entry_id: r.try_get("id")?,
                    day: r.try_get("day")?,
                    voucher_no: r.try_get("voucher_no")?,
                    tx_code: r.try_get("tx_code")?,
                    biz_ref: r.try_get("biz_ref")?,
                    side: Side::parse(&r.try_get::<String, _>("side")?)?,
                    amount: Money::from_minor(r.try_get("amount")?, acc.currency),
                })
            })
            .collect()
    }

    // ----- posting --------------------------------------------------------------------------

    /// Posts a batch of vouchers in one transaction: the unit of work. One result per voucher.
    pub async fn post(&self, batch: Vec<Voucher>) -> Result<Vec<PostResult>, LedgerError> {
        let inputs: Vec<engine::Input> = batch.into_iter().map(engine::Input::Voucher).collect();
        self.post_inputs(inputs).await
    }

    /// Posts a batch inside the caller's transaction (business change + vouchers + outbox
    /// commit together).
    pub async fn post_in(
        &self,
        tx: &mut dyn Conn,
        batch: Vec<Voucher>,
    ) -> Result<Vec<PostResult>, LedgerError> {
        self.ready().await?;
        let inputs: Vec<engine::Input> = batch.into_iter().map(engine::Input::Voucher).collect();
        engine::post_batch(tx, self.inner.db.engine(), &inputs, self.now()).await
    }

    /// Business events through their posting rules, in one transaction.
    pub async fn post_events(
        &self,
        events: &[BusinessEvent],
    ) -> Result<Vec<PostResult>, LedgerError> {
        self.ready().await?;
        let inputs: Vec<engine::Input> = events.iter().map(|e| self.event_input(e)).collect();
        self.post_inputs(inputs).await
    }

    /// Business events inside the caller's transaction.
    pub async fn post_events_in(
        &self,
        tx: &mut dyn Conn,
        events: &[BusinessEvent],
    ) -> Result<Vec<PostResult>, LedgerError> {
        self.ready().await?;
        let inputs: Vec<engine::Input> = events.iter().map(|e| self.event_input(e)).collect();
        engine::post_batch(tx, self.inner.db.engine(), &inputs, self.now()).await
    }

    /// Posts `inputs` in batches of at most `MAX_BATCH`, each batch moved (not copied) into its
    /// unit of work.
    pub(crate) async fn post_inputs(
        &self,
        mut inputs: Vec<engine::Input>,
    ) -> Result<Vec<PostResult>, LedgerError> {
        self.ready().await?;
        let mut out = Vec::with_capacity(inputs.len());
        while !inputs.is_empty() {
            let rest = inputs.split_off(inputs.len().min(engine::MAX_BATCH));
            let chunk = std::mem::replace(&mut inputs, rest);
            let r = committer::commit(
                &self.inner.db,
                self.inner.clock.as_ref(),
                chunk.into(),
                self.inner.cache.as_ref(),
            )
            .await?;
            out.extend(r);
        }
        Ok(out)
    }

    /// One voucher, joined with concurrent callers into shared commits (group commit).
    pub async fn post_one(&self, voucher: Voucher) -> Result<Posted, LedgerError> {
        self.submit(engine::Input::Voucher(voucher)).await
    }

    /// One business event through its rule, group-committed.
    pub async fn post_event(&self, ev: &BusinessEvent) -> Result<Posted, LedgerError> {
        self.ready().await?;
        let input = self.event_input(ev);
        self.submit(input).await
    }

    async fn submit(&self, input: engine::Input) -> Result<Posted, LedgerError> {
        self.ready().await?;
        let c = self
            .inner
            .committer
            .get_or_init(|| async { committer::Committer::start(self.clone()) })
            .await;
        Ok(c.submit(input).await??)
    }

    // ----- reports --------------------------------------------------------------------------

    pub async fn subjects(&self) -> Result<Vec<Subject>, LedgerError> {
        let rows = sqlx::query(
            "SELECT code, parent_code, level, element, normal_side, name, name_en
             FROM ledger_subjects ORDER BY code",
        )
        .fetch_all(self.inner.db.reader())
        .await?;
        rows.iter().map(accounts::subject_from_row).collect()
    }

    /// Closes every accounting day before today's date on the ledger clock (日切); resumes a
    /// day that failed its checks. Idempotent: a second run closes nothing more.
    pub async fn day_end(&self) -> Result<DayEndReport, LedgerError> {
        self.ready().await?;
        dayend::run(self).await
    }

    /// Closes the current accounting day now, whatever the clock says (operator's choice).
    pub async fn day_end_now(&self) -> Result<DayEndReport, LedgerError> {
        self.ready().await?;
        dayend::run_now(self).await
    }

    /// Trial balance of the current open day (`None`) or of a closed day.
    pub async fn trial_balance(&self, day: Option<i64>) -> Result<TrialBalance, LedgerError> {
        self.ready().await?;
        dayend::trial_balance(self, day).await
    }

    pub async fn export_beancount<W: std::io::Write + Send>(
        &self,
        out: &mut W,
    ) -> Result<(), LedgerError> {
        self.ready().await?;
        export::beancount(self, out).await
    }

    pub async fn verify(&self) -> Result<VerifyReport, LedgerError> {
        self.ready().await?;
        verify::run(self).await
    }

    pub fn engine(&self) -> Engine {
        self.inner.db.engine()
    }
}

/// One line of an account statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatementLine {
    pub entry_id: i64,
    pub day: i64,
    pub voucher_no: String,
    pub tx_code: String,
    pub biz_ref: String,
    pub side: Side,
    pub amount: Money,
}

/// Currency of a stored code (the ledger only stores codes it accepted).
pub(crate) fn currency(code: &str) -> Result<Currency, LedgerError> {
    Currency::from_code(code).map_err(|_| LedgerError::Corrupt(format!("currency {code:?}")))
}

//! Quota center (限额中心, S19): limits per member, merchant, card and product, for one payment
//! (`SINGLE`) or per `DAY`, `MONTH` or `YEAR` in the platform's time zone. A money movement
//! consumes the limits that apply to it inside its own transaction — one conditional update
//! per window that refuses to pass the limit, so two parallel movements cannot both pass it —
//! and a refund, cancel or failure releases what that movement consumed, once.

use std::sync::Arc;

use paycore_kernel::id::IdError;
use paycore_kernel::state::Named;
use paycore_kernel::{BizType, Clock, Currency, IdGenerator, Money};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::{Conn, Db, Row, StoreError, Value};

/// The quota tables.
pub const SCHEMA: Schema = Schema {
    component: "quota",
    migrations: &[Migration {
        version: 1,
        name: "quota",
        sql: include_str!("../migrations/0001_quota.sql"),
    }],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Member,
    Merchant,
    Card,
    Product,
}
paycore_kernel::named!(Scope { Member => "MEMBER", Merchant => "MERCHANT", Card => "CARD",
    Product => "PRODUCT" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Single,
    Day,
    Month,
    Year,
}
paycore_kernel::named!(Period { Single => "SINGLE", Day => "DAY", Month => "MONTH",
    Year => "YEAR" });

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error("{0}")]
    Invalid(String),
    /// A limit would be passed: nothing is consumed.
    #[error("{0}")]
    LimitExceeded(String),
    #[error("stored quota data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<sqlx::Error> for QuotaError {
    fn from(e: sqlx::Error) -> Self {
        QuotaError::Store(e.into())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub rule_id: String,
    pub scope: Scope,
    pub subject: String,
    pub period: Period,
    pub limit: Money,
    pub updated_at: i64,
}

/// The quota center over one database. Cheap to clone.
#[derive(Clone)]
pub struct Quotas {
    db: Db,
    ids: Arc<IdGenerator>,
    clock: Arc<dyn Clock>,
    /// The platform's time zone, for the day, month and year windows.
    offset: time::UtcOffset,
}

fn rule_from_row(r: &sqlx::any::AnyRow) -> Result<Rule, QuotaError> {
    let corrupt = |w: &str| QuotaError::Corrupt(w.to_string());
    let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)
        .map_err(|_| corrupt("currency"))?;
    Ok(Rule {
        rule_id: r.try_get("rule_id")?,
        scope: Scope::parse(&r.try_get::<String, _>("scope")?).ok_or_else(|| corrupt("scope"))?,
        subject: r.try_get("subject")?,
        period: Period::parse(&r.try_get::<String, _>("period")?)
            .ok_or_else(|| corrupt("period"))?,
        limit: Money::from_minor(r.try_get("amount")?, currency),
        updated_at: r.try_get("updated_at")?,
    })
}

const RULE_COLUMNS: &str = "rule_id, scope, subject, period, amount, currency, updated_at";

impl Quotas {
    /// `offset`: the platform's time zone (China Standard Time, +08:00, by default).
    pub fn new(
        db: Db,
        ids: Arc<IdGenerator>,
        clock: Arc<dyn Clock>,
        offset: time::UtcOffset,
    ) -> Self {
        Self {
            db,
            ids,
            clock,
            offset,
        }
    }

    /// Sets a limit: a new rule, or a new amount for the same scope, subject, period and
    /// currency (what was used in the current window stays counted).
    pub async fn set(
        &self,
        scope: Scope,
        subject: &str,
        period: Period,
        limit: Money,
        actor: &str,
    ) -> Result<Rule, QuotaError> {
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > 64 || subject.chars().any(char::is_control) {
            return Err(QuotaError::Invalid(
                "subject must be 1 to 64 printable characters".into(),
            ));
        }
        if !limit.is_positive() {
            return Err(QuotaError::Invalid("amount must be positive".into()));
        }
        let id = self.ids.next(BizType::Quota, subject).await?;
        let now = self.clock.unix_millis();
        let q = sqlx::query(
            "INSERT INTO quota_rules (rule_id, scope, subject, period, amount, currency, updated_by,
                created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (scope, subject, period, currency) DO UPDATE SET
                amount = excluded.amount, updated_by = excluded.updated_by,
                updated_at = excluded.updated_at",
        )
        .bind(id.as_str())
        .bind(scope.as_str())
        .bind(subject)
        .bind(period.as_str())
        .bind(limit.minor())
        .bind(limit.currency().code())
        .bind(actor)
        .bind(now);
        self.db.execute(q).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM quota_rules
             WHERE scope = $1 AND subject = $2 AND period = $3 AND currency = $4"
        )))
        .bind(scope.as_str())
        .bind(subject)
        .bind(period.as_str())
        .bind(limit.currency().code())
        .fetch_one(self.db.writer())
        .await?;
        rule_from_row(&row)
    }

    pub async fn rules(&self) -> Result<Vec<Rule>, QuotaError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM quota_rules ORDER BY id"
        )))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// The window a moment falls in for `period`: `20270115`, `202701`, `2027`.
    fn window(&self, period: Period, now: i64) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(now / 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(self.offset);
        let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
        match period {
            Period::Single => String::new(),
            Period::Day => format!("{y:04}{m:02}{d:02}"),
            Period::Month => format!("{y:04}{m:02}"),
            Period::Year => format!("{y:04}"),
        }
    }

    /// Consumes `amount` from every limit that applies to `subjects` (scope and id), in the
    /// caller's transaction, recorded under `reference`. Refuses — consuming nothing — when
    /// one would be passed.
    pub async fn consume_in(
        &self,
        conn: &mut dyn Conn,
        reference: &str,
        subjects: &[(Scope, &str)],
        amount: Money,
    ) -> Result<(), QuotaError> {
        let now = self.clock.unix_millis();
        for (scope, subject) in subjects {
            let rules = conn
                .fetch_all(
                    "SELECT rule_id, period, amount FROM quota_rules
                     WHERE scope = $1 AND subject = $2 AND currency = $3 ORDER BY rule_id",
                    &[
                        scope.as_str().into(),
                        Value::from(*subject),
                        amount.currency().code().into(),
                    ],
                )
                .await?;
            for r in rules {
                let rule_id = r.text("rule_id")?;
                let limit = r.int("amount")?;
                let period = Period::parse(&r.text("period")?)
                    .ok_or_else(|| QuotaError::Corrupt("period".into()))?;
                let refuse = || {
                    QuotaError::LimitExceeded(format!(
                        "the {} limit of {} {} for this {} would be passed",
                        period.as_str(),
                        limit,
                        amount.currency(),
                        scope.as_str().to_lowercase()
                    ))
                };
                if amount.minor() > limit {
                    return Err(refuse());
                }
                if period == Period::Single {
                    continue;
                }
                let window = self.window(period, now);
                self.raise(conn, &rule_id, &window, amount.minor(), limit, now)
                    .await?
                    .then_some(())
                    .ok_or_else(refuse)?;
                conn.execute(
                    "INSERT INTO quota_consumptions (ref, rule_id, window_key, amount, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        reference.into(),
                        rule_id.as_str().into(),
                        window.as_str().into(),
                        amount.minor().into(),
                        now.into(),
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Raises a window's use by `amount` unless that passes `limit`: one conditional update.
    async fn raise(
        &self,
        conn: &mut dyn Conn,
        rule_id: &str,
        window: &str,
        amount: i64,
        limit: i64,
        now: i64,
    ) -> Result<bool, QuotaError> {
        conn.execute(
            "INSERT INTO quota_usage (rule_id, window_key, used, updated_at) VALUES ($1, $2, 0, $3)
             ON CONFLICT (rule_id, window_key) DO NOTHING",
            &[rule_id.into(), window.into(), now.into()],
        )
        .await?;
        let moved = conn
            .execute(
                "UPDATE quota_usage SET used = used + $1, updated_at = $2
                 WHERE rule_id = $3 AND window_key = $4 AND used + $1 <= $5",
                &[
                    amount.into(),
                    now.into(),
                    rule_id.into(),
                    window.into(),
                    limit.into(),
                ],
            )
            .await?;
        Ok(moved == 1)
    }

    /// Releases what `reference` consumed (a refund, a cancel, a failure), once.
    pub async fn release_in(&self, conn: &mut dyn Conn, reference: &str) -> Result<(), QuotaError> {
        let now = self.clock.unix_millis();
        let taken = conn
            .fetch_all(
                "SELECT id, rule_id, window_key, amount FROM quota_consumptions
                 WHERE ref = $1 AND released_at IS NULL",
                &[reference.into()],
            )
            .await?;
        for t in taken {
            let claimed = conn
                .execute(
                    "UPDATE quota_consumptions SET released_at = $1 WHERE id = $2 AND released_at IS NULL",
                    &[now.into(), t.int("id")?.into()],
                )
                .await?;
            if claimed == 1 {
                conn.execute(
                    "UPDATE quota_usage SET used = CASE WHEN used > $1 THEN used - $1 ELSE 0 END,
                        updated_at = $2 WHERE rule_id = $3 AND window_key = $4",
                    &[
                        t.int("amount")?.into(),
                        now.into(),
                        t.text("rule_id")?.into(),
                        t.text("window_key")?.into(),
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }
}

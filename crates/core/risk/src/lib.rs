//! Risk (风控, S15): the risk step of a payment. Rules are data that operators edit: an amount
//! threshold, a velocity per member, card, device or client address, a blacklist of those, a
//! new device for the member, a large amount flagged for anti-money-laundering review. Each
//! rule that fires names an action; the decision is the most severe — `ALLOW`, `CHALLENGE`
//! (the payer confirms with an SMS code first) or `BLOCK` — and every decision is stored with
//! the rules that fired, which is also the history the velocity and new-device rules count.

mod model;

pub use model::{Action, Decision, Facts, Fired, NewRule, Rule, RuleKind, Subject};

use std::sync::Arc;

use paycore_kernel::id::IdError;
use paycore_kernel::state::Named;
use paycore_kernel::{BizType, Clock, IdGenerator, Money};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::{Db, StoreError, Value};

/// The risk tables.
pub const SCHEMA: Schema = Schema {
    component: "risk",
    migrations: &[Migration {
        version: 1,
        name: "risk",
        sql: include_str!("../migrations/0001_risk.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("stored risk data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<sqlx::Error> for RiskError {
    fn from(e: sqlx::Error) -> Self {
        RiskError::Store(e.into())
    }
}

/// How long the enabled rules are served from memory: a change made on this node is seen at
/// once, on the other nodes of a shared database within this.
pub const RULES_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Risk over one database. Cheap to clone.
#[derive(Clone)]
pub struct Risk {
    db: Db,
    ids: Arc<IdGenerator>,
    clock: Arc<dyn Clock>,
    /// The rules, so that judging a payment costs no query for them.
    cache: Arc<paycore_kernel::cache::TtlCache<(), Vec<Rule>>>,
}

impl Risk {
    pub fn new(db: Db, ids: Arc<IdGenerator>, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            ids,
            clock,
            cache: Arc::new(paycore_kernel::cache::TtlCache::new(RULES_TTL)),
        }
    }

    /// The rules as judging sees them (from the cache).
    async fn current_rules(&self) -> Result<Vec<Rule>, RiskError> {
        if let Some(r) = self.cache.get(&()) {
            return Ok(r);
        }
        let ticket = self.cache.ticket();
        let rules = self.rules().await?;
        self.cache.put((), rules.clone(), ticket);
        Ok(rules)
    }

    fn forget_rules(&self) {
        self.cache.retain(|_| false);
    }

    /// Adds a rule (checked: each kind has the fields it needs).
    pub async fn add_rule(&self, new: NewRule, actor: &str) -> Result<Rule, RiskError> {
        new.check()?;
        let rule_id = self.ids.next(BizType::RiskRule, actor).await?.to_string();
        let now = self.clock.unix_millis();
        let values =
            serde_json::to_string(&new.values).map_err(|e| RiskError::Corrupt(e.to_string()))?;
        let q = sqlx::query(
            "INSERT INTO risk_rules (rule_id, name, kind, subject, threshold, currency,
                window_seconds, max_count, list_values, action, enabled, updated_by, created_at,
                updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(&rule_id)
        .bind(&new.name)
        .bind(new.kind.as_str())
        .bind(new.subject.map(|s| s.as_str()))
        .bind(new.threshold.map(|t| t.minor()))
        .bind(new.threshold.map(|t| t.currency().code()))
        .bind(new.window_seconds)
        .bind(new.max_count)
        .bind(values)
        .bind(new.action.as_str())
        .bind(i64::from(new.enabled))
        .bind(actor)
        .bind(now);
        self.db.execute(q).await?;
        self.forget_rules();
        self.rule(&rule_id).await
    }

    /// Switches a rule on or off.
    pub async fn set_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        actor: &str,
    ) -> Result<Rule, RiskError> {
        let q = sqlx::query(
            "UPDATE risk_rules SET enabled = $1, updated_by = $2, updated_at = $3 WHERE rule_id = $4",
        )
        .bind(i64::from(enabled))
        .bind(actor)
        .bind(self.clock.unix_millis())
        .bind(rule_id);
        self.db.execute(q).await?;
        self.forget_rules();
        self.rule(rule_id).await
    }

    pub async fn rule(&self, rule_id: &str) -> Result<Rule, RiskError> {
        let sql = format!(
            "SELECT {} FROM risk_rules WHERE rule_id = $1",
            model::RULE_COLUMNS
        );
        let row = self.db.read_optional(&sql, &[rule_id.into()]).await?;
        row.as_ref()
            .map(Rule::from_row)
            .transpose()?
            .ok_or(RiskError::NotFound)
    }

    /// Every rule, oldest first.
    pub async fn rules(&self) -> Result<Vec<Rule>, RiskError> {
        let sql = format!("SELECT {} FROM risk_rules ORDER BY id", model::RULE_COLUMNS);
        self.db
            .read(&sql, &[])
            .await?
            .iter()
            .map(Rule::from_row)
            .collect()
    }

    /// Decides on a payment: the enabled rules are judged against `facts` and the history, and
    /// the decision is stored with the rules that fired.
    pub async fn assess(&self, facts: &Facts) -> Result<Decision, RiskError> {
        let decision = self.judge(facts).await?;
        self.record(facts, &decision).await?;
        Ok(decision)
    }

    /// The decision on a payment, not stored yet: the caller stores it with what it decides
    /// ([`Risk::record_in`] in its own transaction, or [`Risk::record`]).
    pub async fn judge(&self, facts: &Facts) -> Result<Decision, RiskError> {
        let now = self.clock.unix_millis();
        let mut fired = Vec::new();
        let mut aml_review = false;
        for rule in self
            .current_rules()
            .await?
            .into_iter()
            .filter(|r| r.enabled)
        {
            if self.fires(&rule, facts, now).await? {
                aml_review |= rule.kind == RuleKind::LargeAmount;
                fired.push(Fired {
                    rule_id: rule.rule_id.clone(),
                    name: rule.name.clone(),
                    action: rule.action,
                });
            }
        }
        let action = fired
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Allow);
        Ok(Decision {
            action,
            fired,
            aml_review,
        })
    }

    async fn fires(&self, rule: &Rule, f: &Facts, now: i64) -> Result<bool, RiskError> {
        let same_currency = |t: &Money| t.currency() == f.amount.currency();
        Ok(match rule.kind {
            RuleKind::Amount | RuleKind::LargeAmount => rule
                .threshold
                .is_some_and(|t| same_currency(&t) && f.amount.minor() >= t.minor()),
            RuleKind::Blacklist => rule
                .subject
                .and_then(|s| f.value_of(s))
                .is_some_and(|v| rule.values.iter().any(|x| x == v)),
            RuleKind::Velocity => match (rule.subject, rule.window_seconds, rule.max_count) {
                (Some(s), Some(w), Some(max)) => match f.value_of(s) {
                    Some(v) => self.count(s, v, now - w * 1000).await? >= max,
                    None => false,
                },
                _ => false,
            },
            RuleKind::NewDevice => match &f.device_id {
                Some(d) => self.new_device(&f.member_id, d).await?,
                None => false,
            },
        })
    }

    /// Payments decided for one subject's value since `since`.
    async fn count(&self, s: Subject, value: &str, since: i64) -> Result<i64, RiskError> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM risk_decisions WHERE {} = $1 AND created_at >= $2",
            s.column()
        );
        let row = self
            .db
            .read_optional(&sql, &[value.into(), since.into()])
            .await?;
        Ok(row.map(|r| r.int("n")).transpose()?.unwrap_or(0))
    }

    /// A device the member has a history without: new (a member's first payment is not).
    async fn new_device(&self, member_id: &str, device: &str) -> Result<bool, RiskError> {
        let row = self
            .db
            .read_optional(
                "SELECT COUNT(*) AS n, SUM(CASE WHEN device_id = $2 THEN 1 ELSE 0 END) AS seen
                 FROM risk_decisions WHERE member_id = $1",
                &[member_id.into(), device.into()],
            )
            .await?;
        let Some(r) = row else { return Ok(false) };
        let n = r.int("n")?;
        let seen = r.opt_int("seen")?.unwrap_or(0);
        Ok(n > 0 && seen == 0)
    }

    /// Stores a decision in a unit of its own.
    pub async fn record(&self, f: &Facts, d: &Decision) -> Result<(), RiskError> {
        let (me, f, d) = (self.clone(), f.clone(), d.clone());
        self.db
            .unit(move |c| Box::pin(async move { me.record_in(c, &f, &d).await }))
            .await
    }

    /// Stores a decision in the caller's transaction.
    pub async fn record_in(
        &self,
        c: &mut dyn paycore_store::Conn,
        f: &Facts,
        d: &Decision,
    ) -> Result<(), RiskError> {
        let fired =
            serde_json::to_string(&d.fired).map_err(|e| RiskError::Corrupt(e.to_string()))?;
        let values: Vec<Value> = vec![
            f.reference.as_str().into(),
            f.member_id.as_str().into(),
            f.card_id.as_deref().into(),
            f.device_id.as_deref().into(),
            f.client_ip.as_deref().into(),
            f.amount.minor().into(),
            f.amount.currency().code().into(),
            d.action.as_str().into(),
            i64::from(d.aml_review).into(),
            fired.into(),
            self.clock.unix_millis().into(),
        ];
        c.execute(
            "INSERT INTO risk_decisions (reference, member_id, card_id, device_id,
                client_ip, amount, currency, action, aml_review, fired, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &values,
        )
        .await?;
        Ok(())
    }

    /// The decisions taken on a payment, oldest first.
    pub async fn decisions_of(
        &self,
        reference: &str,
    ) -> Result<Vec<(Action, Vec<Fired>, bool)>, RiskError> {
        let rows = self
            .db
            .read(
                "SELECT action, fired, aml_review FROM risk_decisions WHERE reference = $1 ORDER BY id",
                &[reference.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let action = Action::parse(&r.text("action")?)
                    .ok_or_else(|| RiskError::Corrupt("action".into()))?;
                let fired: Vec<Fired> = serde_json::from_str(&r.text("fired")?)
                    .map_err(|e| RiskError::Corrupt(e.to_string()))?;
                Ok((action, fired, r.int("aml_review")? != 0))
            })
            .collect()
    }
}

//! Rules, the facts of a payment and decisions.

use paycore_kernel::state::Named;
use paycore_kernel::{Currency, Money};
use paycore_store::unit::Row;
use serde::{Deserialize, Serialize};

use crate::RiskError;

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// The amount is at least `threshold`.
    Amount,
    /// The subject paid `max_count` times or more in the last `window_seconds`.
    Velocity,
    /// The subject's value is in `values`.
    Blacklist,
    /// The member pays from a device their history does not have.
    NewDevice,
    /// The amount is at least `threshold`: flagged for anti-money-laundering review.
    LargeAmount,
}
paycore_kernel::named!(RuleKind { Amount => "AMOUNT", Velocity => "VELOCITY",
    Blacklist => "BLACKLIST", NewDevice => "NEW_DEVICE", LargeAmount => "LARGE_AMOUNT" });

/// Whose payments a velocity or blacklist rule counts or lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Member,
    Card,
    Device,
    Ip,
}
paycore_kernel::named!(Subject { Member => "MEMBER", Card => "CARD", Device => "DEVICE",
    Ip => "IP" });

impl Subject {
    pub(crate) fn column(self) -> &'static str {
        match self {
            Subject::Member => "member_id",
            Subject::Card => "card_id",
            Subject::Device => "device_id",
            Subject::Ip => "client_ip",
        }
    }
}

/// What a rule that fires asks for, in rising severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    Allow,
    Challenge,
    Block,
}
paycore_kernel::named!(Action { Allow => "ALLOW", Challenge => "CHALLENGE", Block => "BLOCK" });

/// A rule to add.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub name: String,
    pub kind: RuleKind,
    pub subject: Option<Subject>,
    pub threshold: Option<Money>,
    pub window_seconds: Option<i64>,
    pub max_count: Option<i64>,
    pub values: Vec<String>,
    pub action: Action,
    pub enabled: bool,
}

impl NewRule {
    /// Each kind has what it needs, and nothing it would ignore silently.
    pub(crate) fn check(&self) -> Result<(), RiskError> {
        let bad = |m: &str| Err(RiskError::Invalid(m.to_string()));
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return bad("name must be 1 to 128 printable characters");
        }
        match self.kind {
            RuleKind::Amount | RuleKind::LargeAmount
                if !self.threshold.is_some_and(|t| t.is_positive()) =>
            {
                bad("an amount rule needs a positive threshold")
            }
            RuleKind::Velocity
                if !(self.subject.is_some()
                    && self.window_seconds.is_some_and(|w| (1..=31 * 86_400).contains(&w))
                    && self.max_count.is_some_and(|c| c >= 1)) =>
            {
                bad("a velocity rule needs a subject, window_seconds (1 to 2678400) and max_count ≥ 1")
            }
            RuleKind::Blacklist
                if self.subject.is_none()
                    || self.values.is_empty()
                    || self.values.len() > 10_000
                    || self.values.iter().any(|v| v.is_empty() || v.len() > 128) =>
            {
                bad("a blacklist needs a subject and 1 to 10000 values of 1 to 128 characters")
            }
            _ => Ok(()),
        }
    }
}

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub rule_id: String,
    pub name: String,
    pub kind: RuleKind,
    pub subject: Option<Subject>,
    pub threshold: Option<Money>,
    pub window_seconds: Option<i64>,
    pub max_count: Option<i64>,
    pub values: Vec<String>,
    pub action: Action,
    pub enabled: bool,
    pub updated_at: i64,
}

pub(crate) const RULE_COLUMNS: &str = "rule_id, name, kind, subject, threshold, currency, \
    window_seconds, max_count, list_values, action, enabled, updated_at";

impl Rule {
    pub(crate) fn from_row(r: &Row) -> Result<Self, RiskError> {
        let corrupt = |w: &str| RiskError::Corrupt(w.to_string());
        let threshold = match (r.opt_int("threshold")?, r.opt_text("currency")?) {
            (Some(t), Some(c)) => Some(Money::from_minor(
                t,
                Currency::from_code(&c).map_err(|_| corrupt("currency"))?,
            )),
            _ => None,
        };
        let subject = match r.opt_text("subject")? {
            Some(s) => Some(Subject::parse(&s).ok_or_else(|| corrupt("subject"))?),
            None => None,
        };
        Ok(Rule {
            rule_id: r.text("rule_id")?,
            name: r.text("name")?,
            kind: RuleKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("kind"))?,
            subject,
            threshold,
            window_seconds: r.opt_int("window_seconds")?,
            max_count: r.opt_int("max_count")?,
            values: serde_json::from_str(&r.text("list_values")?).map_err(|_| corrupt("values"))?,
            action: Action::parse(&r.text("action")?).ok_or_else(|| corrupt("action"))?,
            enabled: r.int("enabled")? != 0,
            updated_at: r.int("updated_at")?,
        })
    }
}

/// What risk knows of a payment.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The payment.
    pub reference: String,
    pub member_id: String,
    pub card_id: Option<String>,
    pub device_id: Option<String>,
    pub client_ip: Option<String>,
    pub amount: Money,
}

impl Facts {
    pub(crate) fn value_of(&self, s: Subject) -> Option<&str> {
        match s {
            Subject::Member => Some(self.member_id.as_str()),
            Subject::Card => self.card_id.as_deref(),
            Subject::Device => self.device_id.as_deref(),
            Subject::Ip => self.client_ip.as_deref(),
        }
    }
}

/// A rule that fired, as stored with the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    pub rule_id: String,
    pub name: String,
    pub action: Action,
}

/// What risk decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub fired: Vec<Fired>,
    /// A large-amount rule fired: the payment goes to AML review (it is not stopped by it).
    pub aml_review: bool,
}

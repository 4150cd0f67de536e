//! Posting rules (记账方案, L3): transaction codes as data. A rule lists legs by subject, the
//! party role that owns the account, and an amount expression — a signed sum of the event's
//! variables (`amount`, `fee`). Because every expression is linear, a rule balances for *any*
//! amounts exactly when, for each variable, its debit coefficients equal its credit ones: that
//! is what loading checks.

use std::collections::BTreeMap;

use paycore_kernel::Money;
use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, PostError};
use crate::model::{BusinessEvent, Side};

/// The rules shipped with this build.
pub const BUILTIN_RULES: &str = include_str!("../rules/posting_rules.toml");

/// The platform itself as an owner role.
pub const PLATFORM: &str = "platform";

const VARIABLES: &[&str] = &["amount", "fee"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLeg {
    pub side: Side,
    pub subject: String,
    pub owner: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub code: String,
    pub description: String,
    pub legs: Vec<RuleLeg>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RuleFile {
    pub version: i64,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
}

/// `amount - fee` → {amount: 1, fee: -1}.
pub fn parse_expr(expr: &str) -> Result<BTreeMap<&'static str, i64>, String> {
    let mut out: BTreeMap<&'static str, i64> = BTreeMap::new();
    let mut sign = 1i64;
    let mut expect_term = true;
    for tok in expr.split_whitespace() {
        match (tok, expect_term) {
            ("+", false) => {
                sign = 1;
                expect_term = true;
            }
            ("-", false) => {
                sign = -1;
                expect_term = true;
            }
            (name, true) => {
                let var = VARIABLES
                    .iter()
                    .find(|v| **v == name)
                    .ok_or_else(|| format!("unknown variable {name:?} in {expr:?}"))?;
                *out.entry(var).or_insert(0) += sign;
                expect_term = false;
            }
            _ => return Err(format!("malformed amount expression {expr:?}")),
        }
    }
    if expect_term {
        return Err(format!("malformed amount expression {expr:?}"));
    }
    Ok(out)
}

impl Rule {
    /// Shape and balance, independent of the database.
    pub fn validate(&self) -> Result<(), String> {
        if self.legs.len() < 2 {
            return Err(format!("{}: needs at least two legs", self.code));
        }
        let mut net: BTreeMap<&'static str, i64> = BTreeMap::new();
        for leg in &self.legs {
            if leg.owner.is_empty()
                || !leg
                    .owner
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                return Err(format!("{}: bad owner role {:?}", self.code, leg.owner));
            }
            let sign = match leg.side {
                Side::Debit => 1,
                Side::Credit => -1,
            };
            for (var, coef) in parse_expr(&leg.amount).map_err(|e| format!("{}: {e}", self.code))? {
                *net.entry(var).or_insert(0) += sign * coef;
            }
        }
        match net.iter().find(|(_, c)| **c != 0) {
            Some((var, c)) => Err(format!(
                "{}: does not balance: `{var}` is {} by {}",
                self.code,
                if *c > 0 {
                    "over-debited"
                } else {
                    "over-credited"
                },
                c.abs()
            )),
            None => Ok(()),
        }
    }

    /// The event's legs as (subject, owner, side, amount); zero legs (no fee) are left out.
    pub fn expand(
        &self,
        ev: &BusinessEvent,
    ) -> Result<Vec<(String, String, Side, Money)>, PostError> {
        let bad = |reason: String| PostError::RuleInput {
            tx_code: self.code.clone(),
            reason,
        };
        let currency = ev.amount.currency();
        let fee = match ev.fee {
            Some(f) if f.currency() != currency => {
                return Err(bad("fee currency differs from amount".into()))
            }
            Some(f) => f.minor(),
            None => 0,
        };
        if ev.amount.minor() <= 0 || fee < 0 {
            return Err(bad("amount must be positive and fee not negative".into()));
        }
        let mut legs = Vec::with_capacity(self.legs.len());
        for leg in &self.legs {
            let mut value: i64 = 0;
            for (var, coef) in parse_expr(&leg.amount).map_err(bad)? {
                let v = if var == "amount" {
                    ev.amount.minor()
                } else {
                    fee
                };
                value = v
                    .checked_mul(coef)
                    .and_then(|t| value.checked_add(t))
                    .ok_or(PostError::Overflow)?;
            }
            if value < 0 {
                return Err(bad(format!("`{}` is negative", leg.amount)));
            }
            if value == 0 {
                continue;
            }
            let owner = if leg.owner == PLATFORM {
                String::new()
            } else {
                ev.parties
                    .get(&leg.owner)
                    .cloned()
                    .ok_or_else(|| bad(format!("missing party {:?}", leg.owner)))?
            };
            legs.push((
                leg.subject.clone(),
                owner,
                leg.side,
                Money::from_minor(value, currency),
            ));
        }
        Ok(legs)
    }
}

pub fn parse_file(text: &str) -> Result<RuleFile, LedgerError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| LedgerError::Rules(e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for rule in &file.rules {
        if !seen.insert(rule.code.as_str()) {
            return Err(LedgerError::Rules(format!("duplicate code {}", rule.code)));
        }
        rule.validate().map_err(LedgerError::Rules)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycore_kernel::Currency;

    #[test]
    fn builtin_rules_parse_and_balance() {
        let f = parse_file(BUILTIN_RULES).unwrap();
        assert!(f.rules.len() >= 10);
    }

    #[test]
    fn unbalanced_rule_is_rejected() {
        let text = r#"
version = 1
[[rule]]
code = "BAD"
description = "fee credited without being debited"
legs = [
  { side = "D", subject = "112201", owner = "channel", amount = "amount" },
  { side = "C", subject = "224101", owner = "merchant", amount = "amount" },
  { side = "C", subject = "600101", owner = "platform", amount = "fee" },
]
"#;
        let err = parse_file(text).unwrap_err().to_string();
        assert!(err.contains("does not balance"), "{err}");
    }

    #[test]
    fn expressions() {
        assert_eq!(
            parse_expr("amount - fee").unwrap(),
            [("amount", 1), ("fee", -1)].into()
        );
        assert!(parse_expr("amount -").is_err());
        assert!(parse_expr("amount * 2").is_err());
        assert!(parse_expr("").is_err());
    }

    #[test]
    fn expansion_drops_zero_legs_and_refuses_negative() {
        let f = parse_file(BUILTIN_RULES).unwrap();
        let pay = f.rules.iter().find(|r| r.code == "PAY_BANK").unwrap();
        let cny = |m| Money::from_minor(m, Currency::CNY);
        let ev = BusinessEvent::new("v", "PAY_BANK", "p", cny(50_000))
            .party("channel", "CMB")
            .party("merchant", "M1");
        assert_eq!(pay.expand(&ev).unwrap().len(), 2);
        let ev = ev.fee(cny(60_000));
        assert!(matches!(pay.expand(&ev), Err(PostError::RuleInput { .. })));
    }

    proptest::proptest! {
        #[test]
        fn every_builtin_rule_balances_for_any_amounts(amount in 1i64..1_000_000_000, fee_frac in 0u32..=100) {
            let f = parse_file(BUILTIN_RULES).unwrap();
            let fee = amount * i64::from(fee_frac) / 100;
            for rule in &f.rules {
                let mut ev = BusinessEvent::new("v", &rule.code, "b", Money::from_minor(amount, Currency::CNY))
                    .fee(Money::from_minor(fee, Currency::CNY));
                for l in &rule.legs { ev = ev.party(&l.owner, "X"); }
                let legs = rule.expand(&ev).unwrap();
                let d: i64 = legs.iter().filter(|l| l.2 == Side::Debit).map(|l| l.3.minor()).sum();
                let c: i64 = legs.iter().filter(|l| l.2 == Side::Credit).map(|l| l.3.minor()).sum();
                proptest::prop_assert_eq!(d, c);
            }
        }
    }
}

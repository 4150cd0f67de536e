//! Misbehaviour settings of a sandbox channel (`PUT /sandbox/channels/{channel}/behaviour`).
//! Rates are applied deterministically: with rate r, call n (counting from 0) is hit when
//! `floor((n+1)·r) > floor(n·r)`, so 1.0 hits every call, 0.5 every other one, 0 none.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What to change in a settlement file (for the reconciliation issue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementDifferences {
    /// Leave out the first N lines of the day.
    pub missing_lines: u32,
    /// Add N lines the channel's books do not have.
    pub extra_lines: u32,
    /// Change the amount of the next N lines (after the missing ones) by `amount_delta`.
    pub changed_amounts: u32,
    /// Minor units added to a changed amount (default 1).
    pub amount_delta: i64,
}

impl Default for SettlementDifferences {
    fn default() -> Self {
        Self {
            missing_lines: 0,
            extra_lines: 0,
            changed_amounts: 0,
            amount_delta: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Added before every API answer.
    pub latency_ms: u64,
    /// Share of payments declined (not charged).
    pub decline_rate: f64,
    /// Share of payments charged but answered too late (the client times out).
    pub unknown_rate: f64,
    /// How long an "unknown" answer is held back.
    pub unknown_hold_ms: u64,
    /// Extra copies of every notification.
    pub duplicate_notifications: u32,
    /// Delay before a notification is first sent.
    pub notification_delay_ms: u64,
    /// Hold back every other notification (~2.5 s) so that the next one overtakes it.
    pub out_of_order: bool,
    pub settlement_differences: SettlementDifferences,
    /// Carrier only: per phone number and calendar month, in minor units of CNY.
    pub monthly_limit: i64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            decline_rate: 0.0,
            unknown_rate: 0.0,
            unknown_hold_ms: 30_000,
            duplicate_notifications: 0,
            notification_delay_ms: 0,
            out_of_order: false,
            settlement_differences: SettlementDifferences::default(),
            monthly_limit: 50_000,
        }
    }
}

/// Limits: nothing the operator types can stall the sandbox for long or flood the platform.
const MAX_LATENCY_MS: u64 = 60_000;
const MAX_DUPLICATES: u32 = 10;

impl Behaviour {
    pub fn validate(&self) -> Result<(), String> {
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if !rate_ok(self.decline_rate) || !rate_ok(self.unknown_rate) {
            return Err("rates must be between 0 and 1".into());
        }
        if self.latency_ms > MAX_LATENCY_MS
            || self.notification_delay_ms > MAX_LATENCY_MS * 10
            || self.unknown_hold_ms > MAX_LATENCY_MS * 2
        {
            return Err("delay too long".into());
        }
        if self.duplicate_notifications > MAX_DUPLICATES {
            return Err(format!("at most {MAX_DUPLICATES} duplicates"));
        }
        if self.monthly_limit < 0 {
            return Err("monthly_limit must not be negative".into());
        }
        Ok(())
    }
}

/// Call counters per (channel, rate name); reset when the behaviour changes.
#[derive(Debug, Default)]
pub struct RateCounters(Mutex<HashMap<(String, &'static str), u64>>);

impl RateCounters {
    /// Whether this call is hit by `rate`.
    pub fn hit(&self, channel: &str, what: &'static str, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry((channel.to_string(), what)).or_insert(0);
        let i = *n;
        *n += 1;
        ((i + 1) as f64 * rate).floor() > (i as f64 * rate).floor()
    }

    pub fn reset(&self, channel: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(c, _), _| c != channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_hit_exactly_their_share() {
        let c = RateCounters::default();
        let hits = (0..100).filter(|_| c.hit("x", "d", 0.25)).count();
        assert_eq!(hits, 25);
        assert!((0..10).all(|_| c.hit("x", "u", 1.0)));
        assert!(!(0..10).any(|_| c.hit("x", "n", 0.0)));
    }

    #[test]
    fn unknown_fields_and_bad_rates_are_refused() {
        assert!(serde_json::from_str::<Behaviour>(r#"{"nope": 1}"#).is_err());
        let b: Behaviour = serde_json::from_str(r#"{"decline_rate": 1.5}"#).unwrap();
        assert!(b.validate().is_err());
        let b: Behaviour = serde_json::from_str(r#"{"decline_rate": 1}"#).unwrap();
        assert!(b.validate().is_ok());
    }
}

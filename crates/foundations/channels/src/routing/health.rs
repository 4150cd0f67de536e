//! Channel health: a sliding window of recent outcomes (success rate) and a circuit breaker
//! (closed → open after consecutive errors or a high error rate → half-open after a cool-down,
//! letting one probe through → closed when the probe succeeds, open again when it fails).

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What happened to a call on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// A business refusal (declined card, limit): lowers the success rate, not the health.
    Declined,
    /// A technical error of the channel (5xx, unreadable answer).
    Failure,
    /// No answer in time (unknown result).
    Timeout,
}

impl Outcome {
    fn is_error(self) -> bool {
        matches!(self, Outcome::Failure | Outcome::Timeout)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// Outcomes older than this leave the window.
    #[serde(with = "millis")]
    pub window: Duration,
    /// At most this many outcomes are kept per channel.
    pub max_samples: usize,
    /// Open after this many errors in a row.
    pub consecutive_errors: u32,
    /// Or when errors reach this share of the window (with at least `min_calls` in it).
    pub error_rate_threshold: f64,
    pub min_calls: u32,
    /// Open → half-open after this long; also how long a probe may stay unanswered.
    #[serde(with = "millis")]
    pub cool_down: Duration,
    /// The success rate assumed for a channel with no history, weighted as `prior_weight` calls.
    pub prior_success_rate: f64,
    pub prior_weight: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            max_samples: 1000,
            consecutive_errors: 5,
            error_rate_threshold: 0.5,
            min_calls: 20,
            cool_down: Duration::from_secs(30),
            prior_success_rate: 0.9,
            prior_weight: 10.0,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed,
    Open { since_ms: i64 },
    HalfOpen { probe_since_ms: Option<i64> },
}

/// Whether a channel may take a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the one probe of a half-open breaker.
    Probe,
    Rejected,
}

#[derive(Debug, Clone)]
pub struct ChannelHealth {
    samples: VecDeque<(i64, Outcome, u32)>,
    consecutive_errors: u32,
    breaker: Breaker,
}

impl Default for ChannelHealth {
    fn default() -> Self {
        Self {
            samples: VecDeque::new(),
            consecutive_errors: 0,
            breaker: Breaker::Closed,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl ChannelHealth {
    fn trim(&mut self, now_ms: i64, cfg: &HealthConfig) {
        let oldest = now_ms.saturating_sub(ms(cfg.window));
        while self.samples.front().is_some_and(|(t, _, _)| *t < oldest) {
            self.samples.pop_front();
        }
        while self.samples.len() > cfg.max_samples {
            self.samples.pop_front();
        }
    }

    pub fn record(&mut self, now_ms: i64, outcome: Outcome, latency: Duration, cfg: &HealthConfig) {
        let latency_ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
        self.samples.push_back((now_ms, outcome, latency_ms));
        self.trim(now_ms, cfg);
        if outcome.is_error() {
            self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        } else {
            self.consecutive_errors = 0;
        }
        self.breaker = match (self.breaker, outcome.is_error()) {
            (Breaker::HalfOpen { .. }, false) => {
                // Recovered: the errors that opened the breaker no longer speak for the channel.
                self.samples.retain(|(_, o, _)| !o.is_error());
                Breaker::Closed
            }
            (Breaker::HalfOpen { .. }, true) => Breaker::Open { since_ms: now_ms },
            (Breaker::Closed, true) if self.should_open(cfg) => Breaker::Open { since_ms: now_ms },
            (b, _) => b,
        };
    }

    fn should_open(&self, cfg: &HealthConfig) -> bool {
        if self.consecutive_errors >= cfg.consecutive_errors {
            return true;
        }
        let n = self.samples.len();
        if n < cfg.min_calls as usize || n == 0 {
            return false;
        }
        let errors = self.samples.iter().filter(|(_, o, _)| o.is_error()).count();
        errors as f64 / n as f64 >= cfg.error_rate_threshold
    }

    /// May a call go to this channel now? Does not change anything (see [`Self::admit`]).
    pub fn admission(&self, now_ms: i64, cfg: &HealthConfig) -> Admission {
        match self.breaker {
            Breaker::Closed => Admission::Allowed,
            Breaker::Open { since_ms } if now_ms.saturating_sub(since_ms) >= ms(cfg.cool_down) => {
                Admission::Probe
            }
            Breaker::Open { .. } => Admission::Rejected,
            Breaker::HalfOpen {
                probe_since_ms: None,
            } => Admission::Probe,
            // A probe that never reported back does not block the channel forever.
            Breaker::HalfOpen {
                probe_since_ms: Some(t),
            } if now_ms.saturating_sub(t) >= ms(cfg.cool_down) => Admission::Probe,
            Breaker::HalfOpen { .. } => Admission::Rejected,
        }
    }

    /// Takes the probe slot when the channel was chosen as a probe.
    pub fn admit(&mut self, now_ms: i64, cfg: &HealthConfig) {
        if self.admission(now_ms, cfg) == Admission::Probe {
            self.breaker = Breaker::HalfOpen {
                probe_since_ms: Some(now_ms),
            };
        }
    }

    pub fn state(&self, now_ms: i64, cfg: &HealthConfig) -> BreakerState {
        match (self.breaker, self.admission(now_ms, cfg)) {
            (Breaker::Closed, _) => BreakerState::Closed,
            (Breaker::Open { .. }, Admission::Rejected) => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Smoothed success rate over the window (the prior counts as `prior_weight` calls).
    pub fn success_rate(&mut self, now_ms: i64, cfg: &HealthConfig) -> f64 {
        self.trim(now_ms, cfg);
        let n = self.samples.len() as f64;
        let ok = self
            .samples
            .iter()
            .filter(|(_, o, _)| *o == Outcome::Success)
            .count() as f64;
        (ok + cfg.prior_success_rate * cfg.prior_weight) / (n + cfg.prior_weight)
    }

    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// Mean latency of the window, milliseconds.
    pub fn mean_latency_ms(&self) -> Option<u64> {
        if self.samples.is_empty() {
            return None;
        }
        let sum: u64 = self.samples.iter().map(|(_, _, l)| u64::from(*l)).sum();
        Some(sum / self.samples.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paycore_kernel::{Clock, ManualClock};
    use time::OffsetDateTime;

    fn cfg() -> HealthConfig {
        HealthConfig {
            consecutive_errors: 3,
            min_calls: 10,
            error_rate_threshold: 0.5,
            cool_down: Duration::from_secs(30),
            ..HealthConfig::default()
        }
    }

    #[test]
    fn breaker_opens_half_opens_and_closes_with_the_clock() {
        let clock = ManualClock::new(OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000));
        let c = cfg();
        let mut h = ChannelHealth::default();
        let lat = Duration::from_millis(5);
        h.record(clock.unix_millis(), Outcome::Failure, lat, &c);
        h.record(clock.unix_millis(), Outcome::Timeout, lat, &c);
        assert_eq!(h.state(clock.unix_millis(), &c), BreakerState::Closed);
        h.record(clock.unix_millis(), Outcome::Failure, lat, &c);
        assert_eq!(h.state(clock.unix_millis(), &c), BreakerState::Open);
        assert_eq!(h.admission(clock.unix_millis(), &c), Admission::Rejected);

        clock.advance(time::Duration::seconds(29));
        assert_eq!(h.admission(clock.unix_millis(), &c), Admission::Rejected);
        clock.advance(time::Duration::seconds(1));
        assert_eq!(h.admission(clock.unix_millis(), &c), Admission::Probe);
        h.admit(clock.unix_millis(), &c);
        // Only one probe at a time.
        assert_eq!(h.admission(clock.unix_millis(), &c), Admission::Rejected);
        // The probe fails: open again, for a full cool-down.
        h.record(clock.unix_millis(), Outcome::Timeout, lat, &c);
        assert_eq!(h.state(clock.unix_millis(), &c), BreakerState::Open);
        clock.advance(time::Duration::seconds(30));
        h.admit(clock.unix_millis(), &c);
        h.record(clock.unix_millis(), Outcome::Success, lat, &c);
        assert_eq!(h.state(clock.unix_millis(), &c), BreakerState::Closed);
        assert_eq!(h.admission(clock.unix_millis(), &c), Admission::Allowed);
    }

    #[test]
    fn error_rate_opens_without_consecutive_errors() {
        let c = cfg();
        let mut h = ChannelHealth::default();
        let lat = Duration::ZERO;
        for i in 0..11 {
            let o = if i % 2 == 1 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            h.record(1_000 + i, o, lat, &c);
        }
        assert_eq!(h.state(1_100, &c), BreakerState::Open);
    }

    #[test]
    fn declines_lower_the_rate_but_do_not_trip_the_breaker() {
        let c = cfg();
        let mut h = ChannelHealth::default();
        for i in 0..20 {
            h.record(1_000 + i, Outcome::Declined, Duration::ZERO, &c);
        }
        assert_eq!(h.state(2_000, &c), BreakerState::Closed);
        assert!(h.success_rate(2_000, &c) < 0.4);
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let c = cfg();
        let mut h = ChannelHealth::default();
        for i in 0..5 {
            h.record(i, Outcome::Declined, Duration::ZERO, &c);
        }
        let low = h.success_rate(10, &c);
        let later = 10 + ms(c.window) + 1;
        let back = h.success_rate(later, &c);
        assert!(low < back);
        assert!((back - c.prior_success_rate).abs() < 1e-9);
        assert_eq!(h.samples(), 0);
    }
}

//! Channel routing (渠道路由, article 001 §3.10): when several channels can take a payment, pick
//! the best one. First eligibility (product, currency, amount range, switch, weight, health,
//! caller exclusions), then rule priority (only the highest priority present competes), then a
//! score: recent success rate, cost (rate tiered by monthly volume, plus fixed fee), and
//! stickiness to the channel the payer last succeeded on. Channels whose scores are within
//! `tie_tolerance` of the best share the traffic by weight (smooth weighted round-robin, so the
//! split is exact and deterministic). Every decision is logged with its reasons.
//!
//! A channel may be limited to the merchants registered with it (`merchants`); whether a
//! merchant may use a product at all is the product center's check, done before routing.

pub mod config;
pub mod cost;
pub mod health;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use paycore_kernel::cache::TtlCache;
use paycore_kernel::product::Product;
use paycore_kernel::{Clock, Currency, Money};
use paycore_store::{Db, StoreError};
use serde::{Deserialize, Serialize};

pub use config::{install, AmountRange, ChannelConfig};
pub use cost::{FeeSchedule, FeeTier};
pub use health::{BreakerState, HealthConfig, Outcome};

use health::{Admission, ChannelHealth};

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// No channel can take this payment now; `reasons` says why for each channel (with the
    /// channels' internal names: for logs and operators, not for merchants).
    #[error("no channel available: {}", reasons.join("; "))]
    NoChannel { reasons: Vec<String> },
    /// No configured channel ever takes it, whatever their switches and health: the request
    /// itself has to change.
    #[error("{0}")]
    NotOffered(Refusal),
    #[error("unknown channel {0}")]
    UnknownChannel(String),
    #[error("invalid channel configuration: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RoutingError {
    fn from(e: sqlx::Error) -> Self {
        RoutingError::Store(StoreError::Sqlx(e))
    }
}

/// Why no channel could ever take a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No channel offers the product in this currency; these are the currencies offered.
    Currency {
        product: Product,
        currency: Currency,
        accepted: Vec<Currency>,
    },
    /// No channel takes this amount; these are the ranges offered in its currency.
    Amount {
        product: Product,
        amount: Money,
        ranges: Vec<AmountRange>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Currency {
                product,
                currency,
                accepted,
            } if accepted.is_empty() => write!(f, "{product} is not offered (asked in {currency})"),
            Refusal::Currency {
                product,
                currency,
                accepted,
            } => {
                let list: Vec<&str> = accepted.iter().map(|c| c.code()).collect();
                write!(
                    f,
                    "{product} is not offered in {currency}; it takes {}",
                    list.join(", ")
                )
            }
            Refusal::Amount {
                product,
                amount,
                ranges,
            } => {
                let list: Vec<String> = ranges
                    .iter()
                    .map(|r| format!("{} to {} minor units", r.min.minor(), r.max.minor()))
                    .collect();
                write!(
                    f,
                    "{product} takes {} amounts of {}; {} is outside",
                    amount.currency(),
                    list.join(" or "),
                    amount.minor()
                )
            }
        }
    }
}

/// The permanent reason no configured channel (whatever its switch and health) can take the
/// payment, if there is one.
fn refusal(configs: &[ChannelConfig], ctx: &RouteContext) -> Option<Refusal> {
    let currency = ctx.amount.currency();
    let offering: Vec<&ChannelConfig> = configs
        .iter()
        .filter(|c| c.serves_merchant(&ctx.merchant_id) && c.products.contains(&ctx.product))
        .collect();
    let in_currency: Vec<&&ChannelConfig> = offering
        .iter()
        .filter(|c| c.currencies.contains(&currency))
        .collect();
    if in_currency.is_empty() {
        let mut accepted: Vec<Currency> = offering
            .iter()
            .flat_map(|c| c.currencies.iter().copied())
            .collect();
        accepted.sort_by_key(|c| c.code());
        accepted.dedup();
        return Some(Refusal::Currency {
            product: ctx.product,
            currency,
            accepted,
        });
    }
    let ranges: Vec<AmountRange> = in_currency
        .iter()
        .filter_map(|c| c.range_for(currency))
        .collect();
    let fits = in_currency.iter().any(|c| match c.range_for(currency) {
        None => true,
        Some(r) => ctx.amount.minor() >= r.min.minor() && ctx.amount.minor() <= r.max.minor(),
    });
    (!fits).then_some(Refusal::Amount {
        product: ctx.product,
        amount: ctx.amount,
        ranges,
    })
}

/// How a `pay` outcome counts for the channel's health: declines lower the success rate only,
/// technical failures and unknown results feed the circuit breaker too.
pub fn outcome_of(pay: &crate::connector::PayOutcome) -> Outcome {
    use crate::connector::{PayOutcome, CHANNEL_UNAVAILABLE};
    match pay {
        PayOutcome::Succeeded { .. } | PayOutcome::Pending { .. } => Outcome::Success,
        PayOutcome::Failed { code, .. } if code == CHANNEL_UNAVAILABLE => Outcome::Failure,
        PayOutcome::Failed { .. } => Outcome::Declined,
        PayOutcome::Unknown { .. } => Outcome::Timeout,
    }
}

/// What is being routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteContext {
    pub merchant_id: String,
    #[serde(with = "crate::serde_util::product")]
    pub product: Product,
    pub amount: Money,
    /// Identifies the payer across payments (member id, card token, phone) for stickiness.
    pub payer_key: Option<String>,
    /// Channels not to use (e.g. the ones that already failed for this payment).
    pub exclude: Vec<String>,
}

/// How one channel fared in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub channel: String,
    pub eligible: bool,
    pub score: Option<f64>,
    pub fee: Option<Money>,
    /// The score's parts, or why the channel was left out.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub channel: String,
    pub reasons: Vec<String>,
    pub candidates: Vec<Candidate>,
    /// The chosen channel's expected fee.
    pub fee: Money,
    /// The channel is half-open and this payment is its probe.
    pub probe: bool,
}

/// The knobs of the choice. Weights of the score: `success_weight · success_rate +
/// cost_weight · (cheapest fee / this fee) + sticky_bonus (if the payer's last channel)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Strategy {
    pub success_weight: f64,
    pub cost_weight: f64,
    pub sticky_bonus: f64,
    /// Scores this close to the best are a tie, broken by weight.
    pub tie_tolerance: f64,
    pub health: HealthConfig,
}

impl Default for Strategy {
    fn default() -> Self {
        Self {
            success_weight: 2.0,
            cost_weight: 1.0,
            sticky_bonus: 0.5,
            tie_tolerance: 0.05,
            health: HealthConfig::default(),
        }
    }
}

/// A channel as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    #[serde(flatten)]
    pub config: ChannelConfig,
    pub health: BreakerState,
    pub success_rate: f64,
    pub samples: usize,
    pub mean_latency_ms: Option<u64>,
}

pub struct Router {
    db: Db,
    clock: Arc<dyn Clock>,
    strategy: RwLock<Strategy>,
    health: Mutex<HashMap<String, ChannelHealth>>,
    /// Smooth weighted round-robin state per channel.
    rr: Mutex<HashMap<String, i64>>,
    /// The channels' configurations, read at most once per [`CONFIG_TTL`]; a change through
    /// this router clears them at once, another node's is seen within the TTL.
    configs: TtlCache<(), Arc<Vec<ChannelConfig>>>,
}

/// How long a channel configuration changed on another node can go unseen here.
pub const CONFIG_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Router")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one decision is made on, read once at its start.
struct Round<'a> {
    ctx: &'a RouteContext,
    currency: Currency,
    now_ms: i64,
    /// This month's volume of each channel in the payment's currency (for the cost tiers).
    volumes: BTreeMap<String, Money>,
    /// The channel the payer last succeeded on.
    sticky: Option<String>,
    strategy: Strategy,
}

/// An eligible channel: its configuration, admission and expected fee.
type Eligible<'c> = (&'c ChannelConfig, Admission, Money);

/// An eligible channel of the top priority, with its score.
type Scored<'c> = (&'c ChannelConfig, Admission, Money, f64);

/// Why the channel cannot take this payment now, if it cannot.
fn ineligible(c: &ChannelConfig, ctx: &RouteContext, admission: Admission) -> Option<String> {
    let currency = ctx.amount.currency();
    if ctx.exclude.contains(&c.channel) {
        Some("excluded by caller".to_string())
    } else if !c.enabled {
        Some("switched off".to_string())
    } else if !c.serves_merchant(&ctx.merchant_id) {
        Some("merchant has no contract with this channel".to_string())
    } else if !c.products.contains(&ctx.product) {
        Some(format!("does not offer {}", ctx.product))
    } else if !c.currencies.contains(&currency) {
        Some(format!("does not take {currency}"))
    } else if let Some(r) = c
        .range_for(currency)
        .filter(|r| ctx.amount.minor() < r.min.minor() || ctx.amount.minor() > r.max.minor())
    {
        Some(format!("amount outside {} .. {}", r.min, r.max))
    } else if c.weight == 0 {
        Some("weight 0".to_string())
    } else if admission == Admission::Rejected {
        Some("circuit breaker open".to_string())
    } else {
        None
    }
}

/// The error when no channel is eligible: the permanent refusal if there is one, else every
/// channel's reason. Logs the reasons either way.
fn no_channel(
    configs: &[ChannelConfig],
    ctx: &RouteContext,
    candidates: &[Candidate],
) -> RoutingError {
    let reasons: Vec<String> = candidates
        .iter()
        .map(|c| format!("{}: {}", c.channel, c.detail))
        .collect();
    tracing::info!(target: "detail", merchant_id = %ctx.merchant_id,
        product = %ctx.product, amount = %ctx.amount, ?reasons, "route: no channel");
    if let Some(r) = refusal(configs, ctx) {
        return RoutingError::NotOffered(r);
    }
    RoutingError::NoChannel { reasons }
}

/// The score of an eligible channel of the top priority, and its candidate line with the
/// score's parts.
fn scored_candidate(
    c: &ChannelConfig,
    admission: Admission,
    fee: Money,
    rate: f64,
    cheapest: i64,
    round: &Round,
) -> (f64, Candidate) {
    let strategy = &round.strategy;
    let cost = if fee.minor() <= 0 {
        1.0
    } else {
        cheapest.max(0) as f64 / fee.minor() as f64
    };
    let is_sticky = round.sticky.as_deref() == Some(c.channel.as_str());
    let score = strategy.success_weight * rate
        + strategy.cost_weight * cost
        + if is_sticky {
            strategy.sticky_bonus
        } else {
            0.0
        };
    let candidate = Candidate {
        channel: c.channel.clone(),
        eligible: true,
        score: Some(score),
        fee: Some(fee),
        detail: format!(
            "success {rate:.3}, cost {cost:.3} (fee {fee}){}{}",
            if is_sticky {
                ", payer's last channel"
            } else {
                ""
            },
            if admission == Admission::Probe {
                ", half-open probe"
            } else {
                ""
            }
        ),
    };
    (score, candidate)
}

impl Router {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            strategy: RwLock::new(Strategy::default()),
            health: Mutex::new(HashMap::new()),
            rr: Mutex::new(HashMap::new()),
            configs: TtlCache::new(CONFIG_TTL),
        }
    }

    /// Every channel's configuration, from the cache when it is fresh.
    async fn configs(&self) -> Result<Arc<Vec<ChannelConfig>>, RoutingError> {
        if let Some(c) = self.configs.get(&()) {
            return Ok(c);
        }
        let ticket = self.configs.ticket();
        let c = Arc::new(config::load_all(&self.db).await?);
        self.configs.put((), c.clone(), ticket);
        Ok(c)
    }

    /// After a change of a configuration: the next payment reads them again.
    fn changed(&self) {
        self.configs.retain(|_| false);
    }

    pub fn with_strategy(self, strategy: Strategy) -> Self {
        self.set_strategy(strategy);
        self
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_strategy(&self, strategy: Strategy) {
        *self.strategy.write().unwrap_or_else(|e| e.into_inner()) = strategy;
    }

    /// Picks the channel for `ctx`, or says why none can take it.
    pub async fn choose(&self, ctx: &RouteContext) -> Result<RouteDecision, RoutingError> {
        let configs = self.configs().await?;
        let round = self.read_round(ctx).await?;
        let (mut candidates, eligible) = self.screen(&configs, &round);
        let Some(top) = eligible.iter().map(|(c, _, _)| c.priority).max() else {
            return Err(no_channel(&configs, ctx, &candidates));
        };
        let scored = self.score(eligible, top, &round, &mut candidates);
        let (chosen, mut reasons) = self.break_tie(&scored, top, &round.strategy);
        let (cfg, admission, fee, score) = *chosen;
        reasons.push(format!("best score {score:.3}"));
        if let Some(c) = candidates.iter().find(|c| c.channel == cfg.channel) {
            reasons.push(c.detail.clone());
        }
        let probe = admission == Admission::Probe;
        if probe {
            lock(&self.health)
                .entry(cfg.channel.clone())
                .or_default()
                .admit(round.now_ms, &round.strategy.health);
        }
        candidates.sort_by(|a, b| a.channel.cmp(&b.channel));
        // Per payment, so debug: the payment's digest line (step 2.route) already names the
        // channel and its reasons; this adds every candidate, for diagnosis.
        tracing::debug!(target: "detail", merchant_id = %ctx.merchant_id, product = %ctx.product,
            amount = %ctx.amount, channel = %cfg.channel, ?reasons,
            candidates = ?candidates.iter().map(|c| format!("{}: {}", c.channel, c.detail)).collect::<Vec<_>>(),
            "route: channel chosen");
        Ok(RouteDecision {
            channel: cfg.channel.clone(),
            reasons,
            candidates,
            fee,
            probe,
        })
    }

    /// Reads what the decision for `ctx` is made on.
    async fn read_round<'a>(&self, ctx: &'a RouteContext) -> Result<Round<'a>, RoutingError> {
        let now = self.clock.now();
        let now_ms = self.clock.unix_millis();
        let volumes =
            config::volumes(&self.db, config::month_of(now), ctx.amount.currency()).await?;
        let sticky = match &ctx.payer_key {
            Some(k) => config::affinity(&self.db, k).await?,
            None => None,
        };
        let strategy = self.strategy();
        Ok(Round {
            ctx,
            currency: ctx.amount.currency(),
            now_ms,
            volumes,
            sticky,
            strategy,
        })
    }

    /// Eligibility: the channels that may take the payment, with their admission and fee; the
    /// others are returned as candidates left out, with why.
    fn screen<'c>(
        &self,
        configs: &'c [ChannelConfig],
        round: &Round,
    ) -> (Vec<Candidate>, Vec<Eligible<'c>>) {
        let (ctx, currency) = (round.ctx, round.currency);
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut eligible: Vec<Eligible> = Vec::new();
        let health = lock(&self.health);
        for c in configs {
            let admission = health
                .get(&c.channel)
                .map(|h| h.admission(round.now_ms, &round.strategy.health))
                .unwrap_or(Admission::Allowed);
            let why = ineligible(c, ctx, admission);
            let volume = round
                .volumes
                .get(&c.channel)
                .copied()
                .unwrap_or(Money::zero(currency));
            let fee = c.fee.fee(ctx.amount, volume);
            match (why, fee) {
                (None, Ok(fee)) => eligible.push((c, admission, fee)),
                (Some(why), _) => candidates.push(Candidate {
                    channel: c.channel.clone(),
                    eligible: false,
                    score: None,
                    fee: None,
                    detail: why,
                }),
                (None, Err(e)) => candidates.push(Candidate {
                    channel: c.channel.clone(),
                    eligible: false,
                    score: None,
                    fee: None,
                    detail: format!("fee: {e}"),
                }),
            }
        }
        (candidates, eligible)
    }

    /// Scores the eligible channels of the `top` priority; those of lower priority are added to
    /// `candidates` as left out. Every scored channel is added to `candidates` with its parts.
    fn score<'c>(
        &self,
        eligible: Vec<Eligible<'c>>,
        top: i32,
        round: &Round,
        candidates: &mut Vec<Candidate>,
    ) -> Vec<Scored<'c>> {
        let mut scored: Vec<Scored> = Vec::new();
        let cheapest = eligible
            .iter()
            .filter(|(c, _, _)| c.priority == top)
            .map(|(_, _, f)| f.minor())
            .min()
            .unwrap_or(0);
        let mut health = lock(&self.health);
        for (c, admission, fee) in eligible {
            if c.priority < top {
                candidates.push(Candidate {
                    channel: c.channel.clone(),
                    eligible: false,
                    score: None,
                    fee: Some(fee),
                    detail: format!("priority {} below {top}", c.priority),
                });
                continue;
            }
            let rate = health
                .entry(c.channel.clone())
                .or_default()
                .success_rate(round.now_ms, &round.strategy.health);
            let (score, candidate) = scored_candidate(c, admission, fee, rate, cheapest, round);
            candidates.push(candidate);
            scored.push((c, admission, fee, score));
        }
        scored
    }

    /// The best-scored channel; scores within the tie tolerance of the best are a tie, broken
    /// by weight. Also returns the reasons so far.
    fn break_tie<'s, 'c>(
        &self,
        scored: &'s [Scored<'c>],
        top: i32,
        strategy: &Strategy,
    ) -> (&'s Scored<'c>, Vec<String>) {
        let best = scored
            .iter()
            .map(|(_, _, _, s)| *s)
            .fold(f64::NEG_INFINITY, f64::max);
        let tied: Vec<&Scored> = scored
            .iter()
            .filter(|(_, _, _, s)| *s >= best - strategy.tie_tolerance)
            .collect();
        let mut reasons = vec![format!("priority {top}")];
        let chosen = if tied.len() == 1 {
            tied[0]
        } else {
            let names: Vec<(&str, u32)> = tied
                .iter()
                .map(|(c, _, _, _)| (c.channel.as_str(), c.weight))
                .collect();
            let pick = self.weighted_pick(&names);
            reasons.push(format!(
                "tie among {} broken by weight",
                names
                    .iter()
                    .map(|(n, w)| format!("{n}({w})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            tied.iter()
                .find(|(c, _, _, _)| c.channel == pick)
                .copied()
                .unwrap_or(tied[0])
        };
        (chosen, reasons)
    }

    /// Smooth weighted round-robin (nginx): exact shares, no randomness.
    fn weighted_pick(&self, channels: &[(&str, u32)]) -> String {
        let mut rr = lock(&self.rr);
        let total: i64 = channels.iter().map(|(_, w)| i64::from(*w)).sum();
        let mut best: Option<(&str, i64)> = None;
        for (name, w) in channels {
            let cur = rr.entry((*name).to_string()).or_insert(0);
            *cur += i64::from(*w);
            if best.is_none_or(|(_, b)| *cur > b) {
                best = Some((name, *cur));
            }
        }
        let pick = best.map(|(n, _)| n.to_string()).unwrap_or_default();
        if let Some(cur) = rr.get_mut(&pick) {
            *cur -= total;
        }
        pick
    }

    /// Feeds the success rate and the circuit breaker. Call it after every channel call.
    pub fn record_outcome(&self, channel: &str, outcome: Outcome, latency: Duration) {
        let strategy = self.strategy();
        let now_ms = self.clock.unix_millis();
        let mut health = lock(&self.health);
        let h = health.entry(channel.to_string()).or_default();
        let before = h.state(now_ms, &strategy.health);
        h.record(now_ms, outcome, latency, &strategy.health);
        let after = h.state(now_ms, &strategy.health);
        if before != after {
            tracing::info!(target: "detail", channel, ?before, ?after, ?outcome,
                "channel circuit breaker changed");
        }
    }

    /// Remembers a successful payment: the payer's channel (stickiness) and the channel's
    /// monthly volume (cost tiers).
    pub async fn record_success(
        &self,
        channel: &str,
        payer_key: Option<&str>,
        amount: Money,
    ) -> Result<(), RoutingError> {
        let mut tx = self.db.begin().await?;
        self.record_success_in(&mut tx, channel, payer_key, amount)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Router::record_success`] inside the caller's transaction (the payment's own), so that
    /// it costs no commit of its own.
    pub async fn record_success_in(
        &self,
        tx: &mut dyn paycore_store::Conn,
        channel: &str,
        payer_key: Option<&str>,
        amount: Money,
    ) -> Result<(), RoutingError> {
        let month = config::month_of(self.clock.now());
        config::add_volume(tx, month, channel, amount).await?;
        if let Some(k) = payer_key {
            config::set_affinity(tx, self.clock.as_ref(), k, channel).await?;
        }
        Ok(())
    }

    pub async fn set_enabled(&self, channel: &str, enabled: bool) -> Result<(), RoutingError> {
        config::set_enabled(&self.db, self.clock.as_ref(), channel, enabled).await?;
        self.changed();
        tracing::info!(target: "detail", channel, enabled, "channel switch changed");
        Ok(())
    }

    pub async fn set_weight(&self, channel: &str, weight: u32) -> Result<(), RoutingError> {
        config::set_weight(&self.db, self.clock.as_ref(), channel, weight).await?;
        self.changed();
        tracing::info!(target: "detail", channel, weight, "channel weight changed");
        Ok(())
    }

    pub async fn set_priority(&self, channel: &str, priority: i32) -> Result<(), RoutingError> {
        config::set_priority(&self.db, self.clock.as_ref(), channel, priority).await?;
        self.changed();
        Ok(())
    }

    /// Adds a channel or replaces its whole configuration.
    pub async fn upsert_channel(&self, c: &ChannelConfig) -> Result<(), RoutingError> {
        config::upsert(&self.db, self.clock.as_ref(), c).await?;
        self.changed();
        Ok(())
    }

    /// Every configured channel with its switch, weight and live health.
    pub async fn list_channels(&self) -> Result<Vec<ChannelView>, RoutingError> {
        let configs = config::load_all(&self.db).await?;
        let strategy = self.strategy();
        let now_ms = self.clock.unix_millis();
        let mut health = lock(&self.health);
        Ok(configs
            .into_iter()
            .map(|c| {
                let h = health.entry(c.channel.clone()).or_default();
                ChannelView {
                    health: h.state(now_ms, &strategy.health),
                    success_rate: h.success_rate(now_ms, &strategy.health),
                    samples: h.samples(),
                    mean_latency_ms: h.mean_latency_ms(),
                    config: c,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod outcome_tests {
    use super::*;
    use crate::connector::{PayOutcome, CHANNEL_UNAVAILABLE};

    #[test]
    fn pay_outcomes_map_to_health() {
        let failed = |code: &str| PayOutcome::Failed {
            code: code.into(),
            message: String::new(),
            safe_to_retry_elsewhere: true,
        };
        assert_eq!(outcome_of(&failed(CHANNEL_UNAVAILABLE)), Outcome::Failure);
        assert_eq!(outcome_of(&failed("DECLINED")), Outcome::Declined);
        assert_eq!(
            outcome_of(&PayOutcome::Unknown { reason: "t".into() }),
            Outcome::Timeout
        );
    }
}

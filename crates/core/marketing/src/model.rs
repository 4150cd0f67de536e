//! Coupon templates and coupons as stored, the coupon's status machine, and the discount a
//! coupon gives a payment.

use std::cmp::Ordering;

use paycore_kernel::state::{Named, StateMachine};
use paycore_kernel::{Currency, Money, Rounding};
use paycore_store::state::{Stored, Table};
use paycore_store::Row;

use crate::MarketingError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponKind {
    /// `value` minor units off.
    Fixed,
    /// `value` percent off, at most `cap`.
    Percent,
}
paycore_kernel::named!(CouponKind { Fixed => "FIXED", Percent => "PERCENT" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CouponStatus {
    Available,
    Used,
    Expired,
}
paycore_kernel::named!(CouponStatus { Available => "available", Used => "used",
    Expired => "expired" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponEvent {
    Use,
    /// The payment it was used for was refunded in full or canceled.
    GiveBack,
    Expire,
}
paycore_kernel::named!(CouponEvent { Use => "use", GiveBack => "give_back", Expire => "expire" });

impl StateMachine for CouponStatus {
    type Event = CouponEvent;
    const INITIAL: &'static [Self] = &[CouponStatus::Available];
    const TRANSITIONS: &'static [(Self, CouponEvent, Self)] = &[
        (
            CouponStatus::Available,
            CouponEvent::Use,
            CouponStatus::Used,
        ),
        (
            CouponStatus::Used,
            CouponEvent::GiveBack,
            CouponStatus::Available,
        ),
        (
            CouponStatus::Available,
            CouponEvent::Expire,
            CouponStatus::Expired,
        ),
    ];
}

impl Stored for CouponStatus {
    const TABLE: Table = Table {
        machine: "coupon",
        table: "coupons",
        key: "coupon_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "coupon_history",
        history_key: "coupon_id",
    };
}

/// A coupon template as an operator defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub template_id: String,
    pub kind: CouponKind,
    /// Minor units off (`FIXED`) or percent off (`PERCENT`, 1 to 99).
    pub value: i64,
    /// The most a `PERCENT` coupon takes off (minor units).
    pub cap: Option<i64>,
    /// The least a payment must be for the coupon to apply (minor units; 0: any).
    pub threshold: i64,
    pub currency: Currency,
    pub valid_days: i64,
    /// Only payments to this merchant (none: any merchant).
    pub merchant_id: Option<String>,
    pub created_at: i64,
}

/// A coupon of a member's, with its template's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub coupon_id: String,
    pub member_id: String,
    pub status: CouponStatus,
    pub valid_from: i64,
    pub valid_until: i64,
    pub payment_id: Option<String>,
    pub template: Template,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Why a coupon does not apply to a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotApplicable {
    #[error("the coupon is {0}")]
    Status(&'static str),
    #[error("the coupon is not valid at this time")]
    OutsideValidity,
    #[error("the coupon is for payments in {0}")]
    Currency(Currency),
    #[error("the coupon applies from {0} minor units")]
    BelowThreshold(i64),
    #[error("the coupon is for another merchant")]
    OtherMerchant,
}

impl Coupon {
    /// What the coupon takes off a payment of `amount` to `merchant_id` at `now`: never more
    /// than the amount, for a percentage never more than its cap (rounded down to the minor
    /// unit, so the platform never gives more than it says).
    pub fn discount(
        &self,
        amount: Money,
        merchant_id: &str,
        now: i64,
    ) -> Result<Money, NotApplicable> {
        let t = &self.template;
        if self.status != CouponStatus::Available {
            return Err(NotApplicable::Status(self.status.as_str()));
        }
        if now < self.valid_from || now >= self.valid_until {
            return Err(NotApplicable::OutsideValidity);
        }
        if amount.currency() != t.currency {
            return Err(NotApplicable::Currency(t.currency));
        }
        if amount.minor() < t.threshold {
            return Err(NotApplicable::BelowThreshold(t.threshold));
        }
        if t.merchant_id.as_deref().is_some_and(|m| m != merchant_id) {
            return Err(NotApplicable::OtherMerchant);
        }
        let off = match t.kind {
            CouponKind::Fixed => Money::from_minor(t.value, t.currency),
            CouponKind::Percent => {
                let bps = u32::try_from(t.value * 100).unwrap_or(0);
                let raw = amount
                    .percent_bps(bps, Rounding::Down)
                    .unwrap_or(Money::zero(t.currency));
                match t.cap.map(|c| Money::from_minor(c, t.currency)) {
                    Some(cap) if raw.cmp_same(cap) == Ok(Ordering::Greater) => cap,
                    _ => raw,
                }
            }
        };
        Ok(match off.cmp_same(amount) {
            Ok(Ordering::Greater) => amount,
            _ => off,
        })
    }
}

pub(crate) const COUPON_COLUMNS: &str = "c.coupon_id, c.member_id, c.status, c.valid_from, \
    c.valid_until, c.payment_id, c.created_at, c.updated_at, t.template_id, t.kind, t.value, \
    t.cap, t.threshold, t.currency, t.valid_days, t.merchant_id, t.created_at AS template_at";

pub(crate) fn template_from_row(
    r: &sqlx::any::AnyRow,
    at: &str,
) -> Result<Template, MarketingError> {
    let corrupt = |w: &str| MarketingError::Corrupt(w.to_string());
    let kind: String = r.try_get("kind")?;
    Ok(Template {
        template_id: r.try_get("template_id")?,
        kind: CouponKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        value: r.try_get("value")?,
        cap: r.try_get("cap")?,
        threshold: r.try_get("threshold")?,
        currency: Currency::from_code(&r.try_get::<String, _>("currency")?)
            .map_err(|_| corrupt("currency"))?,
        valid_days: r.try_get("valid_days")?,
        merchant_id: r.try_get("merchant_id")?,
        created_at: r.try_get(at)?,
    })
}

pub(crate) fn coupon_from_row(r: &sqlx::any::AnyRow) -> Result<Coupon, MarketingError> {
    let status: String = r.try_get("status")?;
    Ok(Coupon {
        coupon_id: r.try_get("coupon_id")?,
        member_id: r.try_get("member_id")?,
        status: CouponStatus::parse(&status)
            .ok_or_else(|| MarketingError::Corrupt("coupon status".into()))?,
        valid_from: r.try_get("valid_from")?,
        valid_until: r.try_get("valid_until")?,
        payment_id: r.try_get("payment_id")?,
        template: template_from_row(r, "template_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

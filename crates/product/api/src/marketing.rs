//! Coupons: templates and issuance (operators), and a member's coupons.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::CurrencyCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CouponKindName {
    #[serde(rename = "FIXED")]
    Fixed,
    #[serde(rename = "PERCENT")]
    Percent,
}

/// `POST /admin/v1/coupon-templates`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCouponTemplate {
    pub kind: CouponKindName,
    /// `FIXED`: minor units off. `PERCENT`: percent off, 1 to 99.
    #[schema(minimum = 1)]
    pub value: i64,
    /// `PERCENT` only: the most it takes off (minor units).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub cap: Option<i64>,
    /// The least a payment must be for it to apply (minor units).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub threshold: Option<i64>,
    pub currency: CurrencyCode,
    /// How long an issued coupon is valid.
    #[schema(minimum = 1, maximum = 3650)]
    pub valid_days: i64,
    /// Only payments to this merchant (absent: any merchant).
    #[serde(default)]
    pub merchant_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponTemplateObject {
    pub template_id: String,
    pub kind: CouponKindName,
    pub value: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<i64>,
    pub threshold: i64,
    pub currency: CurrencyCode,
    pub valid_days: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    pub created_at: String,
}

/// `POST /admin/v1/coupons`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCoupon {
    pub template_id: String,
    pub member_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatusName {
    Available,
    Used,
    Expired,
}

/// A member's coupon with its terms.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponObject {
    pub coupon_id: String,
    pub template_id: String,
    pub member_id: String,
    pub kind: CouponKindName,
    pub value: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<i64>,
    pub threshold: i64,
    pub currency: CurrencyCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    pub status: CouponStatusName,
    pub valid_from: String,
    pub valid_until: String,
    /// The payment it was used for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// `GET /v1/members/me/coupons`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponList {
    pub coupons: Vec<CouponObject>,
}

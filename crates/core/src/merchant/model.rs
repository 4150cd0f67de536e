//! The merchant platform's records and their state machines.

use paycore_kernel::crypto::Algorithm;
use paycore_kernel::state::StateMachine;
use paycore_kernel::{Currency, Money};
use paycore_store::Row;
use serde::{Deserialize, Serialize};

use super::MerchantError;
use crate::product::{FeePlan, Product};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MerchantStatus {
    Onboarding,
    Active,
    Frozen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantEvent {
    Activate,
    Freeze,
    Unfreeze,
}

impl StateMachine for MerchantStatus {
    type Event = MerchantEvent;
    const TRANSITIONS: &'static [(Self, MerchantEvent, Self)] = &[
        (
            MerchantStatus::Onboarding,
            MerchantEvent::Activate,
            MerchantStatus::Active,
        ),
        (
            MerchantStatus::Onboarding,
            MerchantEvent::Freeze,
            MerchantStatus::Frozen,
        ),
        (
            MerchantStatus::Active,
            MerchantEvent::Freeze,
            MerchantStatus::Frozen,
        ),
        (
            MerchantStatus::Frozen,
            MerchantEvent::Unfreeze,
            MerchantStatus::Active,
        ),
    ];
}

impl MerchantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MerchantStatus::Onboarding => "onboarding",
            MerchantStatus::Active => "active",
            MerchantStatus::Frozen => "frozen",
        }
    }

    pub fn parse(s: &str) -> Result<Self, MerchantError> {
        match s {
            "onboarding" => Ok(MerchantStatus::Onboarding),
            "active" => Ok(MerchantStatus::Active),
            "frozen" => Ok(MerchantStatus::Frozen),
            other => Err(MerchantError::Invalid(format!(
                "unknown merchant status {other:?}"
            ))),
        }
    }
}

impl MerchantEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            MerchantEvent::Activate => "activate",
            MerchantEvent::Freeze => "freeze",
            MerchantEvent::Unfreeze => "unfreeze",
        }
    }

    pub fn parse(s: &str) -> Result<Self, MerchantError> {
        match s {
            "activate" => Ok(MerchantEvent::Activate),
            "freeze" => Ok(MerchantEvent::Freeze),
            "unfreeze" => Ok(MerchantEvent::Unfreeze),
            other => Err(MerchantError::Invalid(format!(
                "unknown event {other:?} (activate, freeze, unfreeze)"
            ))),
        }
    }

    /// The state this event leads to, wherever it is accepted.
    pub fn target(self) -> MerchantStatus {
        match self {
            MerchantEvent::Activate | MerchantEvent::Unfreeze => MerchantStatus::Active,
            MerchantEvent::Freeze => MerchantStatus::Frozen,
        }
    }
}

/// Know-your-business data. Every field is optional while onboarding; activation needs the
/// legal name, registration number, country and a contact e-mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kyb {
    pub legal_name: Option<String>,
    pub registration_number: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub address: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub website: Option<String>,
    /// ISO 18245 merchant category code, four digits.
    pub mcc: Option<String>,
}

impl Kyb {
    pub fn validate(&self) -> Result<(), MerchantError> {
        let bad = |m: &str| Err(MerchantError::Invalid(m.to_string()));
        let fields = [
            &self.legal_name,
            &self.registration_number,
            &self.country,
            &self.address,
            &self.contact_email,
            &self.contact_phone,
            &self.website,
            &self.mcc,
        ];
        if fields.iter().any(|f| {
            f.as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.len() > 256)
        }) {
            return bad("KYB fields must be 1 to 256 characters");
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return bad("country must be an ISO 3166-1 alpha-2 code such as CN");
            }
        }
        if let Some(e) = &self.contact_email {
            let ok = e
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !ok {
                return bad("contact_email is not an e-mail address");
            }
        }
        if let Some(m) = &self.mcc {
            if m.len() != 4 || !m.bytes().all(|b| b.is_ascii_digit()) {
                return bad("mcc must be four digits");
            }
        }
        Ok(())
    }

    pub fn require_complete(&self) -> Result<(), MerchantError> {
        let missing: Vec<&str> = [
            ("legal_name", &self.legal_name),
            ("registration_number", &self.registration_number),
            ("country", &self.country),
            ("contact_email", &self.contact_email),
        ]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(MerchantError::Invalid(format!(
                "KYB incomplete, missing: {}",
                missing.join(", ")
            )))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub merchant_id: String,
    pub name: String,
    pub status: MerchantStatus,
    pub kyb: Kyb,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(super) fn merchant_from_row(r: &sqlx::any::AnyRow) -> Result<Merchant, MerchantError> {
    Ok(Merchant {
        merchant_id: r.try_get("merchant_id")?,
        name: r.try_get("name")?,
        status: MerchantStatus::parse(&r.try_get::<String, _>("status")?)?,
        kyb: Kyb {
            legal_name: r.try_get("legal_name")?,
            registration_number: r.try_get("registration_number")?,
            country: r.try_get("country")?,
            address: r.try_get("address")?,
            contact_email: r.try_get("contact_email")?,
            contact_phone: r.try_get("contact_phone")?,
            website: r.try_get("website")?,
            mcc: r.try_get("mcc")?,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantKey {
    pub key_id: String,
    pub merchant_id: String,
    pub algorithm: Algorithm,
    pub public_key_pem: Option<String>,
    pub status: KeyStatus,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractStatus {
    Enabled,
    Disabled,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Enabled => "enabled",
            ContractStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, MerchantError> {
        match s {
            "enabled" => Ok(ContractStatus::Enabled),
            "disabled" => Ok(ContractStatus::Disabled),
            other => Err(MerchantError::Invalid(format!(
                "unknown contract status {other:?} (enabled, disabled)"
            ))),
        }
    }
}

/// What a merchant and the platform agreed for one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractTerms {
    pub fee_rate_bps: u32,
    /// The fixed fee; its currency is also the currency of the amount limits.
    pub fixed_fee: Money,
    /// Smallest and largest single payment, minor units of the fixed fee's currency.
    pub min_amount: Option<i64>,
    pub max_amount: Option<i64>,
    pub status: ContractStatus,
}

impl ContractTerms {
    pub fn validate(&self) -> Result<(), MerchantError> {
        let bad = |m: &str| Err(MerchantError::Invalid(m.to_string()));
        if self.fee_rate_bps > 10_000 {
            return bad("fee_rate_bps must be between 0 and 10000");
        }
        if self.fixed_fee.is_negative() {
            return bad("fixed_fee must not be negative");
        }
        if self.min_amount.is_some_and(|v| v <= 0) || self.max_amount.is_some_and(|v| v <= 0) {
            return bad("amount limits must be positive");
        }
        if let (Some(lo), Some(hi)) = (self.min_amount, self.max_amount) {
            if lo > hi {
                return bad("min_amount is above max_amount");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub contract_id: String,
    pub merchant_id: String,
    pub product: Product,
    pub fee_rate_bps: u32,
    pub fixed_fee: Money,
    pub min_amount: Option<i64>,
    pub max_amount: Option<i64>,
    pub status: ContractStatus,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Contract {
    pub fn terms(&self) -> ContractTerms {
        ContractTerms {
            fee_rate_bps: self.fee_rate_bps,
            fixed_fee: self.fixed_fee,
            min_amount: self.min_amount,
            max_amount: self.max_amount,
            status: self.status,
        }
    }

    pub fn fee_plan(&self) -> FeePlan {
        FeePlan {
            rate_bps: self.fee_rate_bps,
            fixed: self.fixed_fee,
        }
    }
}

pub(super) const CONTRACT_COLUMNS: &str = "contract_id, merchant_id, product, fee_rate_bps, \
    fixed_fee, fee_currency, min_amount, max_amount, status, version, created_at, updated_at";

pub(super) fn contract_from_row(r: &sqlx::any::AnyRow) -> Result<Contract, MerchantError> {
    let currency = Currency::from_code(&r.try_get::<String, _>("fee_currency")?)?;
    let product: String = r.try_get("product")?;
    let rate: i64 = r.try_get("fee_rate_bps")?;
    Ok(Contract {
        contract_id: r.try_get("contract_id")?,
        merchant_id: r.try_get("merchant_id")?,
        product: product
            .parse()
            .map_err(|e: crate::product::UnknownProduct| MerchantError::Invalid(e.to_string()))?,
        fee_rate_bps: u32::try_from(rate)
            .map_err(|_| MerchantError::Invalid("stored fee rate out of range".into()))?,
        fixed_fee: Money::from_minor(r.try_get("fixed_fee")?, currency),
        min_amount: r.try_get("min_amount")?,
        max_amount: r.try_get("max_amount")?,
        status: ContractStatus::parse(&r.try_get::<String, _>("status")?)?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_move_lands_on_the_events_target() {
        for (_, event, to) in MerchantStatus::TRANSITIONS {
            assert_eq!(event.target(), *to);
        }
        assert!(MerchantStatus::Frozen
            .next(MerchantEvent::Activate)
            .is_none());
    }

    #[test]
    fn kyb_checks_fields() {
        let mut k = Kyb {
            country: Some("cn".into()),
            ..Kyb::default()
        };
        assert!(k.validate().is_err());
        k.country = Some("CN".into());
        assert!(k.validate().is_ok());
        assert!(k.require_complete().is_err());
        k.contact_email = Some("nope".into());
        assert!(k.validate().is_err());
    }
}

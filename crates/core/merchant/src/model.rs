//! The merchant platform's records and their state machines.

use paycore_kernel::state::{Named, StateMachine};
use paycore_store::state::{Stored, Table};
use paycore_store::Row;
use serde::{Deserialize, Serialize};

use super::MerchantError;

/// A stored name of one of the merchant platform's enums; an unknown one is corrupt data.
pub(crate) fn stored<T: Named>(what: &str, s: &str) -> Result<T, MerchantError> {
    T::parse(s).ok_or_else(|| MerchantError::Corrupt(format!("{what} {s:?}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MerchantStatus {
    Onboarding,
    Active,
    Frozen,
}
paycore_kernel::named!(MerchantStatus { Onboarding => "onboarding", Active => "active",
    Frozen => "frozen" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantEvent {
    Activate,
    Freeze,
    Unfreeze,
}
paycore_kernel::named!(MerchantEvent { Activate => "activate", Freeze => "freeze",
    Unfreeze => "unfreeze" });

impl StateMachine for MerchantStatus {
    type Event = MerchantEvent;
    /// Production starts merchants onboarding; sandbox mode starts them active.
    const INITIAL: &'static [Self] = &[MerchantStatus::Onboarding, MerchantStatus::Active];
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

impl Stored for MerchantStatus {
    const TABLE: Table = Table {
        machine: "merchant",
        table: "merchants",
        key: "merchant_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "merchant_status_history",
        history_key: "merchant_id",
    };
}

impl MerchantEvent {
    pub fn parse(s: &str) -> Result<Self, MerchantError> {
        <Self as Named>::parse(s).ok_or_else(|| {
            MerchantError::Invalid(format!("unknown event {s:?} (activate, freeze, unfreeze)"))
        })
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
            f.as_ref().is_some_and(|v| {
                v.trim().is_empty() || v.len() > 256 || v.chars().any(char::is_control)
            })
        }) {
            return bad("KYB fields must be 1 to 256 printable characters");
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
        status: stored("merchant status", &r.try_get::<String, _>("status")?)?,
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

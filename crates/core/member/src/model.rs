//! A member as stored, its status machine, and the phone number rules.

use paycore_kernel::state::{Named, StateMachine};
use paycore_store::state::{Stored, Table};
use paycore_store::Row;

use crate::MemberError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    Active,
    Frozen,
    Closed,
}
paycore_kernel::named!(MemberStatus { Active => "active", Frozen => "frozen", Closed => "closed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberEvent {
    Freeze,
    Unfreeze,
    Close,
}
paycore_kernel::named!(MemberEvent { Freeze => "freeze", Unfreeze => "unfreeze", Close => "close" });

impl StateMachine for MemberStatus {
    type Event = MemberEvent;
    const INITIAL: &'static [Self] = &[MemberStatus::Active];
    const TRANSITIONS: &'static [(Self, MemberEvent, Self)] = &[
        (
            MemberStatus::Active,
            MemberEvent::Freeze,
            MemberStatus::Frozen,
        ),
        (
            MemberStatus::Frozen,
            MemberEvent::Unfreeze,
            MemberStatus::Active,
        ),
        (
            MemberStatus::Active,
            MemberEvent::Close,
            MemberStatus::Closed,
        ),
        (
            MemberStatus::Frozen,
            MemberEvent::Close,
            MemberStatus::Closed,
        ),
    ];
}

impl Stored for MemberStatus {
    const TABLE: Table = Table {
        machine: "member",
        table: "members",
        key: "member_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "member_status_history",
        history_key: "member_id",
    };
}

/// A member as the platform shows it (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub phone: String,
    pub status: MemberStatus,
    pub real_name_verified: bool,
    pub has_pay_password: bool,
    /// Minor units of `password_free_currency`; 0: every payment asks for the pay password.
    pub password_free_limit: i64,
    pub password_free_currency: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const MEMBER_COLUMNS: &str = "member_id, phone, status, pay_password_mac, \
    real_name_verified_at, password_free_limit, password_free_currency, created_at, updated_at";

impl Member {
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, MemberError> {
        let status: String = r.try_get("status")?;
        Ok(Member {
            member_id: r.try_get("member_id")?,
            phone: r.try_get("phone")?,
            status: MemberStatus::parse(&status)
                .ok_or_else(|| MemberError::Corrupt(format!("member status {status:?}")))?,
            real_name_verified: r
                .try_get::<Option<i64>, _>("real_name_verified_at")?
                .is_some(),
            has_pay_password: r
                .try_get::<Option<String>, _>("pay_password_mac")?
                .is_some(),
            password_free_limit: r.try_get("password_free_limit")?,
            password_free_currency: r.try_get("password_free_currency")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    pub fn masked_phone(&self) -> String {
        mask_phone(&self.phone)
    }

    /// Refuses a member that is not active (frozen or closed).
    pub fn require_active_member(&self) -> Result<(), MemberError> {
        self.require_active()
    }

    pub(crate) fn require_active(&self) -> Result<(), MemberError> {
        match self.status {
            MemberStatus::Active => Ok(()),
            other => Err(MemberError::NotActive(other.as_str().into())),
        }
    }
}

/// A phone number as members register with: a mainland mobile number (11 digits starting with
/// 1 and 3–9), or `+` and 8 to 15 digits. Spaces and dashes are dropped.
pub(crate) fn normalize_phone(raw: &str) -> Result<String, MemberError> {
    let p: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mainland =
        p.len() == 11 && p.starts_with('1') && matches!(p.as_bytes()[1], b'3'..=b'9') && digits(&p);
    let international = p
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && digits(d));
    if mainland || international {
        Ok(p)
    } else {
        Err(MemberError::Invalid(
            "phone must be a mobile number (11 digits, 1[3-9]…) or + and 8 to 15 digits".into(),
        ))
    }
}

pub use paycore_kernel::pii::mask_phone;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalized_checked_and_masked() {
        assert_eq!(normalize_phone("138 0013-8000").unwrap(), "13800138000");
        assert_eq!(normalize_phone("+85291234567").unwrap(), "+85291234567");
        for bad in [
            "12800138000",
            "1380013800",
            "+1234567",
            "abc",
            "",
            "138001380001",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }
}

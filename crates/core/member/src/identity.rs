//! The real-name check (实名认证): a name and a resident identity number, checked by an
//! identity service (the sandbox's in sandbox mode), then kept sealed, never in clear.

use paycore_store::sealed::{Encoding, SealedColumn};

use crate::{Member, MemberError, Members};

/// What the identity service says of a name and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityCheck {
    Matched,
    /// The number exists but belongs to someone else (or to no one).
    Mismatch,
}

#[async_trait::async_trait]
pub trait IdentityService: Send + Sync {
    async fn check(&self, name: &str, id_number: &str) -> Result<IdentityCheck, String>;
}

/// A resident identity number (GB 11643): 17 digits and a check character (a digit or X) by
/// ISO 7064 MOD 11-2, with a birth date between 1900 and 2099 in digits 7 to 14.
pub fn check_id_number(id: &str) -> Result<String, MemberError> {
    let bad = |why: &str| MemberError::Invalid(format!("id_number {why}"));
    let id = id.trim().to_ascii_uppercase();
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return Err(bad("must be 17 digits and a check digit or X"));
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    if b[17] != check {
        return Err(bad("has a wrong check digit"));
    }
    let num = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (num(6..10), num(10..12), num(12..14));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if !(1900..=2099).contains(&year) || day == 0 || day > days {
        return Err(bad("has no valid birth date"));
    }
    Ok(id)
}

fn identity_context(member_id: &str) -> String {
    format!("member_identity:{member_id}")
}

/// The members' sealed identities, for `paycore keys` to count and re-seal.
pub const SEALED_IDENTITY: SealedColumn = SealedColumn {
    table: "members",
    key: "member_id",
    column: "identity_sealed",
    encoding: Encoding::Blob,
    context: identity_context,
};

impl Members {
    /// Checks the member's real name with the identity service; on a match the name and
    /// number are kept sealed and the member is real-name verified.
    pub async fn verify_real_name(
        &self,
        member_id: &str,
        name: &str,
        id_number: &str,
    ) -> Result<Member, MemberError> {
        let name = name.trim();
        let n = name.chars().count();
        if !(2..=30).contains(&n) || name.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
            return Err(MemberError::Invalid("name must be 2 to 30 letters".into()));
        }
        let id_number = check_id_number(id_number)?;
        let m = self.get(member_id).await?;
        m.require_active()?;
        if m.real_name_verified {
            return Err(MemberError::InvalidState(
                "the real name is verified already".into(),
            ));
        }
        let answer =
            self.identity.check(name, &id_number).await.map_err(|e| {
                MemberError::Unavailable(format!("the identity service failed: {e}"))
            })?;
        if answer == IdentityCheck::Mismatch {
            return Err(MemberError::Verification(
                "the name and identity number do not match".into(),
            ));
        }
        let identity = format!("{name}\n{id_number}");
        let sealed = self
            .vault
            .seal(&identity_context(member_id), identity.as_bytes())?;
        let q = sqlx::query(
            "UPDATE members SET identity_sealed = $1, real_name_verified_at = $2, updated_at = $2
             WHERE member_id = $3 AND real_name_verified_at IS NULL AND status = $4",
        )
        .bind(sealed)
        .bind(self.now())
        .bind(member_id)
        .bind(crate::MemberStatus::Active.as_str());
        if self.db.execute(q).await?.rows_affected() == 0 {
            return Err(MemberError::InvalidState(
                "the real name is verified already".into(),
            ));
        }
        self.get(member_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::check_id_number;

    #[test]
    fn identity_numbers_are_checked_by_their_check_digit_and_date() {
        // The standard's own example number, and one ending in X.
        assert!(check_id_number("11010519491231002X").is_ok());
        assert!(
            check_id_number("110105194912310021").is_err(),
            "wrong check digit"
        );
        assert_eq!(
            check_id_number("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        for bad in [
            "",
            "1101051949123100",
            "11010519491331002X",
            "abcdefghijklmnopqr",
        ] {
            assert!(check_id_number(bad).is_err(), "{bad}");
        }
    }
}

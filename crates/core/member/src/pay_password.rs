//! The pay password (6 digits, keyed by the pepper, locked after repeated wrong tries) and the
//! password-free limit under which a payment does not ask for it.

use std::cmp::Ordering;

use paycore_kernel::{Currency, Money};
use paycore_store::Row;

use crate::otp::SmsPurpose;
use crate::pepper::same;
use crate::{millis, Member, MemberError, Members};

/// Six digits, not all the same, not a run up or down.
fn check_rules(pay_password: &str) -> Result<(), MemberError> {
    let d = pay_password.as_bytes();
    if d.len() != 6 || !d.iter().all(u8::is_ascii_digit) {
        return Err(MemberError::Invalid("pay_password must be 6 digits".into()));
    }
    let steps: Vec<i16> = d
        .windows(2)
        .map(|w| i16::from(w[1]) - i16::from(w[0]))
        .collect();
    if steps.iter().all(|s| *s == 0)
        || steps.iter().all(|s| *s == 1)
        || steps.iter().all(|s| *s == -1)
    {
        return Err(MemberError::Invalid(
            "pay_password is too easy to guess (repeated or consecutive digits)".into(),
        ));
    }
    Ok(())
}

impl Members {
    /// Sets (or changes) the pay password, confirmed by a code sent for `pay_password`.
    pub async fn set_pay_password(
        &self,
        member_id: &str,
        pay_password: &str,
        sms_code: &str,
    ) -> Result<Member, MemberError> {
        check_rules(pay_password)?;
        let m = self.get(member_id).await?;
        m.require_active()?;
        self.check_code(&m.phone, SmsPurpose::PayPassword, sms_code)
            .await?;
        let mac = self
            .pepper
            .mac("pay_password", &[member_id, pay_password])
            .await?;
        let q = sqlx::query(
            "UPDATE members SET pay_password_mac = $1, pay_password_failures = 0,
                pay_password_locked_until = 0, updated_at = $2 WHERE member_id = $3",
        )
        .bind(mac)
        .bind(self.now())
        .bind(member_id);
        self.db.execute(q).await?;
        self.get(member_id).await
    }

    /// Checks a pay password. The answer is decided by one atomic update that counts the try:
    /// a right password clears the count, a wrong one adds to it and the one that reaches the
    /// limit locks — in the same statement, so parallel guesses cannot get past the limit, and
    /// a guess made while locked (or once the count is full) is refused without being judged.
    pub async fn check_pay_password(
        &self,
        member_id: &str,
        pay_password: &str,
    ) -> Result<(), MemberError> {
        let now = self.now();
        let limit = self.config.pay_password_failures;
        let row = sqlx::query("SELECT pay_password_mac FROM members WHERE member_id = $1")
            .bind(member_id)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or(MemberError::NotFound)?;
        let Some(stored) = row.try_get::<Option<String>, _>("pay_password_mac")? else {
            return Err(MemberError::InvalidState("no pay password is set".into()));
        };
        let mac = self
            .pepper
            .mac("pay_password", &[member_id, pay_password])
            .await?;
        let right = same(&mac, &stored);
        let lock_until = now + millis(self.config.pay_password_lock);
        let mut tx = self.db.begin().await?;
        let counted = sqlx::query(
            "UPDATE members SET
                pay_password_failures = CASE WHEN $1 = 1 THEN 0
                    WHEN pay_password_failures + 1 >= $2 THEN 0
                    ELSE pay_password_failures + 1 END,
                pay_password_locked_until = CASE WHEN $1 = 0 AND pay_password_failures + 1 >= $2
                    THEN $3 ELSE pay_password_locked_until END
             WHERE member_id = $4 AND pay_password_locked_until <= $5
               AND pay_password_failures < $2
             RETURNING pay_password_failures, pay_password_locked_until",
        )
        .bind(i64::from(right))
        .bind(limit)
        .bind(lock_until)
        .bind(member_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(counted) = counted else {
            return Err(self.locked(member_id, now).await?);
        };
        let locked_until: i64 = counted.try_get("pay_password_locked_until")?;
        match right {
            true => Ok(()),
            false if locked_until > now => Err(MemberError::PayPasswordLocked {
                minutes: crate::minutes(locked_until - now),
            }),
            false => Err(MemberError::Verification(format!(
                "wrong pay password ({} tries left)",
                limit - counted.try_get::<i64, _>("pay_password_failures")?
            ))),
        }
    }

    async fn locked(&self, member_id: &str, now: i64) -> Result<MemberError, MemberError> {
        let row = sqlx::query("SELECT pay_password_locked_until FROM members WHERE member_id = $1")
            .bind(member_id)
            .fetch_one(self.db.writer())
            .await?;
        let until: i64 = row.try_get("pay_password_locked_until")?;
        Ok(MemberError::PayPasswordLocked {
            minutes: crate::minutes(until.max(now + 1) - now),
        })
    }

    /// What moving `amount` of `member`'s money needs: the pay password, unless the amount is
    /// within the member's password-free limit (a password given anyway is checked).
    pub async fn authorize_payment(
        &self,
        member: &Member,
        amount: Money,
        pay_password: Option<&str>,
    ) -> Result<(), MemberError> {
        match pay_password {
            Some(p) => self.check_pay_password(&member.member_id, p).await,
            None if member.needs_pay_password(amount) => Err(MemberError::Invalid(
                "pay_password is required for this amount".into(),
            )),
            None => Ok(()),
        }
    }

    /// Payments up to `limit` go without the pay password (0: every payment asks for it).
    pub async fn set_password_free_limit(
        &self,
        member_id: &str,
        limit: Money,
    ) -> Result<Member, MemberError> {
        let max = Money::from_minor(self.config.max_password_free, Currency::CNY);
        let too_high = limit.currency() != Currency::CNY
            || limit.is_negative()
            || limit.cmp_same(max).map_or(true, |o| o == Ordering::Greater);
        if too_high {
            return Err(MemberError::Invalid(format!(
                "the password-free limit is in CNY, from 0 to {}",
                max.to_major_string()
            )));
        }
        let m = self.get(member_id).await?;
        m.require_active()?;
        let q = sqlx::query(
            "UPDATE members SET password_free_limit = $1, password_free_currency = $2,
                updated_at = $3 WHERE member_id = $4",
        )
        .bind(limit.minor())
        .bind(limit.currency().code())
        .bind(self.now())
        .bind(member_id);
        self.db.execute(q).await?;
        self.get(member_id).await
    }
}

impl Member {
    /// Whether a payment of `amount` needs the pay password.
    pub fn needs_pay_password(&self, amount: Money) -> bool {
        let within = amount.currency().code() == self.password_free_currency
            && amount
                .cmp_same(Money::from_minor(
                    self.password_free_limit,
                    amount.currency(),
                ))
                .is_ok_and(|o| o != Ordering::Greater);
        !within || self.password_free_limit == 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn easy_pay_passwords_are_refused() {
        for bad in ["111111", "123456", "654321", "12345", "12a456", "1234567"] {
            assert!(super::check_rules(bad).is_err(), "{bad}");
        }
        for good in ["135790", "202612", "112233"] {
            assert!(super::check_rules(good).is_ok(), "{good}");
        }
    }
}

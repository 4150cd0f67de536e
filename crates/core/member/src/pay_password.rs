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

    /// Checks a pay password. Each check first reserves a try (one atomic update that fails
    /// once the limit is used up or the lock is on), so parallel guesses cannot get past the
    /// limit; the try that uses up the limit locks the pay password for a while.
    pub async fn check_pay_password(
        &self,
        member_id: &str,
        pay_password: &str,
    ) -> Result<(), MemberError> {
        let now = self.now();
        let limit = self.config.pay_password_failures;
        // The try's own number comes back with the reservation: the one that reaches the
        // limit, and only it, locks.
        let mut tx = self.db.begin().await?;
        let reserved = sqlx::query(
            "UPDATE members SET pay_password_failures = pay_password_failures + 1
             WHERE member_id = $1 AND pay_password_mac IS NOT NULL
               AND pay_password_locked_until <= $2 AND pay_password_failures < $3
             RETURNING pay_password_mac, pay_password_failures",
        )
        .bind(member_id)
        .bind(now)
        .bind(limit)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(reserved) = reserved else {
            let row = sqlx::query(
                "SELECT pay_password_mac, pay_password_locked_until FROM members
                 WHERE member_id = $1",
            )
            .bind(member_id)
            .fetch_optional(self.db.writer())
            .await?
            .ok_or(MemberError::NotFound)?;
            if row
                .try_get::<Option<String>, _>("pay_password_mac")?
                .is_none()
            {
                return Err(MemberError::InvalidState("no pay password is set".into()));
            }
            let locked_until: i64 = row.try_get("pay_password_locked_until")?;
            return Err(MemberError::PayPasswordLocked {
                minutes: crate::minutes(locked_until.max(now + 1) - now),
            });
        };
        let stored: String = reserved.try_get("pay_password_mac")?;
        let failures: i64 = reserved.try_get("pay_password_failures")?;
        let mac = self
            .pepper
            .mac("pay_password", &[member_id, pay_password])
            .await?;
        if same(&mac, &stored) {
            let q =
                sqlx::query("UPDATE members SET pay_password_failures = 0 WHERE member_id = $1")
                    .bind(member_id);
            self.db.execute(q).await?;
            return Ok(());
        }
        if failures >= limit {
            let q = sqlx::query(
                "UPDATE members SET pay_password_locked_until = $1, pay_password_failures = 0
                 WHERE member_id = $2 AND pay_password_failures >= $3",
            )
            .bind(now + millis(self.config.pay_password_lock))
            .bind(member_id)
            .bind(limit);
            self.db.execute(q).await?;
            return Err(MemberError::PayPasswordLocked {
                minutes: i64::try_from(self.config.pay_password_lock.as_secs() / 60).unwrap_or(0),
            });
        }
        Err(MemberError::Verification(format!(
            "wrong pay password ({} tries left)",
            limit - failures
        )))
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

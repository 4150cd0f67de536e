//! One-time SMS codes: 6 digits, a few minutes, a few tries, used once, and only so many per
//! phone. The code itself travels only to the phone; the platform keeps its MAC.

use paycore_kernel::crypto::random_bytes;
use paycore_store::Row;

use crate::pepper::same;
use crate::{millis, MemberError, Members};

/// What a code is for: a code sent for one purpose never confirms another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsPurpose {
    /// Setting or changing the pay password.
    PayPassword,
    /// Confirming a payment that risk challenged.
    Payment,
    /// Signing an agreement a merchant asked for.
    Agreement,
}
paycore_kernel::named!(SmsPurpose { PayPassword => "pay_password", Payment => "payment",
    Agreement => "agreement" });

impl SmsPurpose {
    pub fn parse_field(s: &str) -> Result<Self, MemberError> {
        <Self as paycore_kernel::state::Named>::parse(s).ok_or_else(|| {
            MemberError::Invalid(format!(
                "purpose must be pay_password, payment or agreement (not {s:?})"
            ))
        })
    }
}

/// Sends a text message to a phone (the sandbox SMS gateway in sandbox mode).
#[async_trait::async_trait]
pub trait SmsGateway: Send + Sync {
    async fn send(&self, phone: &str, message: &str, code: Option<&str>) -> Result<(), String>;
}

/// A uniformly random 6-digit code.
fn new_code() -> Result<String, MemberError> {
    loop {
        let n = u32::from_be_bytes(random_bytes::<4>()?);
        // 4_294_000_000 is the largest multiple of a million below 2^32: no digit is likelier.
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

impl Members {
    /// Sends a new code for `purpose` to `phone`, within the phone's send rate: one per
    /// interval, so many a day. Returns when the code expires.
    pub async fn send_code(&self, phone: &str, purpose: SmsPurpose) -> Result<i64, MemberError> {
        let now = self.now();
        let recent = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(created_at), 0) AS last FROM member_sms_codes
             WHERE phone = $1 AND created_at > $2",
        )
        .bind(phone)
        .bind(now - 86_400_000)
        .fetch_one(self.db.reader())
        .await?;
        let (n, last): (i64, i64) = (recent.try_get("n")?, recent.try_get("last")?);
        let wait = last + millis(self.config.sms_interval) - now;
        if wait > 0 {
            return Err(MemberError::RateLimited(format!(
                "a code was sent to this phone a moment ago; ask again in {} s",
                (wait + 999) / 1000
            )));
        }
        if n >= self.config.sms_per_day {
            return Err(MemberError::RateLimited(
                "this phone has had as many codes as it may today".into(),
            ));
        }
        let code = new_code()?;
        let expires_at = now + millis(self.config.sms_ttl);
        let mac = self
            .pepper
            .mac("sms", &[phone, purpose.as_str(), &code])
            .await?;
        let insert = sqlx::query(
            "INSERT INTO member_sms_codes (phone, purpose, code_mac, attempts, expires_at,
                created_at) VALUES ($1, $2, $3, 0, $4, $5)",
        )
        .bind(phone)
        .bind(purpose.as_str())
        .bind(mac)
        .bind(expires_at)
        .bind(now);
        self.db.execute(insert).await?;
        let minutes = self.config.sms_ttl.as_secs() / 60;
        let message = format!(
            "[paycore] Your verification code is {code}. It expires in {minutes} minutes. \
             Never tell it to anyone."
        );
        self.sms
            .send(phone, &message, Some(&code))
            .await
            .map_err(|e| MemberError::Unavailable(format!("the SMS could not be sent: {e}")))?;
        Ok(expires_at)
    }

    /// Uses up the newest code for `purpose` sent to `phone` if `code` is it. A wrong code
    /// counts a try; after the last try, or past its expiry, the code is dead.
    pub async fn check_code(
        &self,
        phone: &str,
        purpose: SmsPurpose,
        code: &str,
    ) -> Result<(), MemberError> {
        let dead = || MemberError::Verification("the SMS code is wrong or has expired".into());
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MemberError::Invalid("sms_code must be 6 digits".into()));
        }
        let now = self.now();
        let row = sqlx::query(
            "SELECT id, code_mac, attempts, expires_at, used_at FROM member_sms_codes
             WHERE phone = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(phone)
        .bind(purpose.as_str())
        .fetch_optional(self.db.writer())
        .await?
        .ok_or_else(dead)?;
        let id: i64 = row.try_get("id")?;
        let attempts: i64 = row.try_get("attempts")?;
        let used: Option<i64> = row.try_get("used_at")?;
        if used.is_some() || attempts >= self.config.sms_attempts {
            return Err(dead());
        }
        if row.try_get::<i64, _>("expires_at")? <= now {
            return Err(dead());
        }
        let mac = self
            .pepper
            .mac("sms", &[phone, purpose.as_str(), code])
            .await?;
        let right = same(&mac, &row.try_get::<String, _>("code_mac")?);
        // One compare-and-set on the try count: two uses of one code, or more tries than
        // allowed, cannot both pass, even at the same instant.
        let q = sqlx::query(
            "UPDATE member_sms_codes SET attempts = attempts + 1,
                used_at = CASE WHEN $1 = 1 THEN $2 ELSE used_at END
             WHERE id = $3 AND attempts = $4 AND used_at IS NULL",
        )
        .bind(i64::from(right))
        .bind(now)
        .bind(id)
        .bind(attempts);
        let moved = self.db.execute(q).await?.rows_affected() == 1;
        if right && moved {
            Ok(())
        } else {
            Err(dead())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = super::new_code().unwrap();
            assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
    }
}

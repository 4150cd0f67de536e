//! Registration, login and logout: login passwords hashed with argon2id, bearer tokens kept by
//! their SHA-256, expiring, revoked at logout, and a lock after repeated wrong passwords.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use paycore_kernel::crypto::{constant_time_eq, random_bytes, random_token, sha256_hex};
use paycore_kernel::BizType;
use paycore_store::Row;

use crate::model::{normalize_phone, MEMBER_COLUMNS};
use crate::{millis, Member, MemberError, MemberStatus, Members};

/// A login: the bearer token (shown once) and when it stops working.
#[derive(Debug, Clone)]
pub struct LoginToken {
    pub token: String,
    pub expires_at: i64,
}

/// Who a token belongs to, while it is good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSession {
    pub member_id: String,
    pub expires_at: i64,
}

fn check_password_rules(password: &str) -> Result<(), MemberError> {
    let n = password.chars().count();
    let letters = password.chars().any(char::is_alphabetic);
    let digits = password.chars().any(|c| c.is_ascii_digit());
    if !(8..=64).contains(&n) || !letters || !digits || password.chars().any(char::is_control) {
        return Err(MemberError::Invalid(
            "password must be 8 to 64 characters with letters and digits".into(),
        ));
    }
    Ok(())
}

impl Members {
    fn argon2(&self, memory: u32, passes: u32) -> Result<Argon2<'static>, MemberError> {
        let params = Params::new(memory, passes, 1, Some(32))
            .map_err(|e| MemberError::Corrupt(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// `argon2id$m=…,t=…$salt$hash`: the parameters travel with the hash, so that they can be
    /// raised later without locking anyone out.
    fn hash_password(&self, password: &str) -> Result<String, MemberError> {
        let (m, t) = (self.config.argon2_memory_kib, self.config.argon2_passes);
        let salt = random_bytes::<16>()?;
        let mut out = [0u8; 32];
        self.argon2(m, t)?
            .hash_password_into(password.as_bytes(), &salt, &mut out)
            .map_err(|e| MemberError::Corrupt(format!("argon2: {e}")))?;
        Ok(format!(
            "argon2id$m={m},t={t}${}${}",
            B64.encode(salt),
            B64.encode(out)
        ))
    }

    fn password_matches(&self, password: &str, stored: &str) -> Result<bool, MemberError> {
        let bad = || MemberError::Corrupt("a stored password hash".into());
        let parts: Vec<&str> = stored.split('$').collect();
        let [alg, params, salt, hash] = parts[..] else {
            return Err(bad());
        };
        let (m, t) = params
            .split_once(',')
            .and_then(|(m, t)| Some((m.strip_prefix("m=")?, t.strip_prefix("t=")?)))
            .and_then(|(m, t)| Some((m.parse().ok()?, t.parse().ok()?)))
            .filter(|_| alg == "argon2id")
            .ok_or_else(bad)?;
        let (salt, hash) = (
            B64.decode(salt).map_err(|_| bad())?,
            B64.decode(hash).map_err(|_| bad())?,
        );
        let mut out = vec![0u8; hash.len()];
        self.argon2(m, t)?
            .hash_password_into(password.as_bytes(), &salt, &mut out)
            .map_err(|_| bad())?;
        Ok(constant_time_eq(&out, &hash))
    }

    /// Registers a payer. The phone is the login; one member per phone.
    pub async fn register(&self, phone: &str, password: &str) -> Result<Member, MemberError> {
        let phone = normalize_phone(phone)?;
        check_password_rules(password)?;
        let hash = self.hash_password(password)?;
        let id = self.ids.next(BizType::Member, &phone).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO members (member_id, phone, status, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (phone) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(&phone)
        .bind(MemberStatus::Active.as_str())
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(MemberError::PhoneTaken);
        }
        paycore_store::state::created(&mut tx, id.as_str(), MemberStatus::Active, "member", now)
            .await?;
        tx.commit().await?;
        self.get(id.as_str()).await
    }

    pub async fn get(&self, member_id: &str) -> Result<Member, MemberError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE member_id = $1"
        )))
        .bind(member_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MemberError::NotFound)?;
        Member::from_row(&row)
    }

    pub async fn by_phone(&self, phone: &str) -> Result<Member, MemberError> {
        let phone = normalize_phone(phone)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE phone = $1"
        )))
        .bind(phone)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MemberError::NotFound)?;
        Member::from_row(&row)
    }

    /// Checks the phone and password and opens a session. Wrong passwords in a row lock the
    /// login for a while (the lock answers before the password is looked at).
    pub async fn login(&self, phone: &str, password: &str) -> Result<LoginToken, MemberError> {
        let phone = normalize_phone(phone).map_err(|_| MemberError::BadCredentials)?;
        let now = self.now();
        let row = sqlx::query(
            "SELECT member_id, status, password_hash, login_failures, login_locked_until
             FROM members WHERE phone = $1",
        )
        .bind(&phone)
        .fetch_optional(self.db.writer())
        .await?;
        let Some(row) = row else {
            // As slow as a real check, so that timing does not tell who is registered.
            let _ = self.hash_password(password);
            return Err(MemberError::BadCredentials);
        };
        let member_id: String = row.try_get("member_id")?;
        let locked_until: i64 = row.try_get("login_locked_until")?;
        if locked_until > now {
            return Err(MemberError::LoginLocked {
                minutes: crate::minutes(locked_until - now),
            });
        }
        let stored: String = row.try_get("password_hash")?;
        if !self.password_matches(password, &stored)? {
            self.login_failed(&member_id, row.try_get("login_failures")?, now)
                .await?;
            return Err(MemberError::BadCredentials);
        }
        let status: String = row.try_get("status")?;
        if status != MemberStatus::Active.as_str() {
            return Err(MemberError::NotActive(status));
        }
        self.open_session(&member_id, now).await
    }

    async fn login_failed(
        &self,
        member_id: &str,
        failures: i64,
        now: i64,
    ) -> Result<(), MemberError> {
        let failures = failures + 1;
        let (failures, until) = if failures >= self.config.login_failures {
            (0, now + millis(self.config.login_lock))
        } else {
            (failures, 0)
        };
        let q = sqlx::query(
            "UPDATE members SET login_failures = $1, login_locked_until = $2 WHERE member_id = $3",
        )
        .bind(failures)
        .bind(until)
        .bind(member_id);
        self.db.execute(q).await?;
        Ok(())
    }

    async fn open_session(&self, member_id: &str, now: i64) -> Result<LoginToken, MemberError> {
        let token = format!("mt_{}", random_token(40)?);
        let expires_at = now + millis(self.config.token_ttl);
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE members SET login_failures = 0 WHERE member_id = $1")
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO member_tokens (token_hash, member_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(sha256_hex(token.as_bytes()))
        .bind(member_id)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(LoginToken { token, expires_at })
    }

    /// The member a bearer token belongs to, if it is unexpired and not revoked.
    pub async fn session(&self, token: &str) -> Result<MemberSession, MemberError> {
        let hash = sha256_hex(token.as_bytes());
        let found = match self.sessions.get(&hash) {
            Some(s) => s,
            None => {
                let ticket = self.sessions.ticket();
                // Only an active member's tokens work: a frozen or closed one's stop.
                let row = sqlx::query(
                    "SELECT t.member_id, t.expires_at FROM member_tokens t
                     JOIN members m ON m.member_id = t.member_id
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND m.status = $2",
                )
                .bind(&hash)
                .bind(MemberStatus::Active.as_str())
                .fetch_optional(self.db.reader())
                .await?;
                let s = match row {
                    Some(r) => Some(MemberSession {
                        member_id: r.try_get("member_id")?,
                        expires_at: r.try_get("expires_at")?,
                    }),
                    None => None,
                };
                self.sessions.put(hash, s.clone(), ticket);
                s
            }
        };
        found
            .filter(|s| s.expires_at > self.now())
            .ok_or(MemberError::Unauthenticated)
    }

    /// Revokes a token: it stops working at once on this node, within seconds on the others.
    pub async fn logout(&self, token: &str) -> Result<(), MemberError> {
        let hash = sha256_hex(token.as_bytes());
        let q = sqlx::query(
            "UPDATE member_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(self.now())
        .bind(&hash);
        self.db.execute(q).await?;
        self.sessions.retain(|k| k != &hash);
        Ok(())
    }
}

//! Merchant API keys: public keys (RSA2, Ed25519) the merchant signs with, and HMAC secrets the
//! platform generates, shows once and keeps sealed. A merchant may hold several active keys at
//! once, so a key can be rotated without downtime.

use paycore_kernel::crypto::{random_token, sha256_hex, Algorithm, VerifyingKey};
use paycore_kernel::{BizType, Secret};
use paycore_store::sealed::{Encoding, SealedColumn};
use paycore_store::Row;

use paycore_kernel::state::StateMachine;
use paycore_store::state::{Stored, Table, Transition, TransitionError};

use crate::cache::Missing;
use crate::model::stored;
use crate::{MerchantError, MerchantStatus, Merchants};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Revoked,
}
paycore_kernel::named!(KeyStatus { Active => "active", Revoked => "revoked" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    Revoke,
}
paycore_kernel::named!(KeyEvent { Revoke => "revoke" });

impl StateMachine for KeyStatus {
    type Event = KeyEvent;
    const INITIAL: &'static [Self] = &[KeyStatus::Active];
    const TRANSITIONS: &'static [(Self, KeyEvent, Self)] =
        &[(KeyStatus::Active, KeyEvent::Revoke, KeyStatus::Revoked)];
}

impl Stored for KeyStatus {
    const TABLE: Table = Table {
        machine: "merchant key",
        table: "merchant_keys",
        key: "key_id",
        status: "status",
        updated_at: None,
        history: "merchant_key_history",
        history_key: "key_id",
    };
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

pub enum NewKey<'a> {
    PublicKey { algorithm: Algorithm, pem: &'a str },
    Hmac,
}

/// What the gateway needs to authenticate a request.
#[derive(Debug, Clone)]
pub struct AuthKey {
    pub merchant_status: MerchantStatus,
    pub key: VerifyingKey,
}

fn seal_context(key_id: &str) -> String {
    format!("merchant_key:{key_id}")
}

/// The column of sealed HMAC secrets, for `paycore keys` to count and re-seal.
pub const SEALED: SealedColumn = SealedColumn {
    table: "merchant_keys",
    key: "key_id",
    column: "secret_sealed",
    encoding: Encoding::Blob,
    context: seal_context,
};

fn key_from_row(r: &sqlx::any::AnyRow) -> Result<MerchantKey, MerchantError> {
    let alg: String = r.try_get("algorithm")?;
    let status: String = r.try_get("status")?;
    Ok(MerchantKey {
        key_id: r.try_get("key_id")?,
        merchant_id: r.try_get("merchant_id")?,
        algorithm: alg.parse()?,
        public_key_pem: r.try_get("public_key_pem")?,
        status: stored("key status", &status)?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

const KEY_COLUMNS: &str =
    "key_id, merchant_id, algorithm, public_key_pem, status, created_at, revoked_at";

impl Merchants {
    /// Adds a key. A public key the merchant already registered is returned as it is
    /// (`created` false). For HMAC the generated secret is returned this once.
    pub async fn add_key(
        &self,
        merchant_id: &str,
        new: NewKey<'_>,
    ) -> Result<(MerchantKey, Option<Secret<String>>, bool), MerchantError> {
        self.get(merchant_id).await?;
        let (algorithm, pem, fingerprint, secret) = match new {
            NewKey::PublicKey { algorithm, pem } => {
                if algorithm == Algorithm::HmacSha256 {
                    return Err(MerchantError::Invalid(
                        "HMAC-SHA256 keys take no public_key_pem".into(),
                    ));
                }
                // Parse to refuse a malformed, mismatched or too-short key now, not at first use.
                VerifyingKey::from_public_pem(algorithm, pem)
                    .map_err(|e| MerchantError::Invalid(e.to_string()))?;
                let (_, der) = paycore_kernel::crypto::pem_decode(pem)?;
                (
                    algorithm,
                    Some(pem.trim().to_string() + "\n"),
                    sha256_hex(&der),
                    None,
                )
            }
            NewKey::Hmac => {
                let secret = random_token(48)?;
                let fp = sha256_hex(secret.as_bytes());
                (Algorithm::HmacSha256, None, fp, Some(Secret::new(secret)))
            }
        };
        if secret.is_none() {
            if let Some(existing) = self.key_by_fingerprint(merchant_id, &fingerprint).await? {
                return Ok((existing, None, false));
            }
        }
        let key_id = self
            .ids
            .next(BizType::MerchantKey, merchant_id)
            .await?
            .to_string();
        let sealed = match &secret {
            Some(s) => Some(
                self.vault
                    .seal(&seal_context(&key_id), s.expose().as_bytes())?,
            ),
            None => None,
        };
        let inserted = sqlx::query(
            "INSERT INTO merchant_keys (key_id, merchant_id, algorithm, public_key_pem, fingerprint,
                secret_sealed, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $8, $7)
             ON CONFLICT (merchant_id, fingerprint) DO NOTHING",
        )
        .bind(&key_id)
        .bind(merchant_id)
        .bind(algorithm.as_str())
        .bind(pem.as_deref())
        .bind(&fingerprint)
        .bind(sealed)
        .bind(self.now())
        .bind(KeyStatus::Active.as_str());
        let inserted = self.db.execute(inserted).await?;
        if inserted.rows_affected() == 0 {
            // A concurrent request registered the same public key first.
            let existing = self
                .key_by_fingerprint(merchant_id, &fingerprint)
                .await?
                .ok_or(MerchantError::Concurrent)?;
            return Ok((existing, None, false));
        }
        // A lookup of this key before it existed may be cached as unknown.
        self.caches.forget(merchant_id);
        let key = self.key(merchant_id, &key_id).await?;
        Ok((key, secret, true))
    }

    async fn key_by_fingerprint(
        &self,
        merchant_id: &str,
        fingerprint: &str,
    ) -> Result<Option<MerchantKey>, MerchantError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM merchant_keys WHERE merchant_id = $1 AND fingerprint = $2"
        )))
        .bind(merchant_id)
        .bind(fingerprint)
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    pub async fn key(&self, merchant_id: &str, key_id: &str) -> Result<MerchantKey, MerchantError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM merchant_keys WHERE merchant_id = $1 AND key_id = $2"
        )))
        .bind(merchant_id)
        .bind(key_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MerchantError::KeyNotFound)?;
        key_from_row(&row)
    }

    pub async fn keys(&self, merchant_id: &str) -> Result<Vec<MerchantKey>, MerchantError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM merchant_keys WHERE merchant_id = $1 ORDER BY id"
        )))
        .bind(merchant_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key: requests signed with it are refused from now on. Idempotent.
    pub async fn revoke_key(
        &self,
        merchant_id: &str,
        key_id: &str,
        actor: &str,
    ) -> Result<MerchantKey, MerchantError> {
        let key = self.key(merchant_id, key_id).await?;
        if key.status == KeyStatus::Active {
            let now = self.now();
            let mut tx = self.db.begin().await?;
            match Transition::new(KeyStatus::Active, KeyEvent::Revoke, now)
                .by(actor)
                .set("revoked_at", now)
                .guard("merchant_id", merchant_id)
                .apply(&mut tx, key_id)
                .await
            {
                Ok(_) => tx.commit().await?,
                // Revoked meanwhile by someone else: the same end.
                Err(TransitionError::Lost { .. }) => tx.rollback().await?,
                Err(e) => return Err(e.into()),
            }
        }
        self.caches.forget(merchant_id);
        self.key(merchant_id, key_id).await
    }

    /// The merchant's status and the active key that verifies its request.
    /// `NotFound` for an unknown merchant, `KeyNotFound` for an unknown or revoked key.
    pub async fn auth_key(
        &self,
        merchant_id: &str,
        key_id: &str,
    ) -> Result<AuthKey, MerchantError> {
        let cache_key = (merchant_id.to_owned(), key_id.to_owned());
        let missing = |m: Missing| match m {
            Missing::Merchant => MerchantError::NotFound,
            Missing::Key => MerchantError::KeyNotFound,
        };
        if let Some(k) = self.caches.keys.get(&cache_key) {
            return k.map_err(missing);
        }
        let ticket = self.caches.keys.ticket();
        let row = sqlx::query(
            "SELECT m.status AS merchant_status, k.algorithm, k.public_key_pem, k.secret_sealed,
                    k.status AS key_status
             FROM merchants m LEFT JOIN merchant_keys k
               ON k.merchant_id = m.merchant_id AND k.key_id = $2
             WHERE m.merchant_id = $1",
        )
        .bind(merchant_id)
        .bind(key_id)
        .fetch_optional(self.db.reader())
        .await?;
        let Some(row) = row else {
            self.caches
                .keys
                .put(cache_key, Err(Missing::Merchant), ticket);
            return Err(MerchantError::NotFound);
        };
        let merchant_status = stored(
            "merchant status",
            &row.try_get::<String, _>("merchant_status")?,
        )?;
        let key_status: Option<String> = row.try_get("key_status")?;
        if key_status.as_deref() != Some(KeyStatus::Active.as_str()) {
            self.caches.keys.put(cache_key, Err(Missing::Key), ticket);
            return Err(MerchantError::KeyNotFound);
        }
        let algorithm: Algorithm = row.try_get::<String, _>("algorithm")?.parse()?;
        let key = match algorithm {
            Algorithm::HmacSha256 => {
                let sealed: Vec<u8> = row.try_get("secret_sealed")?;
                let secret = self.vault.open(&seal_context(key_id), &sealed)?;
                VerifyingKey::Hmac(secret)
            }
            _ => {
                let pem: String = row.try_get("public_key_pem")?;
                VerifyingKey::from_public_pem(algorithm, &pem)?
            }
        };
        let auth = AuthKey {
            merchant_status,
            key,
        };
        self.caches.keys.put(cache_key, Ok(auth.clone()), ticket);
        Ok(auth)
    }
}

//! The platform's signing keys and the signature on every `/v1` response:
//! headers `Paycore-Key-Id`, `Paycore-Timestamp`, `Paycore-Nonce`, `Paycore-Signature` over
//! `timestamp + "\n" + nonce + "\n" + BODY + "\n"`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_kernel::crypto::{random_token, PlatformSigner, Vault};
use paycore_kernel::Clock;
use paycore_store::sealed::{Encoding, SealedColumn};
use paycore_store::{Db, Row, StoreError};

use paycore_api::merchant::PublishedKey;

use crate::error::ApiError;
use crate::AppState;

/// A platform key's status: `active` keys sign now; `retired` ones still verify what they
/// signed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformKeyStatus {
    Active,
    Retired,
}
paycore_kernel::named!(PlatformKeyStatus { Active => "active", Retired => "retired" });

pub struct PlatformKeys {
    key_id: String,
    signer: PlatformSigner,
    published: Vec<PublishedKey>,
}

type KeyRow = (String, String, String, String, Vec<u8>);

#[derive(Debug, thiserror::Error)]
pub enum PlatformKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] paycore_kernel::crypto::CryptoError),
}

impl From<sqlx::Error> for PlatformKeyError {
    fn from(e: sqlx::Error) -> Self {
        PlatformKeyError::Store(e.into())
    }
}

fn seal_context(key_id: &str) -> String {
    format!("platform_key:{key_id}")
}

/// The column of sealed platform signing keys, for `paycore keys` to count and re-seal.
pub const SEALED: SealedColumn = SealedColumn {
    table: "platform_keys",
    key: "key_id",
    column: "private_sealed",
    encoding: Encoding::Blob,
    context: seal_context,
};

impl PlatformKeys {
    /// Loads the platform's keys, creating the first one on a new database. Every node signs
    /// with the oldest active key, so nodes that start together agree.
    pub async fn load_or_create(
        db: &Db,
        vault: &Vault,
        clock: &dyn Clock,
    ) -> Result<Arc<Self>, PlatformKeyError> {
        let active = PlatformKeyStatus::Active.as_str();
        if Self::rows(db).await?.iter().all(|r| r.3 != active) {
            let signer = PlatformSigner::generate()?;
            let key_id = format!("pk-{}", random_token(16)?);
            let sealed = vault.seal(&seal_context(&key_id), signer.pkcs8().expose())?;
            sqlx::query(
                "INSERT INTO platform_keys (key_id, algorithm, public_key_pem, private_sealed,
                    status, created_at) VALUES ($1, $5, $2, $3, $6, $4)",
            )
            .bind(&key_id)
            .bind(signer.public_key_pem())
            .bind(sealed)
            .bind(clock.unix_millis())
            .bind(paycore_kernel::crypto::Algorithm::Ed25519.as_str())
            .bind(active)
            .execute(db.writer())
            .await?;
        }
        let rows = Self::rows(db).await?;
        let (key_id, _, _, _, sealed) = rows
            .iter()
            .find(|r| r.3 == active)
            .ok_or_else(|| StoreError::Corrupt("no active platform key".into()))?;
        let pkcs8 = vault.open(&seal_context(key_id), sealed)?;
        let signer = PlatformSigner::from_pkcs8(pkcs8.expose())?;
        let published = rows
            .iter()
            .map(published)
            .collect::<Result<Vec<_>, PlatformKeyError>>()?;
        Ok(Arc::new(Self {
            key_id: key_id.clone(),
            signer,
            published,
        }))
    }

    async fn rows(db: &Db) -> Result<Vec<KeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, algorithm, public_key_pem, status, private_sealed FROM platform_keys
             ORDER BY id",
        )
        .fetch_all(db.writer())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("key_id")?,
                    r.try_get("algorithm")?,
                    r.try_get("public_key_pem")?,
                    r.try_get("status")?,
                    r.try_get("private_sealed")?,
                ))
            })
            .collect()
    }

    pub fn published(&self) -> Vec<PublishedKey> {
        self.published.clone()
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// (timestamp, nonce, base64 signature) for a body.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> (String, String, String) {
        let ts = timestamp.to_string();
        let nonce = random_token(24).unwrap_or_else(|_| "0".repeat(24));
        let mut msg = Vec::with_capacity(ts.len() + nonce.len() + body.len() + 3);
        msg.extend_from_slice(ts.as_bytes());
        msg.push(b'\n');
        msg.extend_from_slice(nonce.as_bytes());
        msg.push(b'\n');
        msg.extend_from_slice(body);
        msg.push(b'\n');
        let sig = B64.encode(self.signer.sign(&msg));
        (ts, nonce, sig)
    }
}

fn published(row: &KeyRow) -> Result<PublishedKey, PlatformKeyError> {
    let (key_id, algorithm, pem, status, _) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("platform key {key_id}: {what}"));
    let algorithm: paycore_kernel::crypto::Algorithm =
        algorithm.parse().map_err(|_| corrupt("algorithm"))?;
    let status = match paycore_kernel::state::Named::parse(status.as_str()) {
        Some(PlatformKeyStatus::Active) => paycore_api::merchant::PlatformKeyStatus::Active,
        Some(PlatformKeyStatus::Retired) => paycore_api::merchant::PlatformKeyStatus::Retired,
        None => return Err(corrupt("status").into()),
    };
    Ok(PublishedKey {
        key_id: key_id.clone(),
        algorithm: crate::views::algorithm(algorithm),
        public_key_pem: pem.clone(),
        status,
    })
}

/// Signs every response that passes through (the `/v1` routes).
pub async fn sign_responses(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let (ts, nonce, sig) = app.platform.sign(app.clock.unix_seconds(), &bytes);
    let h = &mut parts.headers;
    for (name, value) in [
        ("paycore-key-id", app.platform.key_id()),
        ("paycore-timestamp", ts.as_str()),
        ("paycore-nonce", nonce.as_str()),
        ("paycore-signature", sig.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Notifications to merchants carry the same platform signature as responses.
pub struct NotificationSigner {
    pub keys: Arc<PlatformKeys>,
    pub clock: Arc<dyn Clock>,
}

impl paycore_notify::NotificationSigner for NotificationSigner {
    fn sign(&self, body: &[u8]) -> Vec<(String, String)> {
        let (ts, nonce, sig) = self.keys.sign(self.clock.unix_seconds(), body);
        vec![
            ("Paycore-Key-Id".into(), self.keys.key_id().to_string()),
            ("Paycore-Timestamp".into(), ts),
            ("Paycore-Nonce".into(), nonce),
            ("Paycore-Signature".into(), sig),
        ]
    }
}

//! Operators of the back office (运营): bearer tokens with roles, the record of idempotent
//! operator requests (`Idempotency-Key`), and the audit trail of what operators did. The HTTP
//! guard in front of `/admin/v1` is the gateway's; the records are here.

mod audit;
mod requests;

pub use audit::{AuditEntry, NewAudit};
pub use requests::{Replay, StoredResponse};

use std::collections::HashMap;
use std::sync::Mutex;

use paycore_kernel::crypto::{random_token, sha256_hex, CryptoError};
use paycore_kernel::named;
use paycore_kernel::state::Named;
use paycore_store::migrate::{Migration, Schema};
use paycore_store::{Db, Row, StoreError};

/// The operators' tables.
pub const SCHEMA: Schema = Schema {
    component: "operators",
    migrations: &[Migration {
        version: 1,
        name: "operators",
        sql: include_str!("../migrations/0001_operators.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Invalid(String),
    #[error("Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still in progress")]
    InProgress,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for OperatorError {
    fn from(e: sqlx::Error) -> Self {
        OperatorError::Store(e.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}
named!(Role { Admin => "admin", Operator => "operator", Viewer => "viewer" });

#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub role: Role,
}

/// Operator tokens, stored as SHA-256 hashes (a token is a 40-character random string, so a
/// fast hash is enough; nothing to brute-force).
pub struct Operators {
    db: Db,
    cache: Mutex<HashMap<String, Operator>>,
}

impl Operators {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Registers `token` (from `PAYCORE_ADMIN_TOKEN`, or one made by the CLI) unless it is
    /// known already.
    pub async fn ensure(
        &self,
        name: &str,
        token: &str,
        role: Role,
        now: i64,
    ) -> Result<(), OperatorError> {
        sqlx::query(
            "INSERT INTO operators (name, token_hash, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(name)
        .bind(sha256_hex(token.as_bytes()))
        .bind(role.as_str())
        .bind(now)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    /// A new operator with a fresh token (returned, to be shown once).
    pub async fn add(&self, name: &str, role: Role, now: i64) -> Result<String, OperatorError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(OperatorError::Invalid(
                "an operator's name is 1 to 64 printable characters".into(),
            ));
        }
        let token = random_token(40)?;
        self.ensure(name, &token, role, now).await?;
        Ok(token)
    }

    /// On a database without operators, creates an admin and returns its token (shown once).
    pub async fn bootstrap(&self, now: i64) -> Result<Option<String>, OperatorError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM operators")
            .fetch_one(self.db.writer())
            .await?
            .try_get("n")?;
        if n > 0 {
            return Ok(None);
        }
        Ok(Some(self.add("admin", Role::Admin, now).await?))
    }

    /// The operator a token belongs to.
    pub async fn find(&self, token: &str) -> Result<Option<Operator>, OperatorError> {
        let hash = sha256_hex(token.as_bytes());
        if let Some(op) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(Some(op.clone()));
        }
        let row = sqlx::query("SELECT name, role FROM operators WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(self.db.reader())
            .await?;
        let op = match row {
            Some(r) => {
                let role: String = r.try_get("role")?;
                let role = Role::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("operator role {role:?}")))?;
                Some(Operator {
                    name: r.try_get("name")?,
                    role,
                })
            }
            None => None,
        };
        if let Some(op) = &op {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(hash, op.clone());
        }
        Ok(op)
    }
}

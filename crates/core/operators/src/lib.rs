//! Operators of the back office (运营): bearer tokens with roles, the record of idempotent
//! operator requests (`Idempotency-Key`), and the audit trail of what operators did. The HTTP
//! guard in front of `/admin/v1` is the gateway's; the records are here.

mod audit;
mod requests;
mod roles;
mod tokens;

pub use audit::{
    append_alone as audit_append, companion as audit_companion, AuditCheck, AuditEntry, NewAudit,
};
pub use requests::{Replay, StoredResponse};
pub use roles::{Permission, Role};
pub use tokens::{check_strength, Operator, OperatorEvent, OperatorStatus, TOKEN_CACHE};

use paycore_kernel::cache::TtlCache;
use paycore_kernel::crypto::CryptoError;
use paycore_store::migrate::{Migration, Schema};
use paycore_store::{Db, StoreError};

/// The operators' tables.
pub const SCHEMA: Schema = Schema {
    component: "operators",
    migrations: &[
        Migration {
            version: 1,
            name: "operators",
            sql: include_str!("../migrations/0001_operators.sql"),
        },
        Migration {
            version: 2,
            name: "operator access",
            sql: include_str!("../migrations/0002_operator_access.sql"),
        },
        Migration {
            version: 3,
            name: "audit chain",
            sql: include_str!("../migrations/0003_audit_chain.sql"),
        },
        Migration {
            version: 4,
            name: "audit append-only",
            sql: include_str!("../migrations/0004_audit_append_only.sql"),
        },
    ],
};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such operator")]
    NotFound,
    #[error("{0}")]
    InvalidState(String),
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

/// Operators and their tokens (stored as SHA-256 hashes: a token is a long random string, so
/// a fast hash is enough; there is nothing to brute-force), with a short-lived cache of lookups.
pub struct Operators {
    db: Db,
    cache: TtlCache<String, Option<Operator>>,
}

impl Operators {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: TtlCache::new(tokens::TOKEN_CACHE),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

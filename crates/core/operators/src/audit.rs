//! The audit trail: one row per operator action, newest first when read.

use paycore_store::{Row, StoreError};

use crate::{OperatorError, Operators};

/// What an operator did, to be recorded.
pub struct NewAudit<'a> {
    pub operator: &'a str,
    /// `METHOD /path`.
    pub action: &'a str,
    /// The HTTP status of the answer.
    pub outcome: &'a str,
    /// The request body (truncated), secrets removed by the caller.
    pub detail: &'a str,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub operator: String,
    pub action: String,
    pub outcome: String,
    pub detail: String,
    pub at: i64,
}

impl Operators {
    pub async fn audit(&self, a: &NewAudit<'_>) -> Result<(), OperatorError> {
        sqlx::query(
            "INSERT INTO audit_log (operator, action, target, detail, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(a.operator)
        .bind(a.action)
        .bind(a.outcome)
        .bind(a.detail)
        .bind(a.at)
        .execute(self.db().writer())
        .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, OperatorError> {
        let rows = sqlx::query(
            "SELECT operator, action, target, detail, at FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.db().reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    operator: r.try_get("operator")?,
                    action: r.try_get("action")?,
                    outcome: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| OperatorError::Store(StoreError::from(e)))
    }
}

//! The audit trail: one row per operator call (succeeded, refused or forbidden) and per command
//! line action that changes data; newest first when read.

use paycore_store::{Row, StoreError};

use crate::{OperatorError, Operators};

/// What an operator did, to be recorded.
pub struct NewAudit<'a> {
    /// The operator's id (`-` when the caller could not be authenticated; `cli:<user>` for the
    /// command line).
    pub operator: &'a str,
    pub role: &'a str,
    /// The client's address (empty for the command line).
    pub client: &'a str,
    /// `METHOD /path` as called (for the command line: the command).
    pub action: &'a str,
    /// The route template (`POST /admin/v1/merchants/{merchant_id}/status` has route
    /// `/admin/v1/merchants/{merchant_id}/status`).
    pub route: &'a str,
    /// What the call acted on: the values of the route's parameters.
    pub target: &'a str,
    /// The HTTP status of the answer (for the command line: `ok` or the error).
    pub outcome: &'a str,
    /// The request body (truncated), secrets removed by the caller.
    pub detail: &'a str,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub operator: String,
    pub role: String,
    pub client: String,
    pub action: String,
    pub route: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub at: i64,
}

impl Operators {
    pub async fn audit(&self, a: &NewAudit<'_>) -> Result<(), OperatorError> {
        sqlx::query(
            "INSERT INTO audit_log (operator, role, client, action, route, target, outcome,
                detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(a.operator)
        .bind(a.role)
        .bind(a.client)
        .bind(a.action)
        .bind(a.route)
        .bind(a.target)
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
            "SELECT operator, role, client, action, route, target, outcome, detail, at
             FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.db().reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    operator: r.try_get("operator")?,
                    role: r.try_get("role")?,
                    client: r.try_get("client")?,
                    action: r.try_get("action")?,
                    route: r.try_get("route")?,
                    target: r.try_get("target")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| OperatorError::Store(StoreError::from(e)))
    }
}

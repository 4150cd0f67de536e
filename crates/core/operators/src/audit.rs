//! The audit trail: one row per operator call (succeeded, refused or forbidden) and per command
//! line action that changes data; newest first when read. Append-only and hash-chained: each row
//! carries the hash of the one before and its own over its fields, and `audit_head` the newest,
//! so that [`Operators::verify_audit`] finds a row changed, removed or inserted.

use paycore_kernel::crypto::sha256_hex;
use paycore_store::{Row, StoreError};
use serde::Serialize;

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

/// What [`Operators::verify_audit`] found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditCheck {
    pub rows: i64,
    /// Rows written before the chain existed (unchained, all before it).
    pub legacy: i64,
    pub problems: Vec<String>,
}

/// A row's hash: over the previous row's hash and its fields, in a fixed order.
fn row_hash(prev: &str, e: &AuditEntry) -> String {
    let fields = serde_json::json!([
        prev, e.operator, e.role, e.client, e.action, e.route, e.target, e.outcome, e.detail, e.at
    ]);
    sha256_hex(fields.to_string().as_bytes())
}

/// Attempts at appending when other writers keep moving the head.
const APPEND_TRIES: usize = 50;

impl Operators {
    /// Appends a row after the newest one: the head moves by compare-and-set, so two writers
    /// never chain onto the same row (the loser tries again on the new head).
    pub async fn audit(&self, a: &NewAudit<'_>) -> Result<(), OperatorError> {
        let entry = AuditEntry {
            operator: a.operator.into(),
            role: a.role.into(),
            client: a.client.into(),
            action: a.action.into(),
            route: a.route.into(),
            target: a.target.into(),
            outcome: a.outcome.into(),
            detail: a.detail.into(),
            at: a.at,
        };
        for _ in 0..APPEND_TRIES {
            let prev: String = sqlx::query("SELECT hash FROM audit_head WHERE id = 1")
                .fetch_one(self.db().writer())
                .await?
                .try_get("hash")?;
            let hash = row_hash(&prev, &entry);
            let mut tx = self.db().begin().await?;
            let moved = sqlx::query(
                "UPDATE audit_head SET hash = $1, entries = entries + 1 WHERE id = 1 AND hash = $2",
            )
            .bind(&hash)
            .bind(&prev)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                tx.rollback().await?;
                continue;
            }
            sqlx::query(
                "INSERT INTO audit_log (operator, role, client, action, route, target, outcome,
                    detail, at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&entry.operator)
            .bind(&entry.role)
            .bind(&entry.client)
            .bind(&entry.action)
            .bind(&entry.route)
            .bind(&entry.target)
            .bind(&entry.outcome)
            .bind(&entry.detail)
            .bind(entry.at)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(());
        }
        Err(OperatorError::Store(StoreError::Corrupt(
            "the audit head kept moving: too many concurrent writers".into(),
        )))
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
        rows.iter().map(entry).collect()
    }

    /// Walks the whole trail: every chained row's hash over its predecessor and fields, legacy
    /// rows only before the chain, and the head at the newest row.
    pub async fn verify_audit(&self) -> Result<AuditCheck, OperatorError> {
        let rows = sqlx::query(
            "SELECT id, operator, role, client, action, route, target, outcome, detail, at,
                prev_hash, hash FROM audit_log ORDER BY id",
        )
        .fetch_all(self.db().reader())
        .await?;
        let mut check = AuditCheck {
            rows: rows.len() as i64,
            legacy: 0,
            problems: Vec::new(),
        };
        let mut last = String::new();
        let mut chained = 0i64;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let (prev, hash): (String, String) = (r.try_get("prev_hash")?, r.try_get("hash")?);
            if hash.is_empty() && chained == 0 {
                check.legacy += 1;
                continue;
            }
            chained += 1;
            if prev != last {
                check
                    .problems
                    .push(format!("row {id}: does not follow the row before it"));
            }
            if row_hash(&prev, &entry(r)?) != hash {
                check
                    .problems
                    .push(format!("row {id}: its fields do not match its hash"));
            }
            last = hash;
        }
        let head = sqlx::query("SELECT hash, entries FROM audit_head WHERE id = 1")
            .fetch_one(self.db().reader())
            .await?;
        let (head_hash, head_rows): (String, i64) =
            (head.try_get("hash")?, head.try_get("entries")?);
        if head_hash != last || head_rows != chained {
            check.problems.push(format!(
                "the head names {head_rows} chained rows ending {head_hash:.12}, the trail has \
                 {chained} ending {last:.12}: rows were removed or added outside the chain"
            ));
        }
        Ok(check)
    }
}

fn entry(r: &sqlx::any::AnyRow) -> Result<AuditEntry, OperatorError> {
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
}

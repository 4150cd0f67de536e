//! The audit trail: one row per operator call (succeeded, refused or forbidden) and per command
//! line action that changes data; newest first when read. Append-only and hash-chained: each row
//! carries the hash of the one before and its own over its fields, and `audit_head` the newest,
//! so that [`Operators::verify_audit`] finds a row changed, removed or inserted.

use paycore_kernel::crypto::sha256_hex;
use paycore_store::unit::companion::CompanionWrite;
use paycore_store::{Conn, Row, StoreError};
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

impl NewAudit<'_> {
    pub fn to_entry(&self) -> AuditEntry {
        AuditEntry {
            operator: self.operator.into(),
            role: self.role.into(),
            client: self.client.into(),
            action: self.action.into(),
            route: self.route.into(),
            target: self.target.into(),
            outcome: self.outcome.into(),
            detail: self.detail.into(),
            at: self.at,
        }
    }
}

/// Appends a row after the newest one, on the connection of the transaction it belongs to —
/// so that it commits or rolls back with the change it records. The head is moved first: on
/// PostgreSQL that holds the head's row lock to the end of the transaction, so two writers
/// never chain onto the same row; on SQLite the transaction holds the database. `call_ref`
/// names the row for [`Operators::audited`].
pub async fn append(
    conn: &mut dyn Conn,
    e: &AuditEntry,
    call_ref: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE audit_head SET entries = entries + 1 WHERE id = 1",
        &[],
    )
    .await?;
    let prev = conn
        .fetch_optional("SELECT hash FROM audit_head WHERE id = 1", &[])
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit head is missing".into()))?
        .text("hash")?;
    let hash = row_hash(&prev, e);
    conn.execute(
        "INSERT INTO audit_log (operator, role, client, action, route, target, outcome, detail,
            at, prev_hash, hash, call_ref)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            e.operator.as_str().into(),
            e.role.as_str().into(),
            e.client.as_str().into(),
            e.action.as_str().into(),
            e.route.as_str().into(),
            e.target.as_str().into(),
            e.outcome.as_str().into(),
            e.detail.as_str().into(),
            e.at.into(),
            prev.as_str().into(),
            hash.as_str().into(),
            call_ref.into(),
        ],
    )
    .await?;
    conn.execute(
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        &[hash.into()],
    )
    .await?;
    Ok(())
}

/// Appends a row on a unit's connection (for a caller that writes it alone).
pub async fn append_alone(conn: &mut dyn Conn, e: &AuditEntry) -> Result<(), StoreError> {
    append(conn, e, None).await
}

/// The write that joins a change's transaction (see `paycore_store::unit::companion`): the
/// row of `entry`, named `call_ref`.
pub fn companion(entry: AuditEntry, call_ref: String) -> CompanionWrite {
    let entry = std::sync::Arc::new(entry);
    std::sync::Arc::new(move |conn: &mut dyn Conn| {
        let (entry, call_ref) = (entry.clone(), call_ref.clone());
        Box::pin(async move { append(conn, &entry, Some(&call_ref)).await })
    })
}

impl Operators {
    /// Appends a row in a transaction of its own.
    pub async fn audit(&self, a: &NewAudit<'_>) -> Result<(), OperatorError> {
        let entry = a.to_entry();
        self.db()
            .unit(move |c| Box::pin(async move { append(c, &entry, None).await }))
            .await
            .map_err(OperatorError::Store)
    }

    /// Whether the row named `call_ref` was written (it committed with a change).
    pub async fn audited(&self, call_ref: &str) -> Result<bool, OperatorError> {
        Ok(self
            .db()
            .read_optional(
                "SELECT 1 AS found FROM audit_log WHERE call_ref = $1",
                &[call_ref.into()],
            )
            .await?
            .is_some())
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

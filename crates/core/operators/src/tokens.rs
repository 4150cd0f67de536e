//! Operators and their tokens: add, list, disable, expire, rotate; the first token; lookups
//! cached briefly so that a disabled or rotated token stops working within seconds on every
//! node, and an unknown token costs no query while it is cached.

use std::time::Duration;

use paycore_kernel::crypto::{random_token, sha256_hex};
use paycore_kernel::state::{Named, StateMachine};
use paycore_store::state::{Stored, Table, Transition, TransitionError};
use paycore_store::Row as _;
use paycore_store::StoreError;

use crate::{OperatorError, Operators, Role};

/// How long a token lookup is served from memory: a disabled token stops working on every
/// node within this.
pub const TOKEN_CACHE: Duration = Duration::from_secs(2);

/// The source of the first admin (the first-token variable or the generated first token).
const FIRST: &str = "first";

/// Tokens shorter than this, or with fewer distinct characters, are refused.
pub const MIN_TOKEN_LEN: usize = 24;
const MIN_DISTINCT: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorStatus {
    Active,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorEvent {
    Disable,
}

impl StateMachine for OperatorStatus {
    type Event = OperatorEvent;
    const INITIAL: &'static [Self] = &[OperatorStatus::Active];
    const TRANSITIONS: &'static [(Self, OperatorEvent, Self)] = &[(
        OperatorStatus::Active,
        OperatorEvent::Disable,
        OperatorStatus::Disabled,
    )];
}
paycore_kernel::named!(OperatorStatus { Active => "active", Disabled => "disabled" });
paycore_kernel::named!(OperatorEvent { Disable => "disable" });

impl Stored for OperatorStatus {
    const TABLE: Table = Table {
        machine: "operator",
        table: "operators",
        key: "operator_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "operator_status_history",
        history_key: "operator_id",
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub operator_id: String,
    pub name: String,
    pub role: Role,
    pub status: OperatorStatus,
    /// Unix milliseconds after which its token no longer works.
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

impl Operator {
    /// Whether its token may be used at `now`.
    pub fn usable(&self, now: i64) -> bool {
        self.status == OperatorStatus::Active && self.expires_at.is_none_or(|e| now < e)
    }
}

/// The columns [`decode`] reads (a macro, so that queries stay literal strings).
macro_rules! columns {
    () => {
        "operator_id, name, role, status, expires_at, created_at"
    };
}

fn decode(r: &sqlx::any::AnyRow) -> Result<Operator, OperatorError> {
    let role: String = r.try_get("role")?;
    let status: String = r.try_get("status")?;
    Ok(Operator {
        operator_id: r.try_get("operator_id")?,
        name: r.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("operator role {role:?}")))?,
        status: OperatorStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("operator status {status:?}")))?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Refuses a token that is short, repetitive, or not plain printable ASCII.
pub fn check_strength(token: &str) -> Result<(), OperatorError> {
    let distinct = token
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if token.len() < MIN_TOKEN_LEN
        || token.len() > 256
        || distinct < MIN_DISTINCT
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(OperatorError::Invalid(format!(
            "an operator token must be {MIN_TOKEN_LEN} to 256 printable ASCII characters \
             without spaces, with at least {MIN_DISTINCT} different ones"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<&str, OperatorError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(OperatorError::Invalid(
            "an operator's name is 1 to 64 printable characters".into(),
        ));
    }
    Ok(name)
}

/// A new operator's expiry from `expires_in_days` (1 to 3650).
fn expiry(expires_in_days: Option<i64>, now: i64) -> Result<Option<i64>, OperatorError> {
    match expires_in_days {
        None => Ok(None),
        Some(d) if (1..=3650).contains(&d) => Ok(Some(now.saturating_add(d * 86_400_000))),
        Some(_) => Err(OperatorError::Invalid(
            "expires_in_days must be between 1 and 3650".into(),
        )),
    }
}

impl Operators {
    /// A new operator with a fresh token (returned, to be shown once).
    pub async fn add(
        &self,
        name: &str,
        role: Role,
        expires_in_days: Option<i64>,
        actor: &str,
        now: i64,
    ) -> Result<(Operator, String), OperatorError> {
        let name = check_name(name)?;
        let expires_at = expiry(expires_in_days, now)?;
        let token = random_token(40)?;
        let op = self
            .insert(name, &token, role, expires_at, "added", actor, now)
            .await?;
        Ok((op, token))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert(
        &self,
        name: &str,
        token: &str,
        role: Role,
        expires_at: Option<i64>,
        source: &str,
        actor: &str,
        now: i64,
    ) -> Result<Operator, OperatorError> {
        let operator_id = format!("op_{}", random_token(20)?);
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO operators (operator_id, name, token_hash, role, status, expires_at,
                source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&operator_id)
        .bind(name)
        .bind(sha256_hex(token.as_bytes()))
        .bind(role.as_str())
        .bind(OperatorStatus::Active.as_str())
        .bind(expires_at)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        paycore_store::state::created(
            &mut tx,
            operator_id.as_str(),
            OperatorStatus::Active,
            actor,
            now,
        )
        .await
        .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(Operator {
            operator_id,
            name: name.to_string(),
            role,
            status: OperatorStatus::Active,
            expires_at,
            created_at: now,
        })
    }

    /// The first-token variable (`PAYCORE_ADMIN_TOKEN`): it *replaces* the first admin's token
    /// (the generated one, or the variable's earlier value), so that changing it never leaves a
    /// second admin behind. A first admin an operator disabled stays disabled.
    pub async fn set_first_token(&self, token: &str, now: i64) -> Result<(), OperatorError> {
        check_strength(token)?;
        let hash = sha256_hex(token.as_bytes());
        let first: Vec<String> =
            sqlx::query("SELECT operator_id FROM operators WHERE source = $1 ORDER BY id DESC")
                .bind(FIRST)
                .fetch_all(self.db.reader())
                .await?
                .iter()
                .map(|r| r.try_get("operator_id"))
                .collect::<Result<_, _>>()?;
        let Some((keep, older)) = first.split_first() else {
            return match self
                .insert("admin", token, Role::Admin, None, FIRST, "system", now)
                .await
            {
                // Another node starting at the same moment registered the same token first.
                Err(OperatorError::Store(e)) if e.is_unique_violation() => Ok(()),
                done => done.map(|_| ()),
            };
        };
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE operators SET token_hash = $1, updated_at = $2 WHERE operator_id = $3
               AND token_hash <> $1",
        )
        .bind(&hash)
        .bind(now)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        // Earlier releases added an admin per value of the variable: only the newest stays.
        for id in older {
            self.disable_in(
                &mut tx,
                id,
                "system",
                Some("replaced by the first-token variable"),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.forget();
        Ok(())
    }

    /// On a database without operators, creates the first admin and returns its token (shown
    /// once).
    pub async fn bootstrap(&self, now: i64) -> Result<Option<String>, OperatorError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM operators")
            .fetch_one(self.db.writer())
            .await?
            .try_get("n")?;
        if n > 0 {
            return Ok(None);
        }
        let token = random_token(40)?;
        self.insert("admin", &token, Role::Admin, None, FIRST, "system", now)
            .await?;
        Ok(Some(token))
    }

    /// The operator whose token this is, if the token may be used at `now`.
    pub async fn find(&self, token: &str, now: i64) -> Result<Option<Operator>, OperatorError> {
        let hash = sha256_hex(token.as_bytes());
        let op = match self.cache.get(&hash) {
            Some(op) => op,
            None => {
                let ticket = self.cache.ticket();
                let row = sqlx::query(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM operators WHERE token_hash = $1"
                ))
                .bind(&hash)
                .fetch_optional(self.db.reader())
                .await?;
                let op = row.as_ref().map(decode).transpose()?;
                // Unknown tokens are cached too: a flood of bad tokens costs no queries.
                self.cache.put(hash, op.clone(), ticket);
                op
            }
        };
        Ok(op.filter(|o| o.usable(now)))
    }

    pub async fn list(&self) -> Result<Vec<Operator>, OperatorError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM operators ORDER BY id"
        ))
        .fetch_all(self.db.reader())
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    pub async fn get(&self, operator_id: &str) -> Result<Operator, OperatorError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM operators WHERE operator_id = $1"
        ))
        .bind(operator_id)
        .fetch_optional(self.db.writer())
        .await?;
        row.as_ref()
            .map(decode)
            .transpose()?
            .ok_or(OperatorError::NotFound)
    }

    /// Disables an operator: its token stops working at once on this node and within
    /// [`TOKEN_CACHE`] on the others. Disabling a disabled operator changes nothing.
    pub async fn disable(
        &self,
        operator_id: &str,
        actor: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Operator, OperatorError> {
        let op = self.get(operator_id).await?;
        if op.status == OperatorStatus::Active {
            let mut tx = self.db.begin().await?;
            self.disable_in(&mut tx, operator_id, actor, reason, now)
                .await?;
            tx.commit().await?;
            self.forget();
        }
        self.get(operator_id).await
    }

    async fn disable_in(
        &self,
        tx: &mut paycore_store::Tx,
        operator_id: &str,
        actor: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), OperatorError> {
        let moved = Transition::new(OperatorStatus::Active, OperatorEvent::Disable, now)
            .by(actor)
            .reason(reason)
            .apply(tx, operator_id)
            .await;
        match moved {
            // Disabled meanwhile by someone else: the same end.
            Ok(_) | Err(TransitionError::Lost { .. }) => Ok(()),
            Err(TransitionError::Store(e)) => Err(e.into()),
            Err(e @ TransitionError::Illegal { .. }) => {
                Err(OperatorError::InvalidState(e.to_string()))
            }
        }
    }

    /// A new token for an active operator (returned, to be shown once); the old one stops
    /// working as [`Operators::disable`] says.
    pub async fn rotate(&self, operator_id: &str, now: i64) -> Result<String, OperatorError> {
        let token = random_token(40)?;
        let done = sqlx::query(
            "UPDATE operators SET token_hash = $1, updated_at = $2
             WHERE operator_id = $3 AND status = $4",
        )
        .bind(sha256_hex(token.as_bytes()))
        .bind(now)
        .bind(operator_id)
        .bind(OperatorStatus::Active.as_str());
        let done = self.db.execute(done).await?;
        if done.rows_affected() != 1 {
            self.get(operator_id).await?;
            return Err(OperatorError::InvalidState(
                "a disabled operator's token cannot be rotated".into(),
            ));
        }
        self.forget();
        Ok(token)
    }

    /// Drops every cached lookup on this node (after a change to any token).
    fn forget(&self) {
        self.cache.retain(|_| false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_tokens_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength(&"a".repeat(40)).is_err());
        assert!(check_strength("abababababababababababababab").is_err());
        assert!(check_strength("has a space in it 0123456789").is_err());
        assert!(check_strength("test-admin-token-0123456789").is_ok());
    }

    #[test]
    fn an_expired_or_disabled_operator_cannot_use_its_token() {
        let op = Operator {
            operator_id: "op_1".into(),
            name: "a".into(),
            role: Role::Viewer,
            status: OperatorStatus::Active,
            expires_at: Some(1_000),
            created_at: 0,
        };
        assert!(op.usable(999));
        assert!(!op.usable(1_000));
        let disabled = Operator {
            status: OperatorStatus::Disabled,
            expires_at: None,
            ..op
        };
        assert!(!disabled.usable(0));
    }
}

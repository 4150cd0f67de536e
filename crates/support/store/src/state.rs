//! The one state-machine executor (E6). Every status change of every stored object goes
//! through [`Transition::apply`] (or [`Transition::apply_many`] for a batch): the machine's
//! declared table names the new state, a compare-and-set on the old state applies it, a history
//! row records it, and an illegal or lost move is an error — never a silent no-op. Objects are
//! created in a declared initial state with [`created`], which writes the first history row.
//!
//! Where a machine's rows live is declared once, by [`Stored::TABLE`]. Its history table has
//! the columns `(<history key>, from_status, to_status, event, actor, reason, at)`.

use paycore_kernel::state::{IllegalTransition, Named, StateMachine};

use crate::db::StoreError;
use crate::unit::{Conn, Row};

/// Where a machine's objects and their history are stored.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The machine's name, for errors and logs (`payment`, `job`, …).
    pub machine: &'static str,
    pub table: &'static str,
    /// The column that identifies an object.
    pub key: &'static str,
    /// The status column.
    pub status: &'static str,
    /// Set to the move's time, when the table has such a column.
    pub updated_at: Option<&'static str>,
    pub history: &'static str,
    /// The object's key in the history table.
    pub history_key: &'static str,
}

/// A state machine whose objects are rows.
pub trait Stored: StateMachine {
    const TABLE: Table;
}

pub use crate::unit::Value;

/// A key as text, for errors.
fn key_text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Null | Value::NullInt => String::new(),
        Value::Blob(b) => format!("{b:?}"),
    }
}

/// Why a move did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("{machine}: {source}")]
    Illegal {
        machine: &'static str,
        source: IllegalTransition,
    },
    /// The object was not in the expected state (it moved meanwhile) or does not exist.
    #[error("{machine} {key} is no longer {expected}: it changed concurrently")]
    Lost {
        machine: &'static str,
        key: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TransitionError {
    fn from(e: sqlx::Error) -> Self {
        TransitionError::Store(e.into())
    }
}

enum Set {
    Column(&'static str, Value),
    /// A fixed SQL expression (`attempts = attempts + 1`); never built from input.
    Raw(&'static str),
}

/// One move (or the same move of several objects), built then applied.
pub struct Transition<S: Stored> {
    table: Table,
    from: S,
    event: S::Event,
    actor: String,
    reason: Option<String>,
    at: i64,
    sets: Vec<Set>,
    guards: Vec<(&'static str, Value)>,
}

impl<S: Stored> Transition<S> {
    pub fn new(from: S, event: S::Event, at: i64) -> Self {
        Self {
            table: S::TABLE,
            from,
            event,
            actor: "system".into(),
            reason: None,
            at,
            sets: Vec::new(),
            guards: Vec::new(),
        }
    }

    /// Applies the move to another table of the same shape (the executor's own tests).
    pub fn on_table(mut self, table: Table) -> Self {
        self.table = table;
        self
    }

    /// Who or what caused the move (an operator, `api`, `notify`, a worker).
    pub fn by(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.map(str::to_string);
        self
    }

    /// Another column that changes with the state.
    pub fn set(mut self, column: &'static str, value: impl Into<Value>) -> Self {
        self.sets.push(Set::Column(column, value.into()));
        self
    }

    /// A fixed expression that changes with the state, e.g. `attempts = attempts + 1`.
    pub fn set_raw(mut self, expression: &'static str) -> Self {
        self.sets.push(Set::Raw(expression));
        self
    }

    /// A further condition of the compare-and-set (`column = value`).
    pub fn guard(mut self, column: &'static str, value: impl Into<Value>) -> Self {
        self.guards.push((column, value.into()));
        self
    }

    fn target(&self) -> Result<S, TransitionError> {
        paycore_kernel::state::apply(self.from, self.event).map_err(|source| {
            TransitionError::Illegal {
                machine: self.table.machine,
                source,
            }
        })
    }

    /// `SET …` and `WHERE <guards> AND status = $n` with their values, numbered from 1.
    fn clauses(&self, to: S) -> (String, String, Vec<Value>) {
        let t = &self.table;
        let mut values = vec![Value::from(to.as_str())];
        let mut set = vec![format!("{} = $1", t.status)];
        if let Some(col) = t.updated_at {
            values.push(Value::from(self.at));
            set.push(format!("{col} = ${}", values.len()));
        }
        for s in &self.sets {
            match s {
                Set::Column(col, v) => {
                    values.push(v.clone());
                    set.push(format!("{col} = ${}", values.len()));
                }
                Set::Raw(expr) => set.push((*expr).to_string()),
            }
        }
        values.push(Value::from(self.from.as_str()));
        let mut cond = vec![format!("{} = ${}", t.status, values.len())];
        for (col, v) in &self.guards {
            values.push(v.clone());
            cond.push(format!("{col} = ${}", values.len()));
        }
        (set.join(", "), cond.join(" AND "), values)
    }

    /// Moves one object; returns its new state. `Lost` when it was not in `from` (or a guard
    /// did not hold), `Illegal` when the machine does not declare the move.
    pub async fn apply(
        self,
        tx: &mut dyn Conn,
        key: impl Into<Value>,
    ) -> Result<S, TransitionError> {
        let key = key.into();
        let to = self.target()?;
        let t = &self.table;
        let (set, cond, mut values) = self.clauses(to);
        values.push(key.clone());
        let sql = format!(
            "UPDATE {} SET {set} WHERE {cond} AND {} = ${}",
            t.table,
            t.key,
            values.len()
        );
        let done = tx.execute(&sql, &values).await?;
        if done != 1 {
            return Err(TransitionError::Lost {
                machine: t.machine,
                key: key_text(&key),
                expected: self.from.as_str(),
            });
        }
        self.history(tx, &[key], to).await?;
        Ok(to)
    }

    /// Moves every object of `keys` that is in `from` (and meets the guards); returns the rows
    /// that moved, with `returning` columns (the key is always among them). Objects that were
    /// not in `from` are left alone: callers that must move all compare the counts.
    pub async fn apply_many(
        self,
        tx: &mut dyn Conn,
        keys: &[Value],
        returning: &str,
    ) -> Result<Vec<Row>, TransitionError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let to = self.target()?;
        let t = &self.table;
        let (set, cond, mut values) = self.clauses(to);
        let first = values.len() + 1;
        values.extend(keys.iter().cloned());
        let list = (first..first + keys.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE {} SET {set} WHERE {cond} AND {} IN ({list}) RETURNING {}, {returning}",
            t.table, t.key, t.key
        );
        let rows = tx.fetch_all(&sql, &values).await?;
        let moved = rows
            .iter()
            .map(|r| r.value(t.key).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        self.history(tx, &moved, to).await?;
        Ok(rows)
    }

    async fn history(
        &self,
        tx: &mut dyn Conn,
        keys: &[Value],
        to: S,
    ) -> Result<(), TransitionError> {
        insert_history(
            tx,
            &self.table,
            keys,
            Some(self.from.as_str()),
            to.as_str(),
            self.event.as_str(),
            &self.actor,
            self.reason.as_deref(),
            self.at,
        )
        .await
    }
}

/// Records that an object was created (its row inserted by its owner) in `state`, which must
/// be one of the machine's initial states.
pub async fn created<S: Stored>(
    tx: &mut dyn Conn,
    key: impl Into<Value>,
    state: S,
    actor: &str,
    at: i64,
) -> Result<(), TransitionError> {
    if !S::INITIAL.contains(&state) {
        return Err(TransitionError::Illegal {
            machine: S::TABLE.machine,
            source: IllegalTransition {
                state: state.as_str(),
                event: "create",
            },
        });
    }
    let key = key.into();
    insert_history(
        tx,
        &S::TABLE,
        &[key],
        None,
        state.as_str(),
        "create",
        actor,
        None,
        at,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_history(
    tx: &mut dyn Conn,
    t: &Table,
    keys: &[Value],
    from: Option<&str>,
    to: &str,
    event: &str,
    actor: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<(), TransitionError> {
    // One statement for the whole batch, in chunks that stay under the engines' bind limits.
    for chunk in keys.chunks(500) {
        let rows = (0..chunk.len())
            .map(|i| {
                let b = i * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}, from_status, to_status, event, actor, reason, at) VALUES {rows}",
            t.history, t.history_key
        );
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 7);
        for key in chunk {
            params.extend([
                key.clone(),
                Value::from(from),
                Value::from(to),
                Value::from(event),
                Value::from(actor),
                Value::from(reason),
                Value::from(at),
            ]);
        }
        tx.execute(&sql, &params).await?;
    }
    Ok(())
}

/// The stored name of a state, parsed; an unknown name is corrupt data.
pub fn parse_stored<T: Named>(what: &str, s: &str) -> Result<T, StoreError> {
    T::parse(s).ok_or_else(|| StoreError::Corrupt(format!("{what} {s:?}")))
}

//! The one state-machine executor (E6). Every status change of every stored object goes
//! through [`Transition::apply`] (or [`Transition::apply_many`] for a batch): the machine's
//! declared table names the new state, a compare-and-set on the old state applies it, a history
//! row records it, and an illegal or lost move is an error — never a silent no-op. Objects are
//! created in a declared initial state with [`created`], which writes the first history row.
//!
//! Where a machine's rows live is declared once, by [`Stored::TABLE`]. Its history table has
//! the columns `(<history key>, from_status, to_status, event, actor, reason, at)`.

use paycore_kernel::state::{IllegalTransition, Named, StateMachine};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{StoreError, Tx};

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

/// A value bound into the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(Some(s.to_string()))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(Some(s))
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(Some(s.clone()))
    }
}
impl From<Option<&str>> for Value {
    fn from(s: Option<&str>) -> Self {
        Value::Text(s.map(str::to_string))
    }
}
impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Text(s) => s.clone().unwrap_or_default(),
            Value::Int(v) => v.map(|v| v.to_string()).unwrap_or_default(),
        }
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
    pub async fn apply(self, tx: &mut Tx, key: impl Into<Value>) -> Result<S, TransitionError> {
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
        let done = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &values)
            .execute(&mut **tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(TransitionError::Lost {
                machine: t.machine,
                key: key.text(),
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
        tx: &mut Tx,
        keys: &[Value],
        returning: &str,
    ) -> Result<Vec<AnyRow>, TransitionError> {
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
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &values)
            .fetch_all(&mut **tx)
            .await?;
        let moved = rows
            .iter()
            .map(|r| key_of(r, t.key))
            .collect::<Result<Vec<_>, _>>()?;
        self.history(tx, &moved, to).await?;
        Ok(rows)
    }

    async fn history(&self, tx: &mut Tx, keys: &[Value], to: S) -> Result<(), TransitionError> {
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
    tx: &mut Tx,
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

fn key_of(row: &AnyRow, column: &str) -> Result<Value, TransitionError> {
    if let Ok(s) = row.try_get::<String, _>(column) {
        return Ok(Value::Text(Some(s)));
    }
    Ok(Value::Int(Some(row.try_get::<i64, _>(column)?)))
}

#[allow(clippy::too_many_arguments)]
async fn insert_history(
    tx: &mut Tx,
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
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in chunk {
            q = match key {
                Value::Text(s) => q.bind(s.clone()),
                Value::Int(i) => q.bind(*i),
            };
            q = q
                .bind(from)
                .bind(to)
                .bind(event)
                .bind(actor)
                .bind(reason)
                .bind(at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_all<'q>(mut q: Query<'q>, values: &'q [Value]) -> Query<'q> {
    for v in values {
        q = match v {
            Value::Text(s) => q.bind(s.as_deref()),
            Value::Int(i) => q.bind(*i),
        };
    }
    q
}

/// The stored name of a state, parsed; an unknown name is corrupt data.
pub fn parse_stored<T: Named>(what: &str, s: &str) -> Result<T, StoreError> {
    T::parse(s).ok_or_else(|| StoreError::Corrupt(format!("{what} {s:?}")))
}

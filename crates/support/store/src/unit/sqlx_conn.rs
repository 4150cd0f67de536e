//! A caller's `sqlx` transaction as a unit's connection: code written against [`Conn`] runs
//! inside transactions that are not units too (PostgreSQL units, and callers not yet units).

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::row::{from_any, names_of};
use super::{Conn, Row, Value};
use crate::db::{Engine, StoreError, Tx};

fn bind<'q>(
    mut q: Query<'q, Any, AnyArguments>,
    params: &'q [Value],
) -> Query<'q, Any, AnyArguments> {
    for p in params {
        q = match p {
            Value::Null => q.bind(None::<String>),
            Value::NullInt => q.bind(None::<i64>),
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.as_str()),
            Value::Blob(v) => q.bind(v.as_slice()),
        };
    }
    q
}

fn engine_of(tx: &Tx) -> Engine {
    match tx.backend_name() {
        "PostgreSQL" => Engine::Postgres,
        _ => Engine::Sqlite,
    }
}

#[async_trait::async_trait]
impl Conn for Tx {
    fn engine(&self) -> Engine {
        engine_of(self)
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), params);
        Ok(q.execute(&mut **self).await?.rows_affected())
    }

    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), params);
        let rows = q.fetch_all(&mut **self).await?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let names = names_of(first);
        rows.iter().map(|r| from_any(r, &names)).collect()
    }
}

impl crate::db::Db {
    /// A query on the readers (committed data, outside any unit), its rows as a unit sees them,
    /// so that one decoder serves reads inside and outside units.
    pub async fn read(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let q = bind(sqlx::query(sqlx::AssertSqlSafe(sql)), params);
        let rows = q.fetch_all(self.reader()).await?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let names = names_of(first);
        rows.iter().map(|r| from_any(r, &names)).collect()
    }

    /// [`Db::read`]'s first row, if any.
    pub async fn read_optional(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.read(sql, params).await?.into_iter().next())
    }
}

//! Values bound to statements and rows read back, the same on both engines.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{Column, Row as _, TypeInfo, ValueRef};

use crate::db::StoreError;

/// A bound parameter or a column value. Amounts and times are integers (minor units, unix
/// milliseconds); the schema has no other kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL of a text (or untyped) column.
    Null,
    /// NULL of an integer column: PostgreSQL wants a bound NULL to carry its column's type.
    NullInt,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::NullInt, Value::Int)
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Value::Null, Value::Text)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Value::Null, Value::from)
    }
}

/// A row: column names (shared by the rows of one result) and values.
#[derive(Debug, Clone)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

fn mismatch(what: &str, col: &str, v: &Value) -> StoreError {
    StoreError::Corrupt(format!("column {col}: expected {what}, found {v:?}"))
}

impl Row {
    pub(crate) fn new(names: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { names, values }
    }

    fn index(&self, name: &str) -> Result<usize, StoreError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name}")))
    }

    /// The value of a column as read.
    pub fn value(&self, name: &str) -> Result<&Value, StoreError> {
        let i = self.index(name)?;
        self.values
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name}")))
    }

    pub fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.int_at(self.index(name)?)
    }
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.opt_int_at(self.index(name)?)
    }
    pub fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.text_at(self.index(name)?)?.to_owned())
    }
    pub fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.opt_text_at(self.index(name)?)?.map(str::to_owned))
    }
}

/// Reading columns by position, from a unit's [`Row`] or from an `sqlx` row, so that decoders
/// are written once for both.
pub trait Columns {
    fn int_at(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text_at(&self, i: usize) -> Result<&str, StoreError>;
    fn opt_text_at(&self, i: usize) -> Result<Option<&str>, StoreError>;
}

impl Columns for Row {
    fn int_at(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int_at(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is null")))
    }
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.values.get(i) {
            Some(Value::Int(v)) => Ok(Some(*v)),
            Some(Value::Null | Value::NullInt) => Ok(None),
            Some(v) => Err(mismatch("an integer", &i.to_string(), v)),
            None => Err(StoreError::Corrupt(format!("no column {i}"))),
        }
    }
    fn text_at(&self, i: usize) -> Result<&str, StoreError> {
        self.opt_text_at(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is null")))
    }
    fn opt_text_at(&self, i: usize) -> Result<Option<&str>, StoreError> {
        match self.values.get(i) {
            Some(Value::Text(v)) => Ok(Some(v)),
            Some(Value::Null | Value::NullInt) => Ok(None),
            Some(v) => Err(mismatch("text", &i.to_string(), v)),
            None => Err(StoreError::Corrupt(format!("no column {i}"))),
        }
    }
}

impl Columns for AnyRow {
    fn int_at(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn text_at(&self, i: usize) -> Result<&str, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text_at(&self, i: usize) -> Result<Option<&str>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// An `sqlx` row as a unit's row (PostgreSQL, and SQLite outside the writer thread).
pub(crate) fn from_any(row: &AnyRow, names: &Arc<[String]>) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(names.len());
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        // The value's own type: SQLite gives expression columns no declared type. (sqlx's
        // `Any` names its kinds in capitals: BIGINT, INTEGER, TEXT, BLOB, NULL, …)
        let value_type = raw.type_info();
        let ty = match value_type.name() {
            "NULL" => col.type_info().name(),
            t => t,
        };
        values.push(if ty.contains("INT") {
            Value::Int(row.try_get(i)?)
        } else if ty.contains("BLOB") || ty.contains("BYTEA") {
            Value::Blob(row.try_get(i)?)
        } else {
            Value::Text(row.try_get(i)?)
        });
    }
    Ok(Row::new(names.clone(), values))
}

pub(crate) fn names_of(row: &AnyRow) -> Arc<[String]> {
    row.columns().iter().map(|c| c.name().to_owned()).collect()
}

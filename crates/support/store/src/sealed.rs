//! Columns of values sealed by the vault: counted by master key version, and re-sealed under the
//! current one, so that `paycore keys rotate-master` can retire an old key. Each subsystem names
//! its sealed columns; this walks them the same way for all.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_kernel::crypto::{SealCensus, Vault};
use sqlx::Row;

use crate::{Db, StoreError};

/// How a column holds its sealed bytes.
#[derive(Clone, Copy)]
pub enum Encoding {
    /// The vault's bytes in a BLOB / BYTEA.
    Blob,
    /// `sealed:` and the bytes in base64, in a text column; a value without the prefix is an
    /// older clear value, which `clear` decodes (it is sealed by the next pass that writes).
    Text { clear: fn(&str) -> Option<Vec<u8>> },
}

/// The text prefix of [`Encoding::Text`] values.
pub const SEALED_PREFIX: &str = "sealed:";

/// One sealed column: its table, the text key of its rows, and the vault context of a row (the
/// associated data it was sealed with).
pub struct SealedColumn {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
    pub encoding: Encoding,
    pub context: fn(&str) -> String,
}

/// Counts the column's values by the version they are sealed under (0: still in clear); with
/// `write`, first re-seals under the current version those that are not, each by one
/// compare-and-set on its old value, so that a pass beside a running node changes nothing twice.
/// A value that does not open is an error naming the row, never skipped: retiring a key on a
/// partial count would lose that value.
pub async fn census(
    db: &Db,
    vault: &Vault,
    col: &SealedColumn,
    write: bool,
) -> Result<SealCensus, StoreError> {
    let (t, k, c) = (col.table, col.key, col.column);
    // The names are the owning subsystem's constants, never input.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {k} AS k, {c} AS v FROM {t} WHERE {c} IS NOT NULL ORDER BY {k}"
    )))
    .fetch_all(db.reader())
    .await?;
    let update = format!("UPDATE {t} SET {c} = $1 WHERE {k} = $2 AND {c} = $3");
    let mut census = SealCensus::default();
    for row in rows {
        let key: String = row.try_get("k")?;
        let context = (col.context)(&key);
        let bad = || StoreError::Corrupt(format!("{t}.{c} of {key} does not open"));
        let opened = match col.encoding {
            Encoding::Blob => {
                let v: Vec<u8> = row.try_get("v")?;
                let (plain, o) = vault.open_versioned(&context, &v).map_err(|_| bad())?;
                (plain, (!o.current).then_some(o.version), Stored::Blob(v))
            }
            Encoding::Text { clear } => {
                let v: String = row.try_get("v")?;
                let (plain, from) = open_text(vault, &context, &v, clear).ok_or_else(bad)?;
                (plain, from, Stored::Text(v))
            }
        };
        let (plain, from, stored) = opened;
        if from.is_none() || !write {
            census.count(from.unwrap_or(vault.current_version()));
            continue;
        }
        let fresh = vault.seal(&context, plain.expose()).map_err(|_| bad())?;
        let q = match stored {
            Stored::Blob(old) => sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
                .bind(fresh)
                .bind(&key)
                .bind(old),
            Stored::Text(old) => sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
                .bind(format!("{SEALED_PREFIX}{}", B64.encode(&fresh)))
                .bind(&key)
                .bind(old),
        };
        // Nothing changed only when another pass re-sealed it first: current either way.
        census.resealed += db.execute(q).await?.rows_affected();
        census.count(vault.current_version());
    }
    Ok(census)
}

enum Stored {
    Blob(Vec<u8>),
    Text(String),
}

/// Opens a text value: the plain bytes, and the version to re-seal from (`None` when it is
/// already current; `Some(0)` for a clear value).
fn open_text(
    vault: &Vault,
    context: &str,
    stored: &str,
    clear: fn(&str) -> Option<Vec<u8>>,
) -> Option<(paycore_kernel::Secret<Vec<u8>>, Option<u32>)> {
    match stored.strip_prefix(SEALED_PREFIX) {
        Some(b) => {
            let bytes = B64.decode(b).ok()?;
            let (plain, opened) = vault.open_versioned(context, &bytes).ok()?;
            Some((plain, (!opened.current).then_some(opened.version)))
        }
        None => Some((paycore_kernel::Secret::new(clear(stored)?), Some(0))),
    }
}

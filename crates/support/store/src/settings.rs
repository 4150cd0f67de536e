//! Platform settings fixed in the database when it is first set up (its mode, for one): the
//! first writer decides, everyone after reads the same value.

use crate::{Db, StoreError};

/// The value recorded under `name`, if any.
pub async fn get(db: &Db, name: &str) -> Result<Option<String>, StoreError> {
    match db
        .read_optional(
            "SELECT value FROM platform_settings WHERE name = $1",
            &[name.into()],
        )
        .await?
    {
        Some(row) => Ok(Some(row.text("value")?)),
        None => Ok(None),
    }
}

/// Records `value` under `name` unless something is recorded already, and returns what is
/// recorded now: `value`, or the earlier value that won.
pub async fn set_once(db: &Db, name: &str, value: &str, now: i64) -> Result<String, StoreError> {
    let (n, v) = (name.to_owned(), value.to_owned());
    db.unit(move |tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO platform_settings (name, value, set_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[n.as_str().into(), v.as_str().into(), now.into()],
            )
            .await?;
            let row = tx
                .fetch_one(
                    "SELECT value FROM platform_settings WHERE name = $1",
                    &[n.as_str().into()],
                )
                .await?;
            row.text("value")
        })
    })
    .await
}

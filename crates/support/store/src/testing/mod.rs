//! Test databases: every test gets a database of its own, on the engine the test run selects.
//! `PAYCORE_TEST_DATABASE_URL=postgres://…` runs the tests on PostgreSQL (a fresh database is
//! created per test on that server); otherwise each test gets a SQLite file in a temp directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::db::{Db, StoreError};

mod machine;
pub use machine::run_sequence;

pub const TEST_DATABASE_URL: &str = "PAYCORE_TEST_DATABASE_URL";

/// A migrated database that lives as long as this value (the SQLite directory is removed on drop).
pub struct TestDb {
    pub db: Db,
    /// The data directory (SQLite) or scratch directory (PostgreSQL) of this test.
    pub dir: PathBuf,
    /// What `--database-url` a child process needs to open the same database.
    pub url: Option<String>,
}

impl std::ops::Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "paycore_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A fresh, empty database (not migrated).
pub async fn empty() -> Result<TestDb, StoreError> {
    let name = unique_name();
    let dir = std::env::temp_dir().join(&name);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    // Owner-only, as paycore makes its own data directories.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(|source| StoreError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    match std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(server) => {
            let admin = Db::open(&dir, Some(&server)).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(admin.writer())
                .await?;
            admin.close().await;
            let url = with_database(&server, &name);
            let db = Db::open(&dir, Some(&url)).await?;
            Ok(TestDb {
                db,
                dir,
                url: Some(url),
            })
        }
        None => {
            let db = Db::open(&dir, None).await?;
            Ok(TestDb { db, dir, url: None })
        }
    }
}

/// A fresh database with the store's own tables.
pub async fn migrated() -> Result<TestDb, StoreError> {
    migrated_with(&[]).await
}

/// A fresh database with the store's tables and those of `schemas`, in that order.
pub async fn migrated_with(schemas: &[&crate::migrate::Schema]) -> Result<TestDb, StoreError> {
    let t = empty().await?;
    let mut all = vec![&crate::migrate::SCHEMA];
    all.extend_from_slice(schemas);
    crate::migrate::run(&t.db, &all).await?;
    Ok(t)
}

/// Replaces the database name of a `postgres://…/name?params` url.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_name() {
        assert_eq!(
            super::with_database("postgres://u@127.0.0.1:5433/postgres", "x"),
            "postgres://u@127.0.0.1:5433/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h:1?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}

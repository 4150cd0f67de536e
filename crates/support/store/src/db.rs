use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("unsupported database url (expected postgres://… or sqlite://…)")]
    UnsupportedUrl,
    #[error("migration {component} {version} ({name}) failed: {source}")]
    Migration {
        component: &'static str,
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("the database has migration {0}, newer than this build knows")]
    NewerSchema(String),
    #[error("{0}")]
    Transition(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Lite(String),
    /// A unique key already taken (the writer thread's form of a unique violation).
    #[error("database error: {0}")]
    Unique(String),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the database writer has stopped")]
    WriterGone,
    /// A unit of work awaited something other than the database on the writer thread, or
    /// panicked there.
    #[error("a unit of work awaited something other than the database or panicked; nothing of it was kept")]
    UnitAbandoned,
}

impl StoreError {
    /// True when the error is a unique-constraint violation (an idempotency key seen before).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlx(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Unique(_) => true,
            _ => false,
        }
    }

    /// True when PostgreSQL gave up the transaction to let another one through (a deadlock, a
    /// serialization failure): nothing of it was kept, and running it again is right.
    pub fn is_conflict(&self) -> bool {
        match self {
            StoreError::Sqlx(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("40P01") | Some("40001"))
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

pub type Tx = sqlx::Transaction<'static, Any>;

/// The database. On SQLite all writes go through one connection, so writers queue in the pool
/// instead of failing with SQLITE_BUSY, and readers use their own connections (WAL lets them
/// read while a write is in progress). On PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    engine: Engine,
    write: AnyPool,
    read: AnyPool,
    /// Group commit for the embedded database (see [`Db::durable`]).
    syncer: Option<Arc<crate::durable::Syncer>>,
    /// The embedded database's writer thread, which runs units of work ([`Db::unit`]).
    pub(crate) lite_writer: Option<Arc<crate::unit::Writer>>,
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
    PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";

/// The embedded database commits without waiting for the disk and makes commits durable in
/// groups: [`Db::durable`] waits for an fsync of the write-ahead log that started after the
/// call, and one fsync serves every caller waiting at that moment.
const SQLITE_GROUP_COMMIT_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
    PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;";

/// The pragmas of every embedded connection (the sqlx pools and the writer thread's).
pub(crate) fn sqlite_pragmas(group_commit: bool) -> &'static str {
    if group_commit {
        SQLITE_GROUP_COMMIT_PRAGMAS
    } else {
        SQLITE_PRAGMAS
    }
}

impl Db {
    /// Opens `database_url` when given (`postgres://…`, or `sqlite://path`), else the embedded
    /// SQLite database `paycore.db` in `data_dir` (created if missing).
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url, 32).await
            }
            Some(url) if url.starts_with("sqlite:") => Self::open_sqlite_url(url, None).await,
            Some(_) => Err(StoreError::UnsupportedUrl),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
                    path: data_dir.display().to_string(),
                    source,
                })?;
                let file = data_dir.join("paycore.db");
                let wal = data_dir.join("paycore.db-wal");
                Self::open_sqlite_url(&format!("sqlite://{}?mode=rwc", file.display()), Some(wal))
                    .await
            }
        }
    }

    async fn open_postgres(url: &str, max: u32) -> Result<Db, StoreError> {
        let opts = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(Db {
            engine: Engine::Postgres,
            write: pool.clone(),
            read: pool,
            syncer: None,
            lite_writer: None,
        })
    }

    /// `wal`: the write-ahead log to sync for group commit; without it every commit syncs.
    async fn open_sqlite_url(url: &str, wal: Option<PathBuf>) -> Result<Db, StoreError> {
        let opts = AnyConnectOptions::from_str(url)?;
        let pragmas = sqlite_pragmas(wal.is_some());
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(pragmas).await?;
                        Ok(())
                    })
                })
        };
        let write = pool(1).connect_with(opts.clone()).await?;
        let read = pool(8).connect_with(opts).await?;
        // The pools opened (and created) the file; the writer thread opens the same one.
        let file = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .get_filename()
            .to_path_buf();
        let lite_writer = crate::unit::Writer::start(&file, wal.clone())?;
        Ok(Db {
            engine: Engine::Sqlite,
            write,
            read,
            syncer: wal.map(|w| Arc::new(crate::durable::Syncer::new(w))),
            lite_writer: Some(Arc::new(lite_writer)),
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The pool for writes and for reads that must see the latest committed write.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// The pool for reads that do not need to be in a write transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// transaction that read first and wrote later could otherwise find, at its first write,
    /// that another process committed in between, and fail instead of waiting.
    /// The task's companion write, if any, goes first (see [`crate::unit::companion`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let mut tx = match self.engine {
            Engine::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.write.begin().await?,
        };
        if let Some(companion) = crate::unit::companion::take() {
            companion(&mut tx).await?;
        }
        Ok(tx)
    }

    /// Runs one write statement in a transaction of its own, which the task's companion write
    /// joins (an operator call's audit row): for writes that are a single statement.
    pub async fn execute<'q>(
        &self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult, StoreError> {
        let mut tx = self.begin().await?;
        let done = q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Returns once every transaction this task committed before the call is on disk. On
    /// PostgreSQL and with per-commit syncing that is already so; on the embedded database it
    /// joins the next group fsync of the write-ahead log. Call it before answering a request
    /// and before anything leaves the process on the strength of a commit (a channel call, a
    /// notification).
    pub async fn durable(&self) -> Result<(), StoreError> {
        match &self.syncer {
            Some(s) => s.sync().await.map_err(|source| StoreError::DataDir {
                path: s.path().display().to_string(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// A round trip to the database (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// (connections open, connections idle) over both pools.
    pub fn pool_stats(&self) -> (u32, u32) {
        if self.engine == Engine::Postgres {
            (self.write.size(), self.write.num_idle() as u32)
        } else {
            (
                self.write.size() + self.read.size(),
                (self.write.num_idle() + self.read.num_idle()) as u32,
            )
        }
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

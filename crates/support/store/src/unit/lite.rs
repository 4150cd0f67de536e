//! The embedded database's writer: a thread of its own owns a SQLite connection (rusqlite,
//! cached prepared statements) and runs units of work there.
//!
//! Units that are queued when the writer gets to them share one transaction (`BEGIN
//! IMMEDIATE` … `COMMIT`), each in a savepoint of its own; after the commit a syncer thread
//! fsyncs the write-ahead log once for all of them and only then answers their callers, while
//! the writer already runs the next group. Nothing is answered before its commit is on disk. A
//! failed fsync stops the process: the log may not be on disk, and retrying the fsync cannot
//! tell (the kernel may have dropped the dirty pages); recovery on restart can.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc as queue;

use rusqlite::types::ValueRef;

use super::{Conn, Job, Row, Value};
use crate::db::{Engine, StoreError};

/// Units one transaction takes at most (a bound on the time the first of them waits).
const GROUP_MAX: usize = 512;

pub struct Writer {
    /// Units waiting for the writer. Bounded: submitters wait (asynchronously) when it is full.
    queue: queue::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// A group the writer has finished: its units, and how its transaction ended (`Ok`: committed,
/// to be answered after the next fsync of the log).
struct Committed {
    jobs: Vec<Box<dyn Job>>,
    result: Result<(), String>,
}

impl Writer {
    /// Opens `file` for writing on a new thread. `wal`: the write-ahead log to fsync after each
    /// commit (group commit); without it every commit is synced by SQLite itself
    /// (`synchronous=FULL`).
    pub fn start(file: &Path, wal: Option<PathBuf>) -> Result<Writer, StoreError> {
        let conn = open(file, wal.is_some())?;
        // Checkpoints leave the writer's path: the writer only appends to the log.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0")
            .map_err(lite)?;
        let checkpoints = open(file, wal.is_some())?;
        let (poke, poked) = mpsc::sync_channel::<()>(1);
        let log = file_wal(file);
        std::thread::Builder::new()
            .name("paycore-checkpoint".into())
            .spawn(move || checkpointer(checkpoints, log, poked))
            .map_err(io_error)?;
        let (queue, jobs) = queue::channel::<Box<dyn Job>>(65_536);
        let (done, committed) = mpsc::channel::<Committed>();
        std::thread::Builder::new()
            .name("paycore-sync".into())
            .spawn(move || syncer(wal, committed))
            .map_err(io_error)?;
        // Inside the runtime's context a unit that touches a timer or a socket just stays
        // pending (and is refused) instead of panicking for want of a reactor.
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("paycore-writer".into())
            .spawn(move || {
                let _context = runtime.as_ref().map(|r| r.enter());
                writer(conn, jobs, done, poke)
            })
            .map_err(io_error)?;
        Ok(Writer { queue })
    }

    pub(crate) async fn submit(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)
    }
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::DataDir {
        path: "writer thread".into(),
        source: e,
    }
}

fn open(file: &Path, group_commit: bool) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(file).map_err(lite)?;
    conn.execute_batch(crate::db::sqlite_pragmas(group_commit))
        .map_err(lite)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

pub(crate) fn lite(e: rusqlite::Error) -> StoreError {
    let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
    if unique {
        StoreError::Unique(e.to_string())
    } else {
        StoreError::Lite(e.to_string())
    }
}

fn writer(
    mut conn: rusqlite::Connection,
    mut jobs: queue::Receiver<Box<dyn Job>>,
    done: mpsc::Sender<Committed>,
    checkpoint: mpsc::SyncSender<()>,
) {
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let result = run_group(&mut conn, &mut group);
        // A checkpoint may run now (a poke already pending is enough).
        let _ = checkpoint.try_send(());
        // Units that need not wait for the fsync hear back at the commit.
        let (waiting, now): (Vec<_>, Vec<_>) = group.into_iter().partition(|j| j.waits_for_sync());
        for job in now {
            job.finish(result.clone().map_err(StoreError::Commit));
        }
        if done
            .send(Committed {
                jobs: waiting,
                result,
            })
            .is_err()
        {
            return;
        }
    }
}

/// One transaction for the group, a savepoint per unit.
fn run_group(conn: &mut rusqlite::Connection, group: &mut [Box<dyn Job>]) -> Result<(), String> {
    let result = (|| {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for job in group.iter_mut() {
            conn.execute_batch("SAVEPOINT unit")?;
            let keep = poll_once(job.run(&mut LiteConn { conn: &mut *conn }));
            conn.execute_batch(if keep == Some(true) {
                "RELEASE unit"
            } else {
                "ROLLBACK TO unit; RELEASE unit"
            })?;
        }
        conn.execute_batch("COMMIT")
    })();
    result.map_err(|e| {
        // Nothing of the group is kept; the connection must be ready for the next one.
        if !conn.is_autocommit() {
            if let Err(r) = conn.execute_batch("ROLLBACK") {
                tracing::error!(target: "error", error = %r, "rollback of a failed group failed");
            }
        }
        e.to_string()
    })
}

/// Polls a unit once. Everything a unit awaits on this thread is the database, which answers at
/// once; a unit still pending after one poll waited for something else and is given up (its
/// savepoint is rolled back). A unit that panics is given up the same way, so that it cannot
/// take the writer — and every unit after it — down with it.
fn poll_once<T>(mut fut: super::UnitFuture<'_, T>) -> Option<T> {
    let mut cx = Context::from_waker(Waker::noop());
    let polled =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
    match polled {
        Ok(Poll::Ready(v)) => Some(v),
        Ok(Poll::Pending) => {
            tracing::error!(target: "error", "a unit of work awaited something other than the database; rolled back");
            None
        }
        Err(_) => {
            tracing::error!(target: "error", "a unit of work panicked; rolled back");
            None
        }
    }
}

/// The log beside a database file.
fn file_wal(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Beyond this size of the log a checkpoint also waits for the writer to let it restart the log.
const WAL_LIMIT: u64 = 64 << 20;

/// Copies committed pages from the log into the database file, on its own connection so the
/// writer never waits for it. A passive checkpoint takes no lock that writers need; when the
/// log has grown past [`WAL_LIMIT`] under sustained writing, a truncating one waits for a gap
/// between the writer's transactions and starts the log over.
fn checkpointer(conn: rusqlite::Connection, wal: PathBuf, poked: mpsc::Receiver<()>) {
    while poked.recv().is_ok() {
        let big = std::fs::metadata(&wal)
            .map(|m| m.len() > WAL_LIMIT)
            .unwrap_or(false);
        let mode = if big { "TRUNCATE" } else { "PASSIVE" };
        if let Err(e) = conn.execute_batch(&format!("PRAGMA wal_checkpoint({mode})")) {
            tracing::warn!(target: "detail", error = %e, mode, "checkpoint did not run");
        }
    }
}

fn syncer(wal: Option<PathBuf>, committed: mpsc::Receiver<Committed>) {
    while let Ok(first) = committed.recv() {
        let mut groups = vec![first];
        while let Ok(next) = committed.try_recv() {
            groups.push(next);
        }
        if let Some(wal) = &wal {
            if groups.iter().any(|g| g.result.is_ok()) {
                if let Err(e) = crate::durable::fsync(wal) {
                    tracing::error!(target: "error", error = %e, wal = %wal.display(),
                        "fsync of the write-ahead log failed: stopping (the data may not be on disk)");
                    std::process::abort();
                }
            }
        }
        for g in groups {
            for job in g.jobs {
                job.finish(g.result.clone().map_err(StoreError::Commit));
            }
        }
    }
}

/// The writer thread's connection as a unit sees it.
struct LiteConn<'a> {
    conn: &'a mut rusqlite::Connection,
}

impl LiteConn<'_> {
    fn prepare<'s>(
        conn: &'s rusqlite::Connection,
        sql: &str,
        params: &[Value],
    ) -> Result<rusqlite::CachedStatement<'s>, StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(lite)?;
        bind(&mut stmt, params)?;
        Ok(stmt)
    }
}

/// Binds like the `sqlx` SQLite driver: `$N`/`?N` take parameter N, anonymous `?` the next one.
fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<(), StoreError> {
    let count = stmt.parameter_count();
    let mut next = 0usize;
    for i in 1..=count {
        let n = match stmt.parameter_name(i) {
            None => {
                next += 1;
                next
            }
            Some(name) => name
                .strip_prefix('$')
                .or_else(|| name.strip_prefix('?'))
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Lite(format!("unsupported parameter {name}")))?,
        };
        let v = params.get(n - 1).unwrap_or(&Value::Null);
        let r = match v {
            Value::Null | Value::NullInt => stmt.raw_bind_parameter(i, rusqlite::types::Null),
            Value::Int(x) => stmt.raw_bind_parameter(i, x),
            Value::Text(s) => stmt.raw_bind_parameter(i, s.as_str()),
            Value::Blob(b) => stmt.raw_bind_parameter(i, b.as_slice()),
        };
        r.map_err(lite)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Conn for LiteConn<'_> {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = Self::prepare(self.conn, sql, params)?;
        let n = stmt.raw_execute().map_err(lite)?;
        Ok(n as u64)
    }

    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = Self::prepare(self.conn, sql, params)?;
        let names: Arc<[String]> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let width = names.len();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(lite)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match r.get_ref(i).map_err(lite)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Text(v.to_string()),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row::new(names.clone(), values));
        }
        Ok(out)
    }
}

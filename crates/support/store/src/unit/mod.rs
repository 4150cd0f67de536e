//! Units of work: a request's writes (state change, vouchers, outbox events) as one closure
//! that the store runs where writing is cheapest.
//!
//! - Embedded SQLite: one writer thread owns the database ([`lite`]). Units that arrive
//!   together run there one after another in one transaction, each inside a savepoint of its
//!   own (a unit that fails is rolled back alone), and share one commit and one fsync. Their
//!   callers hear back only once that fsync is done.
//! - PostgreSQL: a unit is a transaction on a pooled connection (the server groups commits).
//!
//! A unit talks to the database through [`Conn`] and must await nothing else: on SQLite it is
//! polled once on the writer thread, and a unit that waits for anything but the database there
//! is refused (it would stall every other writer).

pub mod companion;
mod lite;
mod row;
mod sqlx_conn;

pub use lite::Writer;
pub use row::{Columns, Row, Value};

use crate::db::{Db, Engine, StoreError};

/// Gives a closure the higher-ranked type of a unit (inference alone does not).
fn unit_fn<T, E, F>(f: F) -> F
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>>,
{
    f
}

/// A future that borrows the unit's connection.
pub type UnitFuture<'c, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'c>>;

/// The database as a unit of work sees it. SQL is written once with `$1` placeholders (or the
/// anonymous `?` of [`crate::sql::list`]-style helpers on SQLite).
#[async_trait::async_trait]
pub trait Conn: Send {
    fn engine(&self) -> Engine;
    /// Runs a statement; returns the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; returns all its rows.
    async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    async fn fetch_optional(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    async fn fetch_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.fetch_optional(sql, params)
            .await?
            .ok_or_else(|| StoreError::Sqlx(sqlx::Error::RowNotFound))
    }
}

/// The work a unit does, type-erased for the writer: run it (true: keep its writes), then tell
/// it how the shared commit ended.
pub(crate) trait Job: Send {
    fn run<'c>(&'c mut self, conn: &'c mut dyn Conn) -> UnitFuture<'c, bool>;
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
    /// False for a unit answered at its commit (see [`Db::unit_committed`]).
    fn waits_for_sync(&self) -> bool;
}

type UnitFn<T, E> =
    Box<dyn for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>> + Send>;

struct TypedJob<T, E> {
    work: Option<UnitFn<T, E>>,
    durable: bool,
    result: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<T: Send + 'static, E: From<StoreError> + Send + 'static> Job for TypedJob<T, E> {
    fn run<'c>(&'c mut self, conn: &'c mut dyn Conn) -> UnitFuture<'c, bool> {
        Box::pin(async move {
            let Some(work) = self.work.take() else {
                return false;
            };
            let r = work(conn).await;
            let keep = r.is_ok();
            self.result = Some(r);
            keep
        })
    }

    fn waits_for_sync(&self) -> bool {
        self.durable
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let out = match (self.result, committed) {
            // A unit that failed was rolled back to its savepoint: its own error stands.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(e)) => Err(E::from(e)),
            (None, Err(e)) => Err(E::from(e)),
            // Given up after one poll (see `lite::poll_once`), its savepoint rolled back.
            (None, Ok(())) => Err(E::from(StoreError::UnitAbandoned)),
        };
        // The caller may have gone away (its request was dropped); the writes stand anyway.
        let _ = self.reply.send(out);
    }
}

impl Db {
    /// Runs `work` as a unit of work and returns its result once its writes are durable. On
    /// error nothing of it is kept. See the module documentation.
    pub async fn unit<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>> + Send + 'static,
    {
        self.submit_unit(work, true).await
    }

    /// [`Db::unit`], answered once its writes are committed rather than once they are on disk
    /// (they are, at the fsync that follows within milliseconds). Only for writes whose loss in
    /// a crash harms nobody and that nothing durable depends on — a request's nonce, whose own
    /// effects commit after it, and so reach the disk with or after it.
    pub async fn unit_committed<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>> + Send + 'static,
    {
        self.submit_unit(work, false).await
    }

    async fn submit_unit<T, E, F>(&self, work: F, durable: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>> + Send + 'static,
    {
        let companion = companion::take();
        let again = companion.clone();
        let work = unit_fn(move |c| {
            Box::pin(async move {
                if let Some(companion) = companion {
                    companion(&mut *c).await.map_err(E::from)?;
                }
                work(c).await
            })
        });
        let done = self.run_unit(work, durable).await;
        if let (Err(_), Some(c)) = (&done, again) {
            companion::restore(c);
        }
        done
    }

    async fn run_unit<T, E, F>(&self, work: F, durable: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>> + Send + 'static,
    {
        match &self.lite_writer {
            Some(writer) => {
                let (reply, wait) = tokio::sync::oneshot::channel();
                let job = TypedJob {
                    work: Some(Box::new(work)),
                    durable,
                    result: None,
                    reply,
                };
                writer.submit(Box::new(job)).await?;
                wait.await.map_err(|_| E::from(StoreError::WriterGone))?
            }
            None => self.unit_on_pool(work).await,
        }
    }

    /// PostgreSQL (and any engine without a writer thread): the unit in a transaction of its own.
    async fn unit_on_pool<T, E, F>(&self, work: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<T, E>> + Send + 'static,
    {
        let mut tx = self.begin().await.map_err(E::from)?;
        let out = work(&mut tx).await?;
        tx.commit()
            .await
            .map_err(|e| E::from(StoreError::from(e)))?;
        self.durable().await.map_err(E::from)?;
        Ok(out)
    }
}

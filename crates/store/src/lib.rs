//! Support layer: one database API over SQLite (embedded default) and PostgreSQL.
//!
//! - [`Db`]: pools, engine, health; SQL is written once with `$1` placeholders and runs on both.
//! - [`migrate`]: the one set of migrations, applied at start-up.
//! - [`outbox`]: events written in the same transaction as the change they describe.
//! - [`jobs`]: durable jobs with leases, safe with several processes on PostgreSQL.
//! - [`sequence`]: persisted blocks of business-ID sequence numbers.

pub mod db;
pub mod durable;
pub mod jobs;
pub mod migrate;
pub mod outbox;
pub mod sequence;
pub mod testing;

pub use db::{Db, Engine, StoreError, Tx};
pub use sqlx::Row;

//! Support layer: one database API over SQLite (embedded default) and PostgreSQL.
//!
//! - [`Db`]: pools, engine, health; SQL is written once with `$1` placeholders and runs on both.
//! - [`migrate`]: runs every subsystem's migrations, in the order the program declares.
//! - [`state`]: the one state-machine executor (compare-and-set, history, refusals).
//! - [`outbox`]: events written in the same transaction as the change they describe.
//! - [`bus`]: outbox subscribers with persisted offsets and receipts (B4).
//! - [`jobs`]: durable jobs with leases, safe with several processes on PostgreSQL.
//! - [`sealed`]: columns sealed by the vault, counted and re-sealed by master key version.
//! - [`sequence`]: persisted blocks of business-ID sequence numbers.

pub mod bus;
pub mod db;
pub mod durable;
pub mod jobs;
pub mod migrate;
pub mod outbox;
pub mod sealed;
pub mod sequence;
pub mod settings;
pub mod state;
pub mod testing;
pub mod unit;

pub use db::{Db, Engine, StoreError, Tx};
pub use sqlx::Row;
pub use unit::{Columns, Conn, Value};

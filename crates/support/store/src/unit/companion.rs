//! A companion write: a row that must commit in the same transaction as a change it did not
//! make — the audit row of an operator call, written with the change the call makes.
//!
//! The caller (the operator guard, the command line) runs its work inside [`with_companion`].
//! The first transaction of that work — a [`Db::unit`](crate::Db::unit) or a
//! [`Db::begin`](crate::Db::begin) — writes the companion first, inside itself: if it commits,
//! the row commits with the change; if it rolls back, so does the row (a failed unit hands the
//! companion on to the next transaction; a rolled-back `begin` does not know it failed). The caller then asks
//! whether the row exists (it names it by a reference of its own) and writes it alone when the
//! work changed nothing (a read, a refusal, a failure before any write).

use std::sync::{Arc, Mutex};

use super::{Conn, UnitFuture};
use crate::StoreError;

/// Writes the companion row on the connection of the transaction it joins.
pub type CompanionWrite =
    Arc<dyn for<'c> Fn(&'c mut dyn Conn) -> UnitFuture<'c, Result<(), StoreError>> + Send + Sync>;

tokio::task_local! {
    static COMPANION: Mutex<Option<CompanionWrite>>;
}

/// Runs `work` with `write` waiting to join its first transaction.
pub async fn with_companion<F: std::future::Future>(write: CompanionWrite, work: F) -> F::Output {
    COMPANION.scope(Mutex::new(Some(write)), work).await
}

/// Puts back a companion whose unit failed (rolled back with it), for the next transaction.
pub(crate) fn restore(write: CompanionWrite) {
    let _ = COMPANION.try_with(|c| match c.lock() {
        Ok(mut slot) => *slot = Some(write),
        Err(poisoned) => *poisoned.into_inner() = Some(write),
    });
}

/// The companion of this task, taken: only the first transaction carries it.
pub(crate) fn take() -> Option<CompanionWrite> {
    COMPANION
        .try_with(|c| match c.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        })
        .ok()
        .flatten()
}

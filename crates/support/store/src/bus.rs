//! Messages (B4): every order change is an event in the transactional outbox; in-process
//! subscribers read it in order, each from its own persisted offset. Delivery is at least once
//! (a crash between handling and moving the offset hands the event over again), and handling
//! is idempotent: a receipt `(subscriber, event id)` is written in the same transaction as the
//! subscriber's effect, so an event handed over twice changes things once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::outbox::{self, Event};
use crate::{Db, StoreError, Tx};
use paycore_kernel::Clock;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("event {event_id} is malformed: {reason}")]
    Malformed { event_id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MessageError {
    fn from(e: sqlx::Error) -> Self {
        MessageError::Store(e.into())
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A consumer of outbox events.
pub trait Subscriber: Send + Sync {
    /// Its name: the key of its offset and receipts. Never rename a running subscriber.
    fn name(&self) -> &str;

    /// Applies one event inside `tx` (which also records the receipt).
    fn handle<'a>(
        &'a self,
        tx: &'a mut Tx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), MessageError>>;
}

/// Runs subscribers over the outbox.
#[derive(Clone)]
pub struct Bus {
    db: Db,
    clock: Arc<dyn Clock>,
    subscribers: Vec<Arc<dyn Subscriber>>,
}

const BATCH: i64 = 200;

impl Bus {
    pub fn new(db: Db, clock: Arc<dyn Clock>, subscribers: Vec<Arc<dyn Subscriber>>) -> Self {
        Self {
            db,
            clock,
            subscribers,
        }
    }

    /// Hands every subscriber the events it has not seen yet. Returns how many it handled.
    pub async fn run_once(&self) -> Result<usize, MessageError> {
        let mut handled = 0;
        for sub in &self.subscribers {
            let events = outbox::pending(&self.db, sub.name(), BATCH).await?;
            for event in &events {
                let mut tx = self.db.begin().await?;
                let fresh = sqlx::query(
                    "INSERT INTO message_receipts (subscriber, event_id, handled_at) VALUES ($1, $2, $3)
                     ON CONFLICT (subscriber, event_id) DO NOTHING",
                )
                .bind(sub.name())
                .bind(&event.event_id)
                .bind(self.clock.unix_millis())
                .execute(&mut *tx)
                .await?;
                if fresh.rows_affected() == 1 {
                    sub.handle(&mut tx, event).await?;
                    handled += 1;
                }
                tx.commit().await?;
                outbox::acknowledge(&self.db, sub.name(), event.seq, self.clock.unix_millis())
                    .await?;
            }
        }
        Ok(handled)
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(&self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "detail", error = %e, "message subscribers failed; retrying")
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

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
use crate::{Conn, Db, StoreError};
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

    /// Applies one event inside `tx`, the unit of work that also records the receipt. It
    /// awaits nothing but its statements.
    fn handle<'a>(
        &'a self,
        tx: &'a mut dyn Conn,
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
            if events.is_empty() {
                continue;
            }
            let events = Arc::new(events);
            handled += match self.handle_batch(sub, &events, 0..events.len()).await {
                Ok(n) => n,
                // One event of the batch fails: those before it still get through, one unit
                // each, and the failing one stops the subscriber where it is.
                Err(e) => {
                    tracing::warn!(target: "detail", subscriber = sub.name(), error = %e,
                        "a batch of events failed; handling them one by one");
                    let mut n = 0;
                    for i in 0..events.len() {
                        n += self.handle_batch(sub, &events, i..i + 1).await?;
                    }
                    n
                }
            };
        }
        Ok(handled)
    }

    /// One unit of work for `events`: each one's receipt and effect, then the offset after the
    /// last — so a batch is handled and acknowledged together, or not at all.
    async fn handle_batch(
        &self,
        sub: &Arc<dyn Subscriber>,
        events: &Arc<Vec<Event>>,
        range: std::ops::Range<usize>,
    ) -> Result<usize, MessageError> {
        let (sub, events, now) = (sub.clone(), events.clone(), self.clock.unix_millis());
        self.db
            .unit(move |tx| {
                Box::pin(async move {
                    let events = events.get(range).unwrap_or_default();
                    let mut handled = 0;
                    for event in events {
                        let fresh = tx
                            .execute(
                                "INSERT INTO message_receipts (subscriber, event_id, handled_at)
                                 VALUES ($1, $2, $3) ON CONFLICT (subscriber, event_id) DO NOTHING",
                                &[
                                    sub.name().into(),
                                    event.event_id.as_str().into(),
                                    now.into(),
                                ],
                            )
                            .await?;
                        if fresh == 1 {
                            sub.handle(tx, event).await?;
                            handled += 1;
                        }
                    }
                    if let Some(last) = events.last() {
                        outbox::acknowledge_in(tx, sub.name(), last.seq, now).await?;
                    }
                    Ok(handled)
                })
            })
            .await
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

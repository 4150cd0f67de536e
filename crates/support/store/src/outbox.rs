//! The transactional outbox (E3, B4): an event is a row written in the same transaction as the
//! change it describes, so there is never a change without its event or an event without its
//! change. Subscribers read in id order and keep their own persisted offset (at-least-once).

use sqlx::Row;

use crate::db::{Db, StoreError};
use crate::unit::Conn;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the outbox; subscribers' offsets point here.
    pub seq: i64,
    pub event_id: String,
    pub topic: String,
    pub aggregate_id: String,
    pub shard_key: String,
    pub payload: String,
    pub created_at: i64,
}

pub struct NewEvent<'a> {
    pub event_id: &'a str,
    pub topic: &'a str,
    pub aggregate_id: &'a str,
    pub shard_key: &'a str,
    pub payload: &'a str,
    pub created_at: i64,
}

/// Appends an event inside the caller's transaction. The event id is unique: appending the same
/// id again is a no-op, so a retried business step cannot emit an event twice.
pub async fn append(tx: &mut dyn Conn, e: &NewEvent<'_>) -> Result<bool, StoreError> {
    let done = tx
        .execute(
            "INSERT INTO outbox (event_id, topic, aggregate_id, shard_key, payload, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
            &[
                e.event_id.into(),
                e.topic.into(),
                e.aggregate_id.into(),
                e.shard_key.into(),
                e.payload.into(),
                e.created_at.into(),
            ],
        )
        .await?;
    Ok(done == 1)
}

fn event(row: &sqlx::any::AnyRow) -> Result<Event, StoreError> {
    Ok(Event {
        seq: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        topic: row.try_get("topic")?,
        aggregate_id: row.try_get("aggregate_id")?,
        shard_key: row.try_get("shard_key")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The next events after the subscriber's offset, oldest first.
pub async fn pending(db: &Db, subscriber: &str, limit: i64) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, event_id, topic, aggregate_id, shard_key, payload, created_at FROM outbox
         WHERE id > COALESCE((SELECT last_id FROM outbox_offsets WHERE subscriber = $1), 0)
         ORDER BY id LIMIT $2",
    )
    .bind(subscriber)
    .bind(limit)
    .fetch_all(db.writer())
    .await?;
    rows.iter().map(event).collect()
}

/// Moves the subscriber's offset forward (never back) once it has handled events up to `seq`.
pub async fn acknowledge(db: &Db, subscriber: &str, seq: i64, now: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    acknowledge_in(&mut tx, subscriber, seq, now).await?;
    tx.commit().await?;
    Ok(())
}

/// [`acknowledge`] inside the unit that handled the events.
pub async fn acknowledge_in(
    tx: &mut dyn Conn,
    subscriber: &str,
    seq: i64,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox_offsets (subscriber, last_id, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (subscriber) DO UPDATE SET last_id = $2, updated_at = $3
         WHERE outbox_offsets.last_id < $2",
        &[subscriber.into(), seq.into(), now.into()],
    )
    .await?;
    Ok(())
}

pub async fn by_aggregate(db: &Db, aggregate_id: &str) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, event_id, topic, aggregate_id, shard_key, payload, created_at FROM outbox
         WHERE aggregate_id = $1 ORDER BY id",
    )
    .bind(aggregate_id)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(event).collect()
}

//! Business-ID sequence numbers handed out in persisted blocks: one round trip per block, and
//! a number is never handed out twice, across threads, restarts and processes.

use paycore_kernel::id::{BoxFuture, IdError, SequenceSource};
use paycore_kernel::BizType;
use sqlx::Row;

use crate::db::Db;

pub struct DbSequenceSource {
    db: Db,
}

impl DbSequenceSource {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn day_number(day: time::Date) -> i64 {
    day.year() as i64 * 10_000 + u8::from(day.month()) as i64 * 100 + day.day() as i64
}

impl SequenceSource for DbSequenceSource {
    fn reserve<'a>(
        &'a self,
        day: time::Date,
        biz: BizType,
        count: u32,
    ) -> BoxFuture<'a, Result<u64, IdError>> {
        Box::pin(async move {
            let count = i64::from(count);
            // The upsert returns the new end of the reserved range; sequences start at 1.
            let row = sqlx::query(
                "INSERT INTO id_sequences (day, biz_type, next_value) VALUES ($1, $2, $3 + 1)
                 ON CONFLICT (day, biz_type)
                 DO UPDATE SET next_value = id_sequences.next_value + $3
                 RETURNING next_value",
            )
            .bind(day_number(day))
            .bind(i64::from(biz.code()))
            .bind(count)
            .fetch_one(self.db.writer())
            .await
            .map_err(|e| IdError::Source(e.to_string()))?;
            let end: i64 = row
                .try_get("next_value")
                .map_err(|e| IdError::Source(e.to_string()))?;
            Ok((end - count) as u64)
        })
    }
}

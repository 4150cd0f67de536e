//! Bursts of refused channel messages (bad signatures, malformed bodies): the first of a
//! minute, per channel and kind, is an alert row; the rest only add to its count, kept in memory
//! and written at most once a second (and by the job loop once they stop), so that a flood of
//! forged callbacks costs one row and a few updates instead of a row each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::alerts::AlertKind;
use crate::error::AcquiringError;
use crate::Acquiring;

/// How long one alert collects its burst.
const WINDOW: Duration = Duration::from_secs(60);
/// How often a growing count is written.
const SAVE_EVERY: Duration = Duration::from_secs(1);

struct Burst {
    row: i64,
    started: Instant,
    saved_at: Instant,
    unsaved: i64,
}

#[derive(Default)]
pub(crate) struct Bursts(Mutex<HashMap<(String, AlertKind), Burst>>);

impl Bursts {
    /// Counts one more message into a running burst; `None` when none runs (the caller starts
    /// one). `Some((row, n))` when `n` counted messages are due to be written.
    fn add(&self, key: &(String, AlertKind)) -> Option<Option<(i64, i64)>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let b = map.get_mut(key).filter(|b| b.started.elapsed() < WINDOW)?;
        b.unsaved += 1;
        if b.saved_at.elapsed() < SAVE_EVERY {
            return Some(None);
        }
        b.saved_at = Instant::now();
        Some(Some((b.row, std::mem::take(&mut b.unsaved))))
    }

    /// Starts a burst on `row`, returning what the one it replaces still had unwritten.
    fn start(&self, key: (String, AlertKind), row: i64) -> Option<(i64, i64)> {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let old = map.insert(
            key,
            Burst {
                row,
                started: now,
                saved_at: now,
                unsaved: 0,
            },
        );
        old.filter(|b| b.unsaved > 0).map(|b| (b.row, b.unsaved))
    }

    /// What is unwritten; bursts that are over and written are forgotten.
    fn take_unsaved(&self) -> Vec<(i64, i64)> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let due = map
            .values_mut()
            .filter(|b| b.unsaved > 0)
            .map(|b| {
                b.saved_at = Instant::now();
                (b.row, std::mem::take(&mut b.unsaved))
            })
            .collect();
        map.retain(|_, b| b.started.elapsed() < WINDOW);
        due
    }
}

impl Acquiring {
    /// Records a refused channel message: a new alert, or one more in the running burst.
    pub(crate) async fn refused_message(
        &self,
        channel: &str,
        kind: AlertKind,
        detail: &str,
    ) -> Result<(), AcquiringError> {
        let key = (channel.to_string(), kind);
        match self.bursts.add(&key) {
            Some(Some((row, n))) => return self.add_count(row, n).await,
            Some(None) => return Ok(()),
            None => {}
        }
        let row = self.alert_row(channel, kind, detail).await?;
        if let Some((old, n)) = self.bursts.start(key, row) {
            self.add_count(old, n).await?;
        }
        Ok(())
    }

    /// Writes the counts of bursts that have gone quiet (called by the job loop).
    pub(crate) async fn save_bursts(&self) -> Result<(), AcquiringError> {
        for (row, n) in self.bursts.take_unsaved() {
            self.add_count(row, n).await?;
        }
        Ok(())
    }

    async fn add_count(&self, row: i64, n: i64) -> Result<(), AcquiringError> {
        sqlx::query("UPDATE channel_alerts SET count = count + $1, last_at = $2 WHERE id = $3")
            .bind(n)
            .bind(self.now())
            .bind(row)
            .execute(self.db.writer())
            .await?;
        Ok(())
    }
}

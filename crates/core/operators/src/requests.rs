//! Idempotent operator requests: the first request under an `Idempotency-Key` reserves it and
//! stores its answer; the same request again gets that answer, a different one is refused.

use paycore_store::Row;

use crate::{OperatorError, Operators};

/// A stored answer.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What to do with a request carrying an `Idempotency-Key`.
#[derive(Debug)]
pub enum Replay {
    /// First time: the key is now reserved; run the request and [`Operators::store_response`].
    Fresh,
    /// Seen before with the same request: answer this.
    Answer(StoredResponse),
}

impl Operators {
    /// Reserves `key` for the request with hash `request_hash`, or says what the first request
    /// got. `KeyReused` when the key came with another request, `InProgress` while the first
    /// one has not answered yet.
    pub async fn reserve_request(
        &self,
        key: &str,
        request_hash: &str,
        now: i64,
    ) -> Result<Replay, OperatorError> {
        if key.is_empty() || key.len() > 128 || key.chars().any(char::is_control) {
            return Err(OperatorError::Invalid(
                "Idempotency-Key must be 1 to 128 printable characters".into(),
            ));
        }
        let reserved = sqlx::query(
            "INSERT INTO operator_requests (idempotency_key, operation, request_hash, status_code,
                response, created_at) VALUES ($1, '', $2, 0, '', $3)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(self.db().writer())
        .await?;
        if reserved.rows_affected() == 1 {
            return Ok(Replay::Fresh);
        }
        let row = sqlx::query(
            "SELECT request_hash, status_code, response FROM operator_requests
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_one(self.db().writer())
        .await?;
        let stored_hash: String = row.try_get("request_hash")?;
        let status: i64 = row.try_get("status_code")?;
        if stored_hash != request_hash {
            return Err(OperatorError::KeyReused);
        }
        if status == 0 {
            return Err(OperatorError::InProgress);
        }
        Ok(Replay::Answer(StoredResponse {
            status: u16::try_from(status).unwrap_or(200),
            body: row.try_get("response")?,
        }))
    }

    /// Keeps the answer of a fresh request for its replays.
    pub async fn store_response(
        &self,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), OperatorError> {
        sqlx::query(
            "UPDATE operator_requests SET status_code = $1, response = $2 WHERE idempotency_key = $3",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(key)
        .execute(self.db().writer())
        .await?;
        Ok(())
    }
}

//! Reading and inserting acquiring's rows: committed reads outside any transaction (on the
//! readers), locked reads inside one, and the insertion of channel attempts with their
//! query-back job.

use paycore_kernel::{BizType, Money};
use paycore_store::{jobs, Engine, Tx};

use crate::error::AcquiringError;
use crate::jobs::JobKind;
use crate::machines::AttemptStatus;
use crate::model::*;
use crate::Acquiring;

/// A new attempt at a channel.
pub(crate) struct NewAttempt<'a> {
    pub attempt_id: &'a str,
    pub kind: AttemptKind,
    pub payment_id: &'a str,
    pub refund_id: Option<&'a str>,
    pub merchant_id: &'a str,
    pub channel: &'a str,
    pub amount: Money,
}

/// Business ids taken before a transaction that may need them (on SQLite a new block of them
/// needs the one writer connection that the transaction would hold).
pub(crate) struct ReservedIds {
    pub event: String,
    pub refund: Option<String>,
    pub refund_attempt: Option<String>,
}

impl Acquiring {
    /// Ids for one change of `shard_key`'s object: its event, and when a refund may be born
    /// of it, the refund's and its attempt's. The shard key is the attempt (or refund) id: its
    /// shard digits are the merchant's.
    pub(crate) async fn reserve_ids(
        &self,
        shard_key: &str,
        with_refund: bool,
    ) -> Result<ReservedIds, AcquiringError> {
        let event = self.ids.next(BizType::Event, shard_key).await?.to_string();
        if !with_refund {
            return Ok(ReservedIds {
                event,
                refund: None,
                refund_attempt: None,
            });
        }
        Ok(ReservedIds {
            event,
            refund: Some(self.ids.next(BizType::Refund, shard_key).await?.to_string()),
            refund_attempt: Some(
                self.ids
                    .next(BizType::ChannelAttempt, shard_key)
                    .await?
                    .to_string(),
            ),
        })
    }

    /// One row by its key, as committed now (outside any transaction).
    async fn row_by(
        &self,
        columns: &str,
        table: &str,
        key: &str,
        id: &str,
    ) -> Result<sqlx::any::AnyRow, AcquiringError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE {key} = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(AcquiringError::NotFound)
    }

    /// One row by its key inside `tx`, locked for the rest of it on PostgreSQL (SQLite's one
    /// writer already serializes the transactions).
    async fn locked_row(
        &self,
        tx: &mut Tx,
        columns: &str,
        table: &str,
        key: &str,
        id: &str,
    ) -> Result<sqlx::any::AnyRow, AcquiringError> {
        let lock = if self.db.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE {key} = $1{lock}"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AcquiringError::NotFound)
    }

    pub(crate) async fn payment_by_id(&self, payment_id: &str) -> Result<Payment, AcquiringError> {
        payment_from_row(
            &self
                .row_by(PAYMENT_COLUMNS, "payments", "payment_id", payment_id)
                .await?,
        )
    }

    pub(crate) async fn payment_in(
        &self,
        tx: &mut Tx,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        payment_from_row(
            &self
                .locked_row(tx, PAYMENT_COLUMNS, "payments", "payment_id", payment_id)
                .await?,
        )
    }

    /// A merchant's payment; another merchant's is `NotFound`.
    pub async fn payment(
        &self,
        merchant_id: &str,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        let p = self.payment_by_id(payment_id).await?;
        if p.merchant_id != merchant_id {
            return Err(AcquiringError::NotFound);
        }
        Ok(p)
    }

    pub(crate) async fn by_out_trade_no(
        &self,
        merchant_id: &str,
        out_trade_no: &str,
    ) -> Result<Option<Payment>, AcquiringError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE merchant_id = $1 AND out_trade_no = $2"
        )))
        .bind(merchant_id)
        .bind(out_trade_no)
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    pub async fn payment_by_out_trade_no(
        &self,
        merchant_id: &str,
        out_trade_no: &str,
    ) -> Result<Payment, AcquiringError> {
        self.by_out_trade_no(merchant_id, out_trade_no)
            .await?
            .ok_or(AcquiringError::NotFound)
    }

    pub(crate) async fn attempt_in(
        &self,
        tx: &mut Tx,
        attempt_id: &str,
    ) -> Result<Attempt, AcquiringError> {
        attempt_from_row(
            &self
                .locked_row(
                    tx,
                    ATTEMPT_COLUMNS,
                    "channel_attempts",
                    "attempt_id",
                    attempt_id,
                )
                .await?,
        )
    }

    /// An attempt as it is now, outside any transaction.
    pub(crate) async fn attempt_now(&self, attempt_id: &str) -> Result<Attempt, AcquiringError> {
        attempt_from_row(
            &self
                .row_by(
                    ATTEMPT_COLUMNS,
                    "channel_attempts",
                    "attempt_id",
                    attempt_id,
                )
                .await?,
        )
    }

    pub(crate) async fn refund_in(
        &self,
        tx: &mut Tx,
        refund_id: &str,
    ) -> Result<Refund, AcquiringError> {
        refund_from_row(
            &self
                .locked_row(tx, REFUND_COLUMNS, "refunds", "refund_id", refund_id)
                .await?,
        )
    }

    pub(crate) async fn refund_by_id(&self, refund_id: &str) -> Result<Refund, AcquiringError> {
        refund_from_row(
            &self
                .row_by(REFUND_COLUMNS, "refunds", "refund_id", refund_id)
                .await?,
        )
    }

    pub(crate) async fn refund_by_no(
        &self,
        merchant_id: &str,
        out_refund_no: &str,
    ) -> Result<Option<Refund>, AcquiringError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE merchant_id = $1 AND out_refund_no = $2"
        )))
        .bind(merchant_id)
        .bind(out_refund_no)
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// A merchant's refund; another merchant's is `NotFound`.
    pub async fn refund(
        &self,
        merchant_id: &str,
        refund_id: &str,
    ) -> Result<Refund, AcquiringError> {
        let r = self.refund_by_id(refund_id).await?;
        if r.merchant_id != merchant_id {
            return Err(AcquiringError::NotFound);
        }
        Ok(r)
    }

    pub async fn refund_by_out_refund_no(
        &self,
        merchant_id: &str,
        out_refund_no: &str,
    ) -> Result<Refund, AcquiringError> {
        self.refund_by_no(merchant_id, out_refund_no)
            .await?
            .ok_or(AcquiringError::NotFound)
    }

    pub async fn refunds_of(&self, payment_id: &str) -> Result<Vec<Refund>, AcquiringError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY id"
        )))
        .bind(payment_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// The newest refund of `kind` of a payment, as committed now.
    pub(crate) async fn latest_refund(
        &self,
        payment_id: &str,
        kind: RefundKind,
    ) -> Result<Option<Refund>, AcquiringError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 AND kind = $2
             ORDER BY id DESC LIMIT 1"
        )))
        .bind(payment_id)
        .bind(kind.as_str())
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// The refund of `kind` that gives back the charge of `payment_attempt_id`, inside `tx`.
    pub(crate) async fn refund_of_attempt(
        &self,
        tx: &mut Tx,
        payment_attempt_id: &str,
        kind: RefundKind,
    ) -> Result<Option<Refund>, AcquiringError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_attempt_id = $1 AND kind = $2
             ORDER BY id LIMIT 1"
        )))
        .bind(payment_attempt_id)
        .bind(kind.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// Inserts an attempt in its initial state, with its first query-back.
    pub(crate) async fn insert_attempt(
        &self,
        tx: &mut Tx,
        a: &NewAttempt<'_>,
    ) -> Result<(), AcquiringError> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO channel_attempts (attempt_id, kind, payment_id, refund_id, merchant_id,
                channel, amount, currency, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(a.attempt_id)
        .bind(a.kind.as_str())
        .bind(a.payment_id)
        .bind(a.refund_id)
        .bind(a.merchant_id)
        .bind(a.channel)
        .bind(a.amount.minor())
        .bind(a.amount.currency().code())
        .bind(AttemptStatus::Created.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let first = self.config.query_back.delay(0).unwrap_or(5_000);
        let job = match a.kind {
            AttemptKind::Pay => JobKind::Query,
            AttemptKind::Refund | AttemptKind::Cancel => JobKind::RefundQuery,
        };
        jobs::enqueue(tx, job.as_str(), a.attempt_id, "{}", now + first).await?;
        Ok(())
    }
}

//! Reading and inserting acquiring's rows: committed reads outside any transaction (on the
//! readers), locked reads inside one, and the insertion of channel attempts with their
//! query-back job.

use paycore_kernel::{BizType, Money};
use paycore_store::unit::Row;
use paycore_store::{jobs, Conn, Engine};

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
    ) -> Result<Row, AcquiringError> {
        self.db
            .read_optional(
                &format!("SELECT {columns} FROM {table} WHERE {key} = $1"),
                &[id.into()],
            )
            .await?
            .ok_or(AcquiringError::NotFound)
    }

    /// One row by its key inside `tx`, locked for the rest of it on PostgreSQL (SQLite's one
    /// writer already serializes the transactions).
    async fn locked_row(
        &self,
        tx: &mut dyn Conn,
        columns: &str,
        table: &str,
        key: &str,
        id: &str,
    ) -> Result<Row, AcquiringError> {
        let lock = if tx.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        tx.fetch_optional(
            &format!("SELECT {columns} FROM {table} WHERE {key} = $1{lock}"),
            &[id.into()],
        )
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
        tx: &mut dyn Conn,
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
        let row = self
            .db
            .read_optional(
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments
                     WHERE merchant_id = $1 AND out_trade_no = $2"
                ),
                &[merchant_id.into(), out_trade_no.into()],
            )
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
        tx: &mut dyn Conn,
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
        tx: &mut dyn Conn,
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
        let row = self
            .db
            .read_optional(
                &format!(
                    "SELECT {REFUND_COLUMNS} FROM refunds
                     WHERE merchant_id = $1 AND out_refund_no = $2"
                ),
                &[merchant_id.into(), out_refund_no.into()],
            )
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
        let rows = self
            .db
            .read(
                &format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY id"),
                &[payment_id.into()],
            )
            .await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// The newest refund of `kind` of a payment, as committed now.
    pub(crate) async fn latest_refund(
        &self,
        payment_id: &str,
        kind: RefundKind,
    ) -> Result<Option<Refund>, AcquiringError> {
        let row = self
            .db
            .read_optional(
                &format!(
                    "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 AND kind = $2
                     ORDER BY id DESC LIMIT 1"
                ),
                &[payment_id.into(), kind.as_str().into()],
            )
            .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// The refund of `kind` that gives back the charge of `payment_attempt_id`, inside `tx`.
    pub(crate) async fn refund_of_attempt(
        &self,
        tx: &mut dyn Conn,
        payment_attempt_id: &str,
        kind: RefundKind,
    ) -> Result<Option<Refund>, AcquiringError> {
        let row = tx
            .fetch_optional(
                &format!(
                    "SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_attempt_id = $1
                       AND kind = $2 ORDER BY id LIMIT 1"
                ),
                &[payment_attempt_id.into(), kind.as_str().into()],
            )
            .await?;
        row.as_ref().map(refund_from_row).transpose()
    }

    /// Inserts an attempt in its initial state, with its first query-back.
    pub(crate) async fn insert_attempt(
        &self,
        tx: &mut dyn Conn,
        a: &NewAttempt<'_>,
    ) -> Result<(), AcquiringError> {
        let now = self.now();
        tx.execute(
            "INSERT INTO channel_attempts (attempt_id, kind, payment_id, refund_id, merchant_id,
                channel, amount, currency, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            &[
                a.attempt_id.into(),
                a.kind.as_str().into(),
                a.payment_id.into(),
                a.refund_id.into(),
                a.merchant_id.into(),
                a.channel.into(),
                a.amount.minor().into(),
                a.amount.currency().code().into(),
                AttemptStatus::Created.as_str().into(),
                now.into(),
            ],
        )
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

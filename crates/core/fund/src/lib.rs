//! Fund products (资金产品, S4) and the member's wallet (P8): top-up from a bound card,
//! member-to-member transfer, withdrawal to a bound card, and the wallet's balances. Each is an order with its state
//! machine, idempotent by the member's `request_no`; the money moves only in the ledger, by the
//! posting rules `TOPUP`, `TRANSFER` and `WITHDRAW_*`, in the same transaction as the order's state.

mod model;
mod topup;
mod transfer;
mod wallet;
mod withdraw;

pub use model::{FundEvent, FundKind, FundOrder, FundStatus};
pub use transfer::TransferRequest;
pub use wallet::{AssetBalance, WalletBalance};
pub use withdraw::WithdrawRequest;

use std::sync::Arc;

use paycore_card::{CardError, Cards};
use paycore_channels::Connector;
use paycore_kernel::id::IdError;
use paycore_kernel::{Clock, IdGenerator, MoneyError};
use paycore_ledger::{Ledger, LedgerError};
use paycore_member::{MemberError, Members};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::state::TransitionError;
use paycore_store::{Db, StoreError};

/// The fund products' tables.
pub const SCHEMA: Schema = Schema {
    component: "fund",
    migrations: &[Migration {
        version: 1,
        name: "fund",
        sql: include_str!("../migrations/0001_fund.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum FundError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("request_no was used for a different request")]
    IdempotencyConflict,
    #[error("the wallet balance is not enough")]
    InsufficientBalance,
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("stored fund data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl From<paycore_quota::QuotaError> for FundError {
    fn from(e: paycore_quota::QuotaError) -> Self {
        match e {
            paycore_quota::QuotaError::LimitExceeded(m) => FundError::LimitExceeded(m),
            paycore_quota::QuotaError::Invalid(m) => FundError::Invalid(m),
            paycore_quota::QuotaError::Store(s) => FundError::Store(s),
            other => FundError::Corrupt(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for FundError {
    fn from(e: sqlx::Error) -> Self {
        FundError::Store(e.into())
    }
}

impl From<TransitionError> for FundError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => FundError::Store(s),
            other => FundError::InvalidState(other.to_string()),
        }
    }
}

/// What the fund products work with.
pub struct Parts {
    pub db: Db,
    pub ids: Arc<IdGenerator>,
    pub clock: Arc<dyn Clock>,
    pub ledger: Ledger,
    pub members: Members,
    pub cards: Cards,
    /// The limits fund products consume (member, card, and the product by its kind).
    pub quotas: paycore_quota::Quotas,
    /// The bank that charges bound cards (none: top-ups are unavailable).
    pub bank: Option<Arc<dyn Connector>>,
    /// `{platform}/channels/{channel}/notify`, for the bank's notifications.
    pub platform_base_url: String,
}

/// The fund products over one database. Cheap to clone.
#[derive(Clone)]
pub struct Funds(Arc<Parts>);

impl Funds {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    fn now(&self) -> i64 {
        self.0.clock.unix_millis()
    }

    /// One of the member's orders.
    pub async fn order(&self, member_id: &str, order_id: &str) -> Result<FundOrder, FundError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM fund_orders WHERE order_id = $1 AND member_id = $2",
            model::ORDER_COLUMNS
        )))
        .bind(order_id)
        .bind(member_id)
        .fetch_optional(self.0.db.reader())
        .await?
        .ok_or(FundError::NotFound)?;
        FundOrder::from_row(&row)
    }

    async fn by_request(
        &self,
        member_id: &str,
        kind: FundKind,
        request_no: &str,
    ) -> Result<Option<FundOrder>, FundError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM fund_orders WHERE member_id = $1 AND kind = $2 AND request_no = $3",
            model::ORDER_COLUMNS
        )))
        .bind(member_id)
        .bind(kind.as_str())
        .bind(request_no)
        .fetch_optional(self.0.db.writer())
        .await?;
        row.as_ref().map(FundOrder::from_row).transpose()
    }
}

/// A member's own request number: 1 to 64 of `[A-Za-z0-9._-]`.
fn check_request_no(r: &str) -> Result<(), FundError> {
    match paycore_kernel::id::valid_own_number(r) {
        true => Ok(()),
        false => Err(FundError::Invalid(
            "request_no must be 1 to 64 of A-Z a-z 0-9 . _ -".into(),
        )),
    }
}

//! Acquiring's errors. The gateway maps them to API codes in one place.

use paycore_channels::RoutingError;
use paycore_kernel::id::IdError;
use paycore_kernel::state::IllegalTransition;
use paycore_kernel::{Money, MoneyError};
use paycore_ledger::LedgerError;
use paycore_merchant::MerchantError;
use paycore_notify::NotifyError;
use paycore_store::state::TransitionError;
use paycore_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AcquiringError {
    /// The request is wrong and will stay wrong (a field, or a currency no channel takes).
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    ProductNotEnabled(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("the same merchant number was used with different fields")]
    IdempotencyConflict,
    #[error("{0}")]
    InvalidState(String),
    #[error("the amount exceeds the refundable amount ({} left)", refundable.minor())]
    ExceedsRefundable { refundable: Money },
    #[error("{0}")]
    InsufficientBalance(String),
    #[error("risk rejected the payment: {0}")]
    RiskRejected(String),
    /// No channel can take it now (all switched off, circuit open): worth trying later.
    #[error("no channel can take this payment now: {0}")]
    ChannelUnavailable(String),
    #[error("channel message refused: {0}")]
    ChannelMessage(String),
    /// A channel spoke of an attempt another channel carries.
    #[error("the attempt is {carried_by}'s, not this channel's")]
    WrongChannel { carried_by: String },
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// A compare-and-set lost to a concurrent change.
    #[error("{0} changed concurrently; retry")]
    Concurrent(String),
    /// Stored data that does not parse.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A broken invariant of this code (a bug), never the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl AcquiringError {
    /// PostgreSQL gave the transaction up for another (a deadlock, a serialization failure).
    pub fn is_conflict(&self) -> bool {
        match self {
            AcquiringError::Store(e) => e.is_conflict(),
            AcquiringError::Ledger(e) => e.is_conflict(),
            _ => false,
        }
    }
}

/// Runs `run` again, a few times, when PostgreSQL gave its transaction up for another: each
/// run begins its own transaction and reads what it needs afresh, and a run given up left
/// nothing behind, so running it again is the same request once more.
pub(crate) async fn retry_conflicts<T, F, Fut>(mut run: F) -> Result<T, AcquiringError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AcquiringError>>,
{
    let mut tries = 1u64;
    loop {
        match run().await {
            Err(e) if e.is_conflict() && tries < 5 => {
                tracing::info!(target: "detail", error = %e, tries, "transaction conflict; running it again");
                tokio::time::sleep(std::time::Duration::from_millis(5 * tries)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

impl From<sqlx::Error> for AcquiringError {
    fn from(e: sqlx::Error) -> Self {
        AcquiringError::Store(e.into())
    }
}

impl From<TransitionError> for AcquiringError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => AcquiringError::Store(s),
            TransitionError::Illegal { source, .. } => AcquiringError::IllegalTransition(source),
            lost @ TransitionError::Lost { .. } => AcquiringError::Concurrent(lost.to_string()),
        }
    }
}

/// A stored name of one of acquiring's enums; an unknown one is corrupt data.
pub(crate) fn stored<T: paycore_kernel::state::Named>(
    what: &str,
    s: &str,
) -> Result<T, AcquiringError> {
    T::parse(s).ok_or_else(|| AcquiringError::Corrupt(format!("{what} {s:?}")))
}

//! Errors. A voucher's refusal (`PostError`) is data: it is stored with the failed voucher and
//! returned again when the same id is posted again. `LedgerError` is everything else.

use paycore_store::StoreError;
use serde::{Deserialize, Serialize};

/// Why one voucher (or hold operation) was refused. The engine checks in this order, so the same
/// bad input always gets the same error: shape → rule → accounts → currencies → balance → day →
/// account status → overdraft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PostError {
    #[error("voucher id must be 1..=64 characters")]
    InvalidVoucherNo,
    #[error("a voucher needs 2..={max} legs, got {got}")]
    LegCount { got: usize, max: usize },
    #[error("leg {leg}: amount must be positive")]
    NonPositiveAmount { leg: usize },
    #[error("unknown transaction code {tx_code:?}")]
    UnknownTxCode { tx_code: String },
    #[error("rule {tx_code}: {reason}")]
    RuleInput { tx_code: String, reason: String },
    #[error("leg {leg}: unknown account {account}")]
    UnknownAccount { leg: usize, account: String },
    #[error("leg {leg}: account is in {account_currency}, leg in {leg_currency}")]
    CurrencyMismatch {
        leg: usize,
        account_currency: String,
        leg_currency: String,
    },
    #[error("debits and credits differ in {currency}: {debits} vs {credits}")]
    Unbalanced {
        currency: String,
        debits: i64,
        credits: i64,
    },
    #[error("accounting day {day} is closed (current day {current})")]
    DayClosed { day: i64, current: i64 },
    #[error("accounting day {day} is not open yet (current day {current})")]
    DayNotOpen { day: i64, current: i64 },
    #[error("account {account} is closed")]
    AccountClosed { account: String },
    #[error("account {account} is frozen for debits")]
    AccountFrozen { account: String },
    #[error("account {account}: available {available} would go below its overdraft policy")]
    Overdraft { account: String, available: i64 },
    #[error("amount overflow")]
    Overflow,
    #[error("hold {hold_no} not found")]
    HoldNotFound { hold_no: String },
    #[error("hold {hold_no} is {status}, not pending")]
    HoldNotPending { hold_no: String, status: String },
    #[error("capture {requested} exceeds hold {held}")]
    CaptureExceedsHold { requested: i64, held: i64 },
    #[error("hold {hold_no} already exists")]
    HoldExists { hold_no: String },
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Refused(#[from] PostError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("posting rules: {0}")]
    Rules(String),
    #[error("unknown subject {0}")]
    UnknownSubject(String),
    #[error("subject {0} is not a detail (level 3) subject")]
    NotDetailSubject(String),
    #[error("account {0} not found")]
    AccountNotFound(String),
    #[error("account already exists: {0}")]
    AccountExists(String),
    #[error("account {account}: {reason}")]
    AccountPolicy { account: String, reason: String },
    #[error(transparent)]
    IllegalTransition(#[from] paycore_kernel::state::IllegalTransition),
    /// A status move was refused by the state-machine executor (illegal, or lost to a
    /// concurrent change).
    #[error(transparent)]
    Transition(paycore_store::state::TransitionError),
    #[error(transparent)]
    Money(#[from] paycore_kernel::MoneyError),
    #[error("an account changed while the batch was planned; the batch is retried")]
    Stale,
    #[error("group commit failed: {0}")]
    Commit(String),
    #[error("the ledger writer has stopped")]
    WriterGone,
    #[error("day {0} is neither a closed day nor the open one")]
    NoSuchDay(i64),
    #[error("stored ledger data is invalid: {0}")]
    Corrupt(String),
    #[error("export: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(StoreError::Sqlx(e))
    }
}

impl From<paycore_store::state::TransitionError> for LedgerError {
    fn from(e: paycore_store::state::TransitionError) -> Self {
        match e {
            paycore_store::state::TransitionError::Store(s) => LedgerError::Store(s),
            other => LedgerError::Transition(other),
        }
    }
}

impl LedgerError {
    /// PostgreSQL gave the transaction up for another (see `StoreError::is_conflict`).
    pub fn is_conflict(&self) -> bool {
        match self {
            LedgerError::Store(e) => e.is_conflict(),
            LedgerError::Transition(paycore_store::state::TransitionError::Store(e)) => {
                e.is_conflict()
            }
            _ => false,
        }
    }

    /// The refusal, when this is one.
    pub fn refusal(&self) -> Option<&PostError> {
        match self {
            LedgerError::Refused(p) => Some(p),
            _ => None,
        }
    }
}

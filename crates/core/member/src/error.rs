//! What the member platform refuses, each with what the API answers.

use paycore_kernel::crypto::CryptoError;
use paycore_kernel::id::IdError;
use paycore_store::state::TransitionError;
use paycore_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("{0}")]
    Invalid(String),
    #[error("this phone number is already registered")]
    PhoneTaken,
    #[error("wrong phone number or password")]
    BadCredentials,
    #[error("too many wrong passwords: login is locked for {minutes} more minutes")]
    LoginLocked { minutes: i64 },
    #[error("unknown, expired or revoked member token")]
    Unauthenticated,
    #[error("member not found")]
    NotFound,
    #[error("the member is {0}")]
    NotActive(String),
    /// A code or password that does not check out (wrong, expired, used up).
    #[error("{0}")]
    Verification(String),
    #[error("too many wrong pay passwords: it is locked for {minutes} more minutes")]
    PayPasswordLocked { minutes: i64 },
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    RateLimited(String),
    /// A service the member platform depends on (SMS gateway, identity service) is missing or
    /// failed.
    #[error("{0}")]
    Unavailable(String),
    #[error("stored member data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<sqlx::Error> for MemberError {
    fn from(e: sqlx::Error) -> Self {
        MemberError::Store(e.into())
    }
}

impl From<TransitionError> for MemberError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => MemberError::Store(s),
            TransitionError::Illegal { source, .. } => {
                MemberError::InvalidState(source.to_string())
            }
            TransitionError::Lost { .. } => {
                MemberError::InvalidState("the member changed concurrently; retry".into())
            }
        }
    }
}

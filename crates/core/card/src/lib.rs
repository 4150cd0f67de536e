//! Card center (卡中心, S18): the card vault and quick-pay card binding. A member's card number
//! is checked (Luhn, the shipped BIN table), sealed under a data key the master key wraps, and
//! never shown again: the card is its id, a masked number (first 6, last 4) and its issuer. The
//! security code goes to the bank once, at binding, and is never stored. Binding signs the
//! quick-pay agreement with the bank, confirmed by the code the bank texts to the card's phone.

mod bind;
mod keys;
mod model;
pub mod pan;

pub use keys::SEALED;
pub use model::{Card, CardEvent, CardStatus, NewCard};

use std::sync::Arc;

use paycore_channels::Connector;
use paycore_kernel::crypto::{CryptoError, Vault};
use paycore_kernel::id::IdError;
use paycore_kernel::{Clock, IdGenerator};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::state::TransitionError;
use paycore_store::{Db, StoreError};

/// The card center's tables.
pub const SCHEMA: Schema = Schema {
    component: "card",
    migrations: &[Migration {
        version: 1,
        name: "card",
        sql: include_str!("../migrations/0001_card.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("{0}")]
    Invalid(String),
    #[error("card not found")]
    NotFound,
    #[error("{0}")]
    InvalidState(String),
    /// The bank's code was wrong (the bank counts the tries).
    #[error("{0}")]
    Verification(String),
    /// The bank refused the card.
    #[error("the bank refused the card: {message} ({code})")]
    Refused { code: String, message: String },
    #[error("{0}")]
    Unavailable(String),
    #[error("stored card data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<sqlx::Error> for CardError {
    fn from(e: sqlx::Error) -> Self {
        CardError::Store(e.into())
    }
}

impl From<TransitionError> for CardError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => CardError::Store(s),
            other => CardError::InvalidState(other.to_string()),
        }
    }
}

/// The card vault over one database, binding through one quick-pay bank. Cheap to clone.
#[derive(Clone)]
pub struct Cards {
    db: Db,
    ids: Arc<IdGenerator>,
    clock: Arc<dyn Clock>,
    keys: Arc<keys::Keys>,
    /// The bank that signs quick-pay agreements (none: binding is unavailable).
    bank: Option<Arc<dyn Connector>>,
}

impl Cards {
    pub fn new(
        db: Db,
        ids: Arc<IdGenerator>,
        master: Vault,
        clock: Arc<dyn Clock>,
        bank: Option<Arc<dyn Connector>>,
    ) -> Self {
        Self {
            keys: Arc::new(keys::Keys::new(db.clone(), master)),
            db,
            ids,
            clock,
            bank,
        }
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }
}

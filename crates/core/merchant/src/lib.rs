//! Merchant platform (S9): merchants and their KYB data and status, their API keys (several at
//! once, for rotation), and their contracts for products with fee plans.

mod cache;
mod contract;
mod keys;
mod model;

pub use contract::{
    Contract, ContractEvent, ContractStatus, ContractTerms, CurrencyTerms, MAX_AMOUNT,
};
pub use keys::{AuthKey, KeyEvent, KeyStatus, MerchantKey, NewKey, SEALED};
pub use model::{Kyb, Merchant, MerchantEvent, MerchantStatus};

use std::sync::Arc;

use paycore_kernel::crypto::{CryptoError, Vault};
use paycore_kernel::id::IdError;
use paycore_kernel::state::{self, IllegalTransition};
use paycore_kernel::{BizType, Clock, IdGenerator, MoneyError};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::state::{Transition, TransitionError};
use paycore_store::{Db, Row, StoreError};

/// The merchant platform's tables.
pub const SCHEMA: Schema = Schema {
    component: "merchant",
    migrations: &[
        Migration {
            version: 1,
            name: "merchant",
            sql: include_str!("../migrations/0001_merchant.sql"),
        },
        Migration {
            version: 2,
            name: "currencies and status histories",
            sql: include_str!("../migrations/0002_currencies_histories.sql"),
        },
    ],
};

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("merchant not found")]
    NotFound,
    #[error("key not found")]
    KeyNotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("the merchant changed concurrently; retry")]
    Concurrent,
    #[error("stored merchant data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl From<TransitionError> for MerchantError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => MerchantError::Store(s),
            TransitionError::Illegal { source, .. } => MerchantError::IllegalTransition(source),
            TransitionError::Lost { .. } => MerchantError::Concurrent,
        }
    }
}

impl From<sqlx::Error> for MerchantError {
    fn from(e: sqlx::Error) -> Self {
        MerchantError::Store(e.into())
    }
}

/// The merchant platform's API. Cheap to clone.
#[derive(Clone)]
pub struct Merchants {
    db: Db,
    ids: Arc<IdGenerator>,
    vault: Vault,
    clock: Arc<dyn Clock>,
    /// Status given to new merchants: `onboarding` in production, `active` in sandbox mode so
    /// that a new test merchant can pay at once.
    initial_status: MerchantStatus,
    caches: Arc<cache::Caches>,
}

const MERCHANT_COLUMNS: &str = "merchant_id, name, status, legal_name, registration_number, \
    country, address, contact_email, contact_phone, website, mcc, created_at, updated_at";

impl Merchants {
    pub fn new(
        db: Db,
        ids: Arc<IdGenerator>,
        vault: Vault,
        clock: Arc<dyn Clock>,
        initial_status: MerchantStatus,
    ) -> Self {
        Self {
            db,
            ids,
            vault,
            clock,
            initial_status,
            caches: Arc::new(cache::Caches::default()),
        }
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }

    /// A new merchant, in the initial status of this deployment. `actor` is who asked (an
    /// operator, the CLI, the demo).
    pub async fn create(
        &self,
        name: &str,
        kyb: &Kyb,
        actor: &str,
    ) -> Result<Merchant, MerchantError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(MerchantError::Invalid(
                "name must be 1 to 128 printable characters".into(),
            ));
        }
        kyb.validate()?;
        let id = self.ids.next(BizType::Merchant, name).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO merchants (merchant_id, name, status, legal_name, registration_number,
                country, address, contact_email, contact_phone, website, mcc, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(self.initial_status.as_str())
        .bind(kyb.legal_name.as_deref())
        .bind(kyb.registration_number.as_deref())
        .bind(kyb.country.as_deref())
        .bind(kyb.address.as_deref())
        .bind(kyb.contact_email.as_deref())
        .bind(kyb.contact_phone.as_deref())
        .bind(kyb.website.as_deref())
        .bind(kyb.mcc.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        paycore_store::state::created(&mut tx, id.as_str(), self.initial_status, actor, now)
            .await?;
        tx.commit().await?;
        // A request naming this id before it existed may be cached as unknown.
        self.caches.forget(id.as_str());
        self.get(id.as_str()).await
    }

    /// A merchant, as read within the last [`cache::TTL`] (at once after a change on this node).
    pub async fn get(&self, merchant_id: &str) -> Result<Merchant, MerchantError> {
        let key = merchant_id.to_owned();
        if let Some(m) = self.caches.merchants.get(&key) {
            return Ok(m);
        }
        let ticket = self.caches.merchants.ticket();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE merchant_id = $1"
        )))
        .bind(merchant_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MerchantError::NotFound)?;
        let m = model::merchant_from_row(&row)?;
        self.caches.merchants.put(key, m.clone(), ticket);
        Ok(m)
    }

    /// Merchants in creation order, `limit` at a time after `after` (a merchant id).
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Merchant>, MerchantError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE merchant_id > $1
             ORDER BY merchant_id LIMIT $2"
        )))
        .bind(after.unwrap_or(""))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(model::merchant_from_row).collect()
    }

    /// Replaces the KYB fields that are given (others are kept).
    pub async fn update_kyb(
        &self,
        merchant_id: &str,
        kyb: &Kyb,
    ) -> Result<Merchant, MerchantError> {
        kyb.validate()?;
        let done = sqlx::query(
            "UPDATE merchants SET legal_name = COALESCE($1, legal_name),
                registration_number = COALESCE($2, registration_number),
                country = COALESCE($3, country), address = COALESCE($4, address),
                contact_email = COALESCE($5, contact_email),
                contact_phone = COALESCE($6, contact_phone), website = COALESCE($7, website),
                mcc = COALESCE($8, mcc), updated_at = $9
             WHERE merchant_id = $10",
        )
        .bind(kyb.legal_name.as_deref())
        .bind(kyb.registration_number.as_deref())
        .bind(kyb.country.as_deref())
        .bind(kyb.address.as_deref())
        .bind(kyb.contact_email.as_deref())
        .bind(kyb.contact_phone.as_deref())
        .bind(kyb.website.as_deref())
        .bind(kyb.mcc.as_deref())
        .bind(self.now())
        .bind(merchant_id);
        let done = self.db.execute(done).await?;
        if done.rows_affected() == 0 {
            return Err(MerchantError::NotFound);
        }
        self.caches.forget(merchant_id);
        self.get(merchant_id).await
    }

    /// Moves the merchant through its state machine (compare-and-set, with a history row).
    /// Activation needs the KYB essentials. Asking for the state it is already in is a no-op.
    pub async fn transition(
        &self,
        merchant_id: &str,
        event: MerchantEvent,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Merchant, MerchantError> {
        self.caches.forget(merchant_id);
        let current = self.get(merchant_id).await?;
        if current.status == event.target() {
            return Ok(current);
        }
        let to = state::apply(current.status, event)?;
        if to == MerchantStatus::Active && current.status == MerchantStatus::Onboarding {
            current.kyb.require_complete()?;
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        Transition::new(current.status, event, now)
            .by(actor)
            .reason(reason)
            .apply(&mut tx, merchant_id)
            .await?;
        tx.commit().await?;
        self.caches.forget(merchant_id);
        self.get(merchant_id).await
    }

    /// (from, to, event, actor, at) of every status change, oldest first.
    pub async fn status_history(
        &self,
        merchant_id: &str,
    ) -> Result<Vec<(Option<String>, String, String, String, i64)>, MerchantError> {
        let rows = sqlx::query(
            "SELECT from_status, to_status, event, actor, at FROM merchant_status_history
             WHERE merchant_id = $1 ORDER BY id",
        )
        .bind(merchant_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("from_status")?,
                    r.try_get("to_status")?,
                    r.try_get("event")?,
                    r.try_get("actor")?,
                    r.try_get("at")?,
                ))
            })
            .collect()
    }
}

impl MerchantStatus {
    /// Whether requests of this merchant are served at all.
    pub fn may_call_api(self) -> bool {
        !matches!(self, MerchantStatus::Frozen)
    }
}

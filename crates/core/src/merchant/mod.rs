//! Merchant platform (S9): merchants and their KYB data and status, their API keys (several at
//! once, for rotation), and their contracts for products with fee plans.

mod keys;
mod model;

pub use keys::{AuthKey, NewKey};
pub use model::{
    Contract, ContractStatus, ContractTerms, KeyStatus, Kyb, Merchant, MerchantEvent, MerchantKey,
    MerchantStatus,
};

use std::sync::Arc;

use paycore_kernel::crypto::{CryptoError, Vault};
use paycore_kernel::id::IdError;
use paycore_kernel::state::{self, IllegalTransition};
use paycore_kernel::{BizType, Clock, IdGenerator, MoneyError};
use paycore_store::{Db, Row, StoreError};

use crate::product::Product;

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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Money(#[from] MoneyError),
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
    keys: Arc<keys::KeyCache>,
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
            keys: Arc::new(keys::KeyCache::default()),
        }
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }

    pub async fn create(&self, name: &str, kyb: &Kyb) -> Result<Merchant, MerchantError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(MerchantError::Invalid(
                "name must be 1 to 128 characters".into(),
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
        insert_history(
            &mut tx,
            id.as_str(),
            None,
            self.initial_status,
            "create",
            "system",
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        self.get(id.as_str()).await
    }

    pub async fn get(&self, merchant_id: &str) -> Result<Merchant, MerchantError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE merchant_id = $1"
        )))
        .bind(merchant_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MerchantError::NotFound)?;
        model::merchant_from_row(&row)
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
        .bind(merchant_id)
        .execute(self.db.writer())
        .await?;
        if done.rows_affected() == 0 {
            return Err(MerchantError::NotFound);
        }
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
        let done = sqlx::query(
            "UPDATE merchants SET status = $1, updated_at = $2 WHERE merchant_id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(merchant_id)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(MerchantError::Concurrent);
        }
        insert_history(
            &mut tx,
            merchant_id,
            Some(current.status),
            to,
            event.as_str(),
            actor,
            reason,
            now,
        )
        .await?;
        tx.commit().await?;
        self.keys.forget_merchant(merchant_id);
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

    /// Sets the merchant's contract for a product. Sending the same terms again changes
    /// nothing; new terms become a new version, and the old ones stay in the history.
    pub async fn set_contract(
        &self,
        merchant_id: &str,
        product: Product,
        terms: &ContractTerms,
    ) -> Result<Contract, MerchantError> {
        terms.validate()?;
        self.get(merchant_id).await?;
        if let Some(existing) = self.contract(merchant_id, product).await? {
            if existing.terms() == *terms {
                return Ok(existing);
            }
        }
        let now = self.now();
        let contract_id = match self.contract(merchant_id, product).await? {
            Some(c) => c.contract_id,
            None => self
                .ids
                .next(BizType::Contract, merchant_id)
                .await?
                .to_string(),
        };
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "INSERT INTO merchant_contracts (contract_id, merchant_id, product, fee_rate_bps,
                fixed_fee, fee_currency, min_amount, max_amount, status, version, created_at,
                updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)
             ON CONFLICT (merchant_id, product) DO UPDATE SET fee_rate_bps = $4, fixed_fee = $5,
                fee_currency = $6, min_amount = $7, max_amount = $8, status = $9,
                version = merchant_contracts.version + 1, updated_at = $10
             RETURNING contract_id, version",
        )
        .bind(&contract_id)
        .bind(merchant_id)
        .bind(product.as_str())
        .bind(i64::from(terms.fee_rate_bps))
        .bind(terms.fixed_fee.minor())
        .bind(terms.fixed_fee.currency().code())
        .bind(terms.min_amount)
        .bind(terms.max_amount)
        .bind(terms.status.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let contract_id: String = row.try_get("contract_id")?;
        let version: i64 = row.try_get("version")?;
        sqlx::query(
            "INSERT INTO merchant_contract_history (contract_id, version, fee_rate_bps, fixed_fee,
                fee_currency, min_amount, max_amount, status, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&contract_id)
        .bind(version)
        .bind(i64::from(terms.fee_rate_bps))
        .bind(terms.fixed_fee.minor())
        .bind(terms.fixed_fee.currency().code())
        .bind(terms.min_amount)
        .bind(terms.max_amount)
        .bind(terms.status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.contract(merchant_id, product)
            .await?
            .ok_or(MerchantError::NotFound)
    }

    pub async fn contract(
        &self,
        merchant_id: &str,
        product: Product,
    ) -> Result<Option<Contract>, MerchantError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM merchant_contracts WHERE merchant_id = $1 AND product = $2",
            model::CONTRACT_COLUMNS
        )))
        .bind(merchant_id)
        .bind(product.as_str())
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(model::contract_from_row).transpose()
    }

    pub async fn contracts(&self, merchant_id: &str) -> Result<Vec<Contract>, MerchantError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM merchant_contracts WHERE merchant_id = $1 ORDER BY product",
            model::CONTRACT_COLUMNS
        )))
        .bind(merchant_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(model::contract_from_row).collect()
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_history(
    tx: &mut paycore_store::Tx,
    merchant_id: &str,
    from: Option<MerchantStatus>,
    to: MerchantStatus,
    event: &str,
    actor: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<(), MerchantError> {
    sqlx::query(
        "INSERT INTO merchant_status_history (merchant_id, from_status, to_status, event, actor,
            reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(merchant_id)
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(event)
    .bind(actor)
    .bind(reason)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl MerchantStatus {
    /// Whether requests of this merchant are served at all.
    pub fn may_call_api(self) -> bool {
        !matches!(self, MerchantStatus::Frozen)
    }
}

//! Contracts (签约): what a merchant and the platform agreed for one product — the fee rate,
//! and for each currency the merchant may take payments in, the fixed fee and the limits of
//! one payment. A payment in a currency the contract does not name is refused. New terms are a
//! new version; every version stays in the history.

use paycore_kernel::state::{Named, StateMachine};
use paycore_kernel::{BizType, Currency, Money};
use paycore_product::{FeePlan, Product};
use paycore_store::state::{Stored, Table, Transition};
use paycore_store::Row;
use serde::{Deserialize, Serialize};

use crate::model::stored;
use crate::{MerchantError, Merchants};

/// The largest amount the platform takes in one payment (10^15 minor units).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractStatus {
    Enabled,
    Disabled,
}
paycore_kernel::named!(ContractStatus { Enabled => "enabled", Disabled => "disabled" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractEvent {
    Enable,
    Disable,
}
paycore_kernel::named!(ContractEvent { Enable => "enable", Disable => "disable" });

impl StateMachine for ContractStatus {
    type Event = ContractEvent;
    const INITIAL: &'static [Self] = &[ContractStatus::Enabled, ContractStatus::Disabled];
    const TRANSITIONS: &'static [(Self, ContractEvent, Self)] = &[
        (
            ContractStatus::Enabled,
            ContractEvent::Disable,
            ContractStatus::Disabled,
        ),
        (
            ContractStatus::Disabled,
            ContractEvent::Enable,
            ContractStatus::Enabled,
        ),
    ];
}

impl Stored for ContractStatus {
    const TABLE: Table = Table {
        machine: "contract",
        table: "merchant_contracts",
        key: "contract_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "merchant_contract_status_history",
        history_key: "contract_id",
    };
}

impl ContractStatus {
    pub fn parse(s: &str) -> Result<Self, MerchantError> {
        <Self as Named>::parse(s).ok_or_else(|| {
            MerchantError::Invalid(format!("unknown contract status {s:?} (enabled, disabled)"))
        })
    }
}

/// What the contract says for payments in one currency. Amounts are minor units of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyTerms {
    pub currency: Currency,
    pub fixed_fee: i64,
    pub min_amount: Option<i64>,
    pub max_amount: Option<i64>,
}

impl CurrencyTerms {
    pub fn fixed_fee(&self) -> Money {
        Money::from_minor(self.fixed_fee, self.currency)
    }

    /// Whether one payment of `amount` (in this currency) is within the limits.
    pub fn admits(&self, amount: Money) -> Result<bool, MerchantError> {
        let lo = self.min_amount.map(|m| Money::from_minor(m, self.currency));
        let hi = self.max_amount.map(|m| Money::from_minor(m, self.currency));
        let below = match lo {
            Some(lo) => amount.cmp_same(lo)?.is_lt(),
            None => false,
        };
        let above = match hi {
            Some(hi) => amount.cmp_same(hi)?.is_gt(),
            None => false,
        };
        Ok(!below && !above)
    }

    fn validate(&self) -> Result<(), MerchantError> {
        let bad = |m: String| Err(MerchantError::Invalid(m));
        let c = self.currency;
        if !(0..=MAX_AMOUNT).contains(&self.fixed_fee) {
            return bad(format!("{c}: fixed_fee must be between 0 and {MAX_AMOUNT}"));
        }
        for v in [self.min_amount, self.max_amount].into_iter().flatten() {
            if !(1..=MAX_AMOUNT).contains(&v) {
                return bad(format!(
                    "{c}: amount limits must be between 1 and {MAX_AMOUNT}"
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_amount, self.max_amount) {
            if lo > hi {
                return bad(format!("{c}: min_amount is above max_amount"));
            }
        }
        Ok(())
    }
}

/// What a merchant and the platform agreed for one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractTerms {
    pub fee_rate_bps: u32,
    /// The currencies the merchant may take payments in, each with its fixed fee and limits.
    pub currencies: Vec<CurrencyTerms>,
    pub status: ContractStatus,
}

impl ContractTerms {
    /// Terms in one currency with no limits.
    pub fn simple(fee_rate_bps: u32, fixed_fee: Money) -> Self {
        ContractTerms {
            fee_rate_bps,
            currencies: vec![CurrencyTerms {
                currency: fixed_fee.currency(),
                fixed_fee: fixed_fee.minor(),
                min_amount: None,
                max_amount: None,
            }],
            status: ContractStatus::Enabled,
        }
    }

    pub fn validate(&self) -> Result<(), MerchantError> {
        if self.fee_rate_bps > 10_000 {
            return Err(MerchantError::Invalid(
                "fee_rate_bps must be between 0 and 10000".into(),
            ));
        }
        if self.currencies.is_empty() || self.currencies.len() > 32 {
            return Err(MerchantError::Invalid(
                "a contract names 1 to 32 currencies".into(),
            ));
        }
        for (i, c) in self.currencies.iter().enumerate() {
            c.validate()?;
            if self.currencies[..i]
                .iter()
                .any(|o| o.currency == c.currency)
            {
                return Err(MerchantError::Invalid(format!(
                    "currency {} is named twice",
                    c.currency
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub contract_id: String,
    pub merchant_id: String,
    pub product: Product,
    pub fee_rate_bps: u32,
    pub currencies: Vec<CurrencyTerms>,
    pub status: ContractStatus,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Contract {
    pub fn terms(&self) -> ContractTerms {
        ContractTerms {
            fee_rate_bps: self.fee_rate_bps,
            currencies: self.currencies.clone(),
            status: self.status,
        }
    }

    /// The terms for payments in `currency`, if the contract accepts it.
    pub fn terms_for(&self, currency: Currency) -> Option<&CurrencyTerms> {
        self.currencies.iter().find(|c| c.currency == currency)
    }

    /// The fee plan for payments in `currency`, if the contract accepts it.
    pub fn fee_plan(&self, currency: Currency) -> Option<FeePlan> {
        self.terms_for(currency).map(|t| FeePlan {
            rate_bps: self.fee_rate_bps,
            fixed: t.fixed_fee(),
        })
    }

    /// The accepted currencies, for messages: `CNY, USD`.
    pub fn currency_list(&self) -> String {
        self.currencies
            .iter()
            .map(|c| c.currency.code())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) const CONTRACT_COLUMNS: &str = "contract_id, merchant_id, product, fee_rate_bps, \
    fixed_fee, fee_currency, min_amount, max_amount, currency_terms, status, version, created_at, \
    updated_at";

fn currency_terms_json(terms: &[CurrencyTerms]) -> Result<String, MerchantError> {
    serde_json::to_string(terms).map_err(|e| MerchantError::Corrupt(e.to_string()))
}

pub(crate) fn contract_from_row(r: &sqlx::any::AnyRow) -> Result<Contract, MerchantError> {
    let product: String = r.try_get("product")?;
    let rate: i64 = r.try_get("fee_rate_bps")?;
    let listed: Option<String> = r.try_get("currency_terms")?;
    // Contracts written before currencies were listed name one: the fixed fee's.
    let currencies = match listed {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| MerchantError::Corrupt(format!("currency_terms: {e}")))?,
        None => vec![CurrencyTerms {
            currency: Currency::from_code(&r.try_get::<String, _>("fee_currency")?)?,
            fixed_fee: r.try_get("fixed_fee")?,
            min_amount: r.try_get("min_amount")?,
            max_amount: r.try_get("max_amount")?,
        }],
    };
    Ok(Contract {
        contract_id: r.try_get("contract_id")?,
        merchant_id: r.try_get("merchant_id")?,
        product: product
            .parse()
            .map_err(|_| MerchantError::Corrupt(format!("product {product:?}")))?,
        fee_rate_bps: u32::try_from(rate)
            .map_err(|_| MerchantError::Corrupt("stored fee rate out of range".into()))?,
        currencies,
        status: stored("contract status", &r.try_get::<String, _>("status")?)?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Merchants {
    /// Sets the merchant's contract for a product. Sending the same terms again changes
    /// nothing; new terms become a new version, and the old ones stay in the history.
    pub async fn set_contract(
        &self,
        merchant_id: &str,
        product: Product,
        terms: &ContractTerms,
    ) -> Result<Contract, MerchantError> {
        terms.validate()?;
        // Decided on what is stored now, not on what this node cached.
        self.caches.forget(merchant_id);
        self.get(merchant_id).await?;
        let existing = self.contract(merchant_id, product).await?;
        if existing.as_ref().is_some_and(|c| c.terms() == *terms) {
            return existing.ok_or(MerchantError::NotFound);
        }
        let contract_id = match &existing {
            Some(c) => c.contract_id.clone(),
            None => self
                .ids
                .next(BizType::Contract, merchant_id)
                .await?
                .to_string(),
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let version = self
            .write_terms(&mut tx, &contract_id, merchant_id, product, terms, now)
            .await?;
        match &existing {
            Some(c) if c.status != terms.status => {
                let event = match terms.status {
                    ContractStatus::Enabled => ContractEvent::Enable,
                    ContractStatus::Disabled => ContractEvent::Disable,
                };
                Transition::new(c.status, event, now)
                    .by("operator")
                    .apply(&mut tx, contract_id.as_str())
                    .await?;
            }
            Some(_) => {}
            None => {
                paycore_store::state::created(
                    &mut tx,
                    contract_id.as_str(),
                    terms.status,
                    "operator",
                    now,
                )
                .await?;
            }
        }
        self.record_version(&mut tx, &contract_id, version, terms, now)
            .await?;
        tx.commit().await?;
        self.caches.forget(merchant_id);
        self.contract(merchant_id, product)
            .await?
            .ok_or(MerchantError::NotFound)
    }

    /// Inserts the contract (in its first status) or replaces its terms (the status moves
    /// through the executor); returns the new version.
    async fn write_terms(
        &self,
        tx: &mut paycore_store::Tx,
        contract_id: &str,
        merchant_id: &str,
        product: Product,
        terms: &ContractTerms,
        now: i64,
    ) -> Result<i64, MerchantError> {
        // The first currency also fills the columns of contracts made before the list.
        let first = terms
            .currencies
            .first()
            .ok_or_else(|| MerchantError::Invalid("a contract names a currency".into()))?;
        let row = sqlx::query(
            "INSERT INTO merchant_contracts (contract_id, merchant_id, product, fee_rate_bps,
                fixed_fee, fee_currency, min_amount, max_amount, currency_terms, status, version,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11)
             ON CONFLICT (merchant_id, product) DO UPDATE SET fee_rate_bps = $4, fixed_fee = $5,
                fee_currency = $6, min_amount = $7, max_amount = $8, currency_terms = $9,
                version = merchant_contracts.version + 1, updated_at = $11
             RETURNING version",
        )
        .bind(contract_id)
        .bind(merchant_id)
        .bind(product.as_str())
        .bind(i64::from(terms.fee_rate_bps))
        .bind(first.fixed_fee)
        .bind(first.currency.code())
        .bind(first.min_amount)
        .bind(first.max_amount)
        .bind(currency_terms_json(&terms.currencies)?)
        .bind(terms.status.as_str())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        Ok(row.try_get("version")?)
    }

    async fn record_version(
        &self,
        tx: &mut paycore_store::Tx,
        contract_id: &str,
        version: i64,
        terms: &ContractTerms,
        now: i64,
    ) -> Result<(), MerchantError> {
        let first = terms
            .currencies
            .first()
            .ok_or_else(|| MerchantError::Invalid("a contract names a currency".into()))?;
        sqlx::query(
            "INSERT INTO merchant_contract_history (contract_id, version, fee_rate_bps, fixed_fee,
                fee_currency, min_amount, max_amount, currency_terms, status, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(contract_id)
        .bind(version)
        .bind(i64::from(terms.fee_rate_bps))
        .bind(first.fixed_fee)
        .bind(first.currency.code())
        .bind(first.min_amount)
        .bind(first.max_amount)
        .bind(currency_terms_json(&terms.currencies)?)
        .bind(terms.status.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn contract(
        &self,
        merchant_id: &str,
        product: Product,
    ) -> Result<Option<Contract>, MerchantError> {
        let key = (merchant_id.to_owned(), product);
        if let Some(c) = self.caches.contracts.get(&key) {
            return Ok(c);
        }
        let ticket = self.caches.contracts.ticket();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTRACT_COLUMNS} FROM merchant_contracts WHERE merchant_id = $1 AND product = $2"
        )))
        .bind(merchant_id)
        .bind(product.as_str())
        .fetch_optional(self.db.reader())
        .await?;
        let c = row.as_ref().map(contract_from_row).transpose()?;
        self.caches.contracts.put(key, c.clone(), ticket);
        Ok(c)
    }

    pub async fn contracts(&self, merchant_id: &str) -> Result<Vec<Contract>, MerchantError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTRACT_COLUMNS} FROM merchant_contracts WHERE merchant_id = $1 ORDER BY product"
        )))
        .bind(merchant_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(contract_from_row).collect()
    }
}

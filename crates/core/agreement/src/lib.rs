//! Agreements (协议支付, M1 sign, M4 unsign): a merchant asks to debit a member without the
//! member present, within an amount per day or month; the member confirms with the SMS code the
//! platform sends them (the merchant passes it on); either side's merchant terminates it. Debits
//! by an active agreement are payments with `product: AGREEMENT`.

mod model;

pub use model::{Agreement, AgreementEvent, AgreementStatus, NewAgreement, Period};

use std::sync::Arc;

use paycore_card::{CardError, CardStatus, Cards};
use paycore_kernel::id::IdError;
use paycore_kernel::product::Product;
use paycore_kernel::{BizType, Clock, IdGenerator};
use paycore_member::{MemberError, Members, SmsPurpose};
use paycore_merchant::{ContractStatus, MerchantError, MerchantStatus, Merchants};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::state::{Transition, TransitionError};
use paycore_store::{Db, StoreError};

use model::AGREEMENT_COLUMNS;

/// The agreements' tables.
pub const SCHEMA: Schema = Schema {
    component: "agreement",
    migrations: &[Migration {
        version: 1,
        name: "agreement",
        sql: include_str!("../migrations/0001_agreement.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    #[error("{0}")]
    Invalid(String),
    #[error("agreement not found")]
    NotFound,
    #[error("out_agreement_no was used for a different agreement")]
    IdempotencyConflict,
    #[error("{0}")]
    ProductNotEnabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("stored agreement data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<sqlx::Error> for AgreementError {
    fn from(e: sqlx::Error) -> Self {
        AgreementError::Store(e.into())
    }
}

impl From<TransitionError> for AgreementError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => AgreementError::Store(s),
            other => AgreementError::InvalidState(other.to_string()),
        }
    }
}

/// The agreements over one database. Cheap to clone.
#[derive(Clone)]
pub struct Agreements {
    db: Db,
    ids: Arc<IdGenerator>,
    clock: Arc<dyn Clock>,
    merchants: Merchants,
    members: Members,
    cards: Cards,
}

fn check_out_no(no: &str) -> Result<(), AgreementError> {
    let ok = (1..=64).contains(&no.len())
        && no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match ok {
        true => Ok(()),
        false => Err(AgreementError::Invalid(
            "out_agreement_no must be 1 to 64 of A-Z a-z 0-9 . _ -".into(),
        )),
    }
}

impl Agreements {
    pub fn new(
        db: Db,
        ids: Arc<IdGenerator>,
        clock: Arc<dyn Clock>,
        merchants: Merchants,
        members: Members,
        cards: Cards,
    ) -> Self {
        Self {
            db,
            ids,
            clock,
            merchants,
            members,
            cards,
        }
    }

    /// Asks to sign: the agreement is `pending` and the member is texted a code. The same
    /// `out_agreement_no` again answers the same agreement (`false`: not new) and texts nothing.
    pub async fn create(
        &self,
        merchant_id: &str,
        new: NewAgreement,
    ) -> Result<(Agreement, bool), AgreementError> {
        check_out_no(&new.out_agreement_no)?;
        if !new.max_amount.is_positive() {
            return Err(AgreementError::Invalid(
                "max_amount must be positive".into(),
            ));
        }
        let member = self
            .members
            .by_phone(&new.member_phone)
            .await
            .map_err(|e| match e {
                MemberError::NotFound => AgreementError::Invalid("no member has this phone".into()),
                other => other.into(),
            })?;
        if let Some(a) = self.by_out_no(merchant_id, &new.out_agreement_no).await? {
            return match a.same(&new, &member.member_id) {
                true => Ok((a, false)),
                false => Err(AgreementError::IdempotencyConflict),
            };
        }
        self.contracted(merchant_id, &new).await?;
        member.require_active_member()?;
        if let Some(card_id) = &new.card_id {
            let card = self
                .cards
                .card(&member.member_id, card_id)
                .await
                .map_err(|e| match e {
                    CardError::NotFound => {
                        AgreementError::Invalid("no such card of this member".into())
                    }
                    other => other.into(),
                })?;
            if card.status != CardStatus::Bound {
                return Err(AgreementError::Invalid("the card is not bound".into()));
            }
        }
        self.members
            .send_code(&member.phone, SmsPurpose::Agreement)
            .await?;
        let id = self.ids.next(BizType::Agreement, merchant_id).await?;
        match self
            .insert(id.as_str(), merchant_id, &member.member_id, &new)
            .await
        {
            Ok(()) => Ok((self.get(merchant_id, id.as_str()).await?, true)),
            Err(AgreementError::Store(e)) if e.is_unique_violation() => {
                let a = self.by_out_no(merchant_id, &new.out_agreement_no).await?;
                a.map(|a| (a, false))
                    .ok_or(AgreementError::IdempotencyConflict)
            }
            Err(e) => Err(e),
        }
    }

    /// The merchant is active and contracted for `AGREEMENT` in the agreement's currency.
    async fn contracted(
        &self,
        merchant_id: &str,
        new: &NewAgreement,
    ) -> Result<(), AgreementError> {
        let merchant = self.merchants.get(merchant_id).await?;
        let contract = self
            .merchants
            .contract(merchant_id, Product::Agreement)
            .await?
            .filter(|c| c.status == ContractStatus::Enabled);
        let currency = new.max_amount.currency();
        match contract {
            Some(c)
                if merchant.status == MerchantStatus::Active && c.terms_for(currency).is_some() =>
            {
                Ok(())
            }
            _ => Err(AgreementError::ProductNotEnabled(format!(
                "the merchant has no enabled contract for AGREEMENT in {currency}"
            ))),
        }
    }

    async fn insert(
        &self,
        id: &str,
        merchant_id: &str,
        member_id: &str,
        new: &NewAgreement,
    ) -> Result<(), AgreementError> {
        let now = self.clock.unix_millis();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO agreements (agreement_id, merchant_id, out_agreement_no, member_id,
                card_id, max_amount, currency, period, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(id)
        .bind(merchant_id)
        .bind(&new.out_agreement_no)
        .bind(member_id)
        .bind(new.card_id.as_deref())
        .bind(new.max_amount.minor())
        .bind(new.max_amount.currency().code())
        .bind(new.period.as_str())
        .bind(AgreementStatus::Pending.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        paycore_store::state::created(&mut tx, id, AgreementStatus::Pending, merchant_id, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Confirms with the member's code: the agreement is `active`. Confirming an active one
    /// answers it as it is.
    pub async fn confirm(
        &self,
        merchant_id: &str,
        agreement_id: &str,
        sms_code: &str,
    ) -> Result<Agreement, AgreementError> {
        let a = self.get(merchant_id, agreement_id).await?;
        match a.status {
            AgreementStatus::Pending => {}
            AgreementStatus::Active => return Ok(a),
            AgreementStatus::Terminated => {
                return Err(AgreementError::InvalidState(
                    "the agreement is terminated".into(),
                ))
            }
        }
        let member = self.members.get(&a.member_id).await?;
        self.members
            .check_code(&member.phone, SmsPurpose::Agreement, sms_code)
            .await?;
        self.move_to(&a, AgreementEvent::Confirm, "signed_at").await
    }

    /// Ends the agreement: it debits nothing from now on. Terminating a terminated one answers
    /// it as it is.
    pub async fn terminate(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> Result<Agreement, AgreementError> {
        let a = self.get(merchant_id, agreement_id).await?;
        if a.status == AgreementStatus::Terminated {
            return Ok(a);
        }
        self.move_to(&a, AgreementEvent::Terminate, "terminated_at")
            .await
    }

    async fn move_to(
        &self,
        a: &Agreement,
        event: AgreementEvent,
        stamp: &'static str,
    ) -> Result<Agreement, AgreementError> {
        let now = self.clock.unix_millis();
        let mut tx = self.db.begin().await?;
        Transition::new(a.status, event, now)
            .by(a.merchant_id.as_str())
            .set(stamp, now)
            .apply(&mut tx, a.agreement_id.as_str())
            .await?;
        tx.commit().await?;
        self.get(&a.merchant_id, &a.agreement_id).await
    }

    /// One of the merchant's agreements.
    pub async fn get(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> Result<Agreement, AgreementError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE agreement_id = $1 AND merchant_id = $2"
        )))
        .bind(agreement_id)
        .bind(merchant_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(AgreementError::NotFound)?;
        Agreement::from_row(&row)
    }

    pub async fn by_out_no(
        &self,
        merchant_id: &str,
        out_agreement_no: &str,
    ) -> Result<Option<Agreement>, AgreementError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE merchant_id = $1 AND out_agreement_no = $2"
        )))
        .bind(merchant_id)
        .bind(out_agreement_no)
        .fetch_optional(self.db.writer())
        .await?;
        row.as_ref().map(Agreement::from_row).transpose()
    }
}

impl Agreements {
    /// Agreements still `pending` after `older_than_ms` — the member's code has long expired —
    /// are `terminated` (reason `unconfirmed`): the merchant asks again with a new number.
    /// Returns how many.
    pub async fn terminate_unconfirmed(&self, older_than_ms: i64) -> Result<usize, AgreementError> {
        let now = self.clock.unix_millis();
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT agreement_id FROM agreements WHERE status = $1 AND updated_at < $2 LIMIT 1000",
        )
        .bind(AgreementStatus::Pending.as_str())
        .bind(now - older_than_ms)
        .fetch_all(self.db.reader())
        .await?;
        let n = due.len();
        self.db
            .unit(move |c| {
                Box::pin(async move {
                    for id in &due {
                        let t = Transition::new(
                            AgreementStatus::Pending,
                            AgreementEvent::Terminate,
                            now,
                        )
                        .by("expiry")
                        .reason(Some("unconfirmed"))
                        .set("terminated_at", now);
                        match t.apply(&mut *c, id.as_str()).await {
                            Ok(_) | Err(TransitionError::Lost { .. }) => {}
                            Err(e) => return Err(AgreementError::from(e)),
                        }
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(n)
    }
}

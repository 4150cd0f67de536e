//! Marketing (营销, S14): coupon templates (a fixed amount off, or a percentage with a cap,
//! from a threshold, for one merchant or any), coupons issued from them to members with a
//! validity window, the discount a coupon gives a payment, its single use and its return, and
//! the job that expires coupons past their time.

mod model;

pub use model::{Coupon, CouponEvent, CouponKind, CouponStatus, NotApplicable, Template};

use std::sync::Arc;

use paycore_kernel::id::IdError;
use paycore_kernel::{BizType, Clock, Currency, IdGenerator};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::state::{Transition, TransitionError};
use paycore_store::{Conn, Db, StoreError};

use model::{coupon_from_row, template_from_row, COUPON_COLUMNS};

/// The marketing tables.
pub const SCHEMA: Schema = Schema {
    component: "marketing",
    migrations: &[Migration {
        version: 1,
        name: "marketing",
        sql: include_str!("../migrations/0001_marketing.sql"),
    }],
};

#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// The coupon cannot be used (or given back) now: taken by another payment, expired.
    #[error("{0}")]
    InvalidState(String),
    #[error("stored marketing data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<sqlx::Error> for MarketingError {
    fn from(e: sqlx::Error) -> Self {
        MarketingError::Store(e.into())
    }
}

impl From<TransitionError> for MarketingError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Store(s) => MarketingError::Store(s),
            other => MarketingError::InvalidState(other.to_string()),
        }
    }
}

/// A template to create.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub kind: CouponKind,
    pub value: i64,
    pub cap: Option<i64>,
    pub threshold: Option<i64>,
    pub currency: Currency,
    pub valid_days: i64,
    pub merchant_id: Option<String>,
}

impl NewTemplate {
    fn check(&self) -> Result<(), MarketingError> {
        let bad = |m: &str| Err(MarketingError::Invalid(m.into()));
        match self.kind {
            CouponKind::Fixed if self.cap.is_some() => bad("cap is for PERCENT coupons"),
            CouponKind::Percent if !(1..=99).contains(&self.value) => {
                bad("a PERCENT coupon's value is the percent off, 1 to 99")
            }
            CouponKind::Fixed if self.value < 1 => bad("value must be at least 1 minor unit"),
            _ if self.cap.is_some_and(|c| c < 1) => bad("cap must be at least 1 minor unit"),
            _ if self.threshold.is_some_and(|t| t < 0) => bad("threshold cannot be negative"),
            _ if !(1..=3650).contains(&self.valid_days) => bad("valid_days is 1 to 3650"),
            _ => Ok(()),
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Marketing over one database. Cheap to clone.
#[derive(Clone)]
pub struct Marketing {
    db: Db,
    ids: Arc<IdGenerator>,
    clock: Arc<dyn Clock>,
}

impl Marketing {
    pub fn new(db: Db, ids: Arc<IdGenerator>, clock: Arc<dyn Clock>) -> Self {
        Self { db, ids, clock }
    }

    pub async fn create_template(
        &self,
        new: &NewTemplate,
        actor: &str,
    ) -> Result<Template, MarketingError> {
        new.check()?;
        let id = self.ids.next(BizType::Coupon, actor).await?;
        let q = sqlx::query(
            "INSERT INTO coupon_templates (template_id, kind, value, cap, threshold, currency,
                valid_days, merchant_id, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.as_str())
        .bind(new.kind.as_str())
        .bind(new.value)
        .bind(new.cap)
        .bind(new.threshold.unwrap_or(0))
        .bind(new.currency.code())
        .bind(new.valid_days)
        .bind(new.merchant_id.as_deref())
        .bind(actor)
        .bind(self.clock.unix_millis());
        self.db.execute(q).await?;
        self.template(id.as_str()).await
    }

    pub async fn template(&self, template_id: &str) -> Result<Template, MarketingError> {
        let row = sqlx::query(
            "SELECT template_id, kind, value, cap, threshold, currency, valid_days, merchant_id,
                created_at FROM coupon_templates WHERE template_id = $1",
        )
        .bind(template_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MarketingError::NotFound)?;
        template_from_row(&row, "created_at")
    }

    /// Issues a coupon of `template_id` to a member: valid from now for the template's days.
    pub async fn issue(
        &self,
        template_id: &str,
        member_id: &str,
        actor: &str,
    ) -> Result<Coupon, MarketingError> {
        let t = self.template(template_id).await?;
        let id = self.ids.next(BizType::Coupon, member_id).await?;
        let now = self.clock.unix_millis();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO coupons (coupon_id, template_id, member_id, status, valid_from,
                valid_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $5, $5)",
        )
        .bind(id.as_str())
        .bind(&t.template_id)
        .bind(member_id)
        .bind(CouponStatus::Available.as_str())
        .bind(now)
        .bind(now + t.valid_days * DAY_MS)
        .execute(&mut *tx)
        .await?;
        paycore_store::state::created(&mut tx, id.as_str(), CouponStatus::Available, actor, now)
            .await?;
        tx.commit().await?;
        self.coupon(member_id, id.as_str()).await
    }

    /// One of the member's coupons.
    pub async fn coupon(&self, member_id: &str, coupon_id: &str) -> Result<Coupon, MarketingError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COUPON_COLUMNS} FROM coupons c JOIN coupon_templates t
               ON t.template_id = c.template_id WHERE c.coupon_id = $1 AND c.member_id = $2"
        )))
        .bind(coupon_id)
        .bind(member_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(MarketingError::NotFound)?;
        coupon_from_row(&row)
    }

    /// The member's coupons, newest first.
    pub async fn coupons_of(&self, member_id: &str) -> Result<Vec<Coupon>, MarketingError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COUPON_COLUMNS} FROM coupons c JOIN coupon_templates t
               ON t.template_id = c.template_id WHERE c.member_id = $1 ORDER BY c.id DESC LIMIT 500"
        )))
        .bind(member_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(coupon_from_row).collect()
    }

    /// Uses the member's coupon for a payment, in the payment's transaction: one
    /// compare-and-set on its status, so two payments cannot both use it; one past its time is
    /// refused even before the expiry job has run.
    pub async fn use_in(
        &self,
        conn: &mut dyn Conn,
        coupon_id: &str,
        member_id: &str,
        payment_id: &str,
    ) -> Result<(), MarketingError> {
        let now = self.clock.unix_millis();
        // Read on the unit's own connection: a unit awaits nothing but its database.
        let row = conn
            .fetch_optional(
                "SELECT valid_from, valid_until FROM coupons WHERE coupon_id = $1 AND member_id = $2",
                &[coupon_id.into(), member_id.into()],
            )
            .await?
            .ok_or(MarketingError::NotFound)?;
        if now < row.int("valid_from")? || now >= row.int("valid_until")? {
            return Err(MarketingError::InvalidState(
                "the coupon is not valid at this time".into(),
            ));
        }
        Transition::new(CouponStatus::Available, CouponEvent::Use, now)
            .by(member_id)
            .guard("member_id", member_id)
            .set("payment_id", payment_id)
            .set("used_at", now)
            .apply(conn, coupon_id)
            .await
            .map_err(|e| match e {
                TransitionError::Store(s) => MarketingError::Store(s),
                _ => MarketingError::InvalidState("the coupon is not available".into()),
            })?;
        Ok(())
    }

    /// Gives a used coupon back (its payment was refunded in full or canceled), in that
    /// change's transaction. A coupon past its time expires at the next run of the job.
    pub async fn give_back_in(
        &self,
        conn: &mut dyn Conn,
        coupon_id: &str,
        payment_id: &str,
    ) -> Result<(), MarketingError> {
        Transition::new(
            CouponStatus::Used,
            CouponEvent::GiveBack,
            self.clock.unix_millis(),
        )
        .guard("payment_id", payment_id)
        .apply(conn, coupon_id)
        .await?;
        Ok(())
    }

    /// Expires available coupons past their time (at most 1,000 a run). Returns how many.
    pub async fn expire_due(&self) -> Result<usize, MarketingError> {
        let now = self.clock.unix_millis();
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT coupon_id FROM coupons WHERE status = $1 AND valid_until <= $2 LIMIT 1000",
        )
        .bind(CouponStatus::Available.as_str())
        .bind(now)
        .fetch_all(self.db.reader())
        .await?;
        let n = due.len();
        self.db
            .unit(move |c| {
                Box::pin(async move {
                    for id in &due {
                        // One that was used meanwhile is left as it is.
                        let t = Transition::new(CouponStatus::Available, CouponEvent::Expire, now)
                            .by("expiry");
                        match t.apply(&mut *c, id.as_str()).await {
                            Ok(_) | Err(TransitionError::Lost { .. }) => {}
                            Err(e) => return Err(MarketingError::from(e)),
                        }
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(n)
    }
}

//! Loading plans with their parts, inside a unit of work or from the readers.

use paycore_kernel::Currency;
use paycore_store::unit::Row;
use paycore_store::{Conn, Value};

use crate::model::{part_from_row, plan_from_row, Plan, PLAN_COLUMNS};
use crate::{Cashier, CashierError};

const PART_COLUMNS: &str = "seq, kind, amount, refunded, coupon_id, card_id, coins";

fn currency_of(r: &Row) -> Result<Currency, CashierError> {
    Currency::from_code(&r.text("currency")?).map_err(|_| CashierError::Corrupt("currency".into()))
}

impl Cashier {
    /// A plan by one of its keys, read inside `c` (what the unit itself wrote included).
    pub(crate) async fn plan_where_in(
        &self,
        c: &mut dyn Conn,
        condition: &str,
        params: &[Value],
    ) -> Result<Option<Plan>, CashierError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM cashier_plans WHERE {condition}");
        let Some(r) = c.fetch_optional(&sql, params).await? else {
            return Ok(None);
        };
        let currency = currency_of(&r)?;
        let parts = c
            .fetch_all(
                &format!(
                    "SELECT {PART_COLUMNS} FROM cashier_parts WHERE plan_id = $1 ORDER BY seq"
                ),
                &[r.text("plan_id")?.into()],
            )
            .await?
            .iter()
            .map(|p| part_from_row(p, currency))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(plan_from_row(&r, parts)?))
    }

    pub(crate) async fn plan_in(
        &self,
        c: &mut dyn Conn,
        plan_id: &str,
    ) -> Result<Plan, CashierError> {
        self.plan_where_in(c, "plan_id = $1", &[plan_id.into()])
            .await?
            .ok_or(CashierError::NotFound)
    }

    /// A plan by one of its keys, from the readers.
    pub(crate) async fn plan_where(
        &self,
        condition: &str,
        params: &[Value],
    ) -> Result<Option<Plan>, CashierError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM cashier_plans WHERE {condition}");
        let Some(r) = self.0.db.read_optional(&sql, params).await? else {
            return Ok(None);
        };
        let currency = currency_of(&r)?;
        let parts = self
            .0
            .db
            .read(
                &format!(
                    "SELECT {PART_COLUMNS} FROM cashier_parts WHERE plan_id = $1 ORDER BY seq"
                ),
                &[r.text("plan_id")?.into()],
            )
            .await?
            .iter()
            .map(|p| part_from_row(p, currency))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(plan_from_row(&r, parts)?))
    }

    pub(crate) async fn plan(&self, plan_id: &str) -> Result<Plan, CashierError> {
        self.plan_where("plan_id = $1", &[plan_id.into()])
            .await?
            .ok_or(CashierError::NotFound)
    }

    /// The plan that may still pay (or paid) an attempt, if any.
    pub async fn live_plan(&self, attempt_id: &str) -> Result<Option<Plan>, CashierError> {
        self.plan_where("live_attempt = $1", &[attempt_id.into()])
            .await
    }

    /// The plans of a payment, newest first (what paid it is the succeeded one).
    pub async fn plans_of(&self, payment_id: &str) -> Result<Vec<Plan>, CashierError> {
        let ids = self
            .0
            .db
            .read(
                "SELECT plan_id FROM cashier_plans WHERE payment_id = $1 ORDER BY id DESC",
                &[payment_id.into()],
            )
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for r in ids {
            out.push(self.plan(&r.text("plan_id")?).await?);
        }
        Ok(out)
    }
}

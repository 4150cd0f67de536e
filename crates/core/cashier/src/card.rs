//! The card part of a plan: the quick-pay bank charges the bound card by its agreement, under
//! the plan's own card attempt (the bank's idempotency key). Paid: the part is booked and the
//! plan succeeds. Refused: every wallet part goes back. Not known: the plan waits as `unknown`
//! and the bank is asked again (by the query-back through the wallet channel).

use paycore_channels::{notify_url, Charge, PayRequest, PayerInfo, QueryRequest};
use paycore_kernel::product::Product;
use paycore_kernel::BizId;
use paycore_store::state::Transition;

use crate::model::{Plan, PlanEvent, PlanStatus};
use crate::take::Way;
use crate::{Cashier, CashierError};

fn attempt_of(plan: &Plan) -> Result<BizId, CashierError> {
    plan.card_attempt
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| CashierError::Corrupt("card attempt".into()))
}

impl Cashier {
    pub(crate) fn bank(
        &self,
    ) -> Result<&std::sync::Arc<dyn paycore_channels::Connector>, CashierError> {
        self.0
            .bank
            .as_ref()
            .ok_or_else(|| CashierError::Unavailable("no quick-pay bank is connected".into()))
    }

    /// Asks the bank to charge the plan's card part, and settles the plan by its answer.
    pub(crate) async fn charge_card(&self, plan: &Plan) -> Result<Plan, CashierError> {
        let Some(part) = plan.card_part() else {
            return Ok(plan.clone());
        };
        let card_id = part.card_id.clone().unwrap_or_default();
        let card = self.0.cards.card(&plan.member_id, &card_id).await?;
        let bank = self.bank()?.clone();
        let req = PayRequest {
            attempt_id: attempt_of(plan)?,
            merchant_id: plan.merchant_id.clone(),
            order_id: Some(plan.payment_id.clone()),
            product: Product::QuickPay,
            amount: part.amount,
            subject: format!("Payment {}", plan.payment_id),
            payer: PayerInfo {
                member_id: Some(plan.member_id.clone()),
                card_token: Some(card_id),
                agreement_no: card.agreement_no,
                ..PayerInfo::default()
            },
            return_url: None,
            notify_url: notify_url(&self.0.platform_base_url, bank.code()),
            expire_at: None,
        };
        self.0.db.durable().await?;
        let word = Charge::of_pay(bank.pay(&req).await, part.amount);
        if word == Charge::Open {
            tracing::warn!(target: "detail", plan = %plan.plan_id,
                "card part not known: left to the query-back");
        }
        self.settle_card(&plan.plan_id, word).await
    }

    /// Asks the bank about an open card part and settles the plan if it knows.
    pub(crate) async fn query_card(&self, plan: &Plan) -> Result<Plan, CashierError> {
        let bank = self.bank()?;
        let q = QueryRequest {
            attempt_id: attempt_of(plan)?,
            channel_txn_id: None,
        };
        let Some(part) = plan.card_part() else {
            return Ok(plan.clone());
        };
        let word = Charge::of_query(bank.query(&q).await, part.amount);
        self.settle_card(&plan.plan_id, word).await
    }

    /// Applies the bank's word to a plan still waiting for it (a plan settled meanwhile is
    /// left as it is: the first word won).
    async fn settle_card(&self, plan_id: &str, word: Charge) -> Result<Plan, CashierError> {
        let me = self.clone();
        let id = plan_id.to_string();
        self.0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    let plan = me.plan_in(c, &id).await?;
                    if !matches!(plan.status, PlanStatus::Executing | PlanStatus::Unknown) {
                        return Ok(());
                    }
                    let now = me.now();
                    match word {
                        Charge::Paid {
                            channel_txn_id: txn,
                        } => {
                            if let Some(part) = plan.card_part() {
                                let reference = format!("{}.{}", plan.plan_id, part.seq);
                                me.move_part(c, &plan, part, part.amount, &reference, Way::Take)
                                    .await?;
                            }
                            Transition::new(plan.status, PlanEvent::Succeed, now)
                                .by("bank")
                                .set("card_txn_id", txn.as_str())
                                .apply(c, id.as_str())
                                .await?;
                        }
                        Charge::Refused { code, message } => {
                            me.fail_in(c, &plan, &code, &message).await?
                        }
                        Charge::Open if plan.status == PlanStatus::Executing => {
                            Transition::new(plan.status, PlanEvent::Lose, now)
                                .by("bank")
                                .apply(c, id.as_str())
                                .await?;
                        }
                        Charge::Open => {}
                    }
                    Ok::<_, CashierError>(())
                })
            })
            .await?;
        self.plan(plan_id).await
    }
}

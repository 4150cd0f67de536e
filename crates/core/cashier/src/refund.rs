//! Refunds at the wallet channel: the amount is allocated to the plan's parts in
//! [`PartKind::REFUND_ORDER`], never more to a part than it paid less what it gave back; the
//! coupon only with the refund that gives back the whole payment. Each part's share is
//! reserved by one conditional update on the part, then given back; a card share goes back
//! through the bank first, and the wallet shares follow once the bank has paid it.

use paycore_channels::{RefundOutcome, RefundQueryOutcome, RefundQueryRequest, RefundRequest};
use paycore_kernel::state::Named;
use paycore_kernel::Money;
use paycore_store::state::Transition;
use paycore_store::Conn;
use serde::{Deserialize, Serialize};

use crate::model::{PartKind, Plan, PlanEvent, PlanStatus, WalletRefundStatus};
use crate::take::Way;
use crate::{Cashier, CashierError};

/// One part's share of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Share {
    seq: i64,
    amount: i64,
}

/// A refund as stored.
struct Stored {
    plan_id: String,
    amount: i64,
    status: WalletRefundStatus,
    shares: Vec<Share>,
    fail: Option<(String, String)>,
}

/// The shares of `amount` over the plan's parts, or why it cannot be given back.
fn allocate(plan: &Plan, amount: Money) -> Result<(Vec<Share>, bool), String> {
    let mut remaining = 0i64;
    for p in &plan.parts {
        remaining += p.amount.minor() - p.refunded.minor();
    }
    let full = amount.minor() == remaining;
    let mut left = amount.minor();
    let mut shares = Vec::new();
    for kind in PartKind::REFUND_ORDER {
        for p in plan.parts.iter().filter(|p| p.kind == kind) {
            if kind == PartKind::Coupon && !full {
                continue;
            }
            let take = left.min(p.amount.minor() - p.refunded.minor());
            if take > 0 {
                shares.push(Share {
                    seq: p.seq,
                    amount: take,
                });
                left -= take;
            }
        }
    }
    match left {
        0 => Ok((shares, full)),
        _ => Err(format!(
            "{} of this refund is the coupon's share, which goes back only with the whole payment",
            left
        )),
    }
}

fn outcome(
    refund_attempt_id: &str,
    s: &Stored,
    currency: paycore_kernel::Currency,
) -> RefundOutcome {
    match s.status {
        WalletRefundStatus::Succeeded => RefundOutcome::Succeeded {
            channel_refund_id: refund_attempt_id.to_string(),
            amount: Money::from_minor(s.amount, currency),
        },
        WalletRefundStatus::Failed => {
            let (code, message) = s.fail.clone().unwrap_or_default();
            RefundOutcome::Failed { code, message }
        }
        WalletRefundStatus::Processing => RefundOutcome::Pending {
            channel_refund_id: None,
        },
    }
}

impl Cashier {
    /// Gives `req.amount` of a paid plan back to its instruments (the same refund attempt
    /// again answers what became of it).
    pub(crate) async fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, CashierError> {
        let id = req.refund_attempt_id.to_string();
        if self.stored_refund(&id).await?.is_none() {
            let Some(plan) = self.live_plan(&req.attempt_id.to_string()).await? else {
                return Ok(RefundOutcome::Failed {
                    code: "NOT_PAID".into(),
                    message: "the wallet has no payment under this attempt".into(),
                });
            };
            if plan.status != PlanStatus::Succeeded {
                return Ok(RefundOutcome::Pending {
                    channel_refund_id: None,
                });
            }
            let (shares, full) = match allocate(&plan, req.amount) {
                Ok(a) => a,
                Err(message) => {
                    return Ok(RefundOutcome::Failed {
                        code: "AMOUNT_EXCEEDS_REFUNDABLE".into(),
                        message,
                    })
                }
            };
            self.reserve(&plan, &id, req.amount, shares, full).await?;
        }
        self.advance(&id).await
    }

    /// What became of a refund, asking the bank about a card share still open.
    pub(crate) async fn refund_query(
        &self,
        req: &RefundQueryRequest,
    ) -> Result<RefundQueryOutcome, CashierError> {
        let id = req.refund_attempt_id.to_string();
        if self.stored_refund(&id).await?.is_none() {
            return Ok(RefundQueryOutcome::NotFound);
        }
        Ok(match self.advance(&id).await? {
            RefundOutcome::Succeeded {
                channel_refund_id,
                amount,
            } => RefundQueryOutcome::Succeeded {
                channel_refund_id,
                amount,
            },
            RefundOutcome::Failed { code, message } => RefundQueryOutcome::Failed { code, message },
            _ => RefundQueryOutcome::Pending {
                channel_refund_id: None,
            },
        })
    }

    /// Records the refund and reserves each share on its part; without a card share the
    /// wallet shares go back in the same transaction.
    async fn reserve(
        &self,
        plan: &Plan,
        id: &str,
        amount: Money,
        shares: Vec<Share>,
        full: bool,
    ) -> Result<(), CashierError> {
        let with_card = shares.iter().any(|s| {
            plan.parts
                .iter()
                .any(|p| p.seq == s.seq && p.kind == PartKind::Card)
        });
        let status = match with_card {
            true => WalletRefundStatus::Processing,
            false => WalletRefundStatus::Succeeded,
        };
        let allocation =
            serde_json::to_string(&shares).map_err(|e| CashierError::Corrupt(e.to_string()))?;
        let (me, plan, id) = (self.clone(), plan.clone(), id.to_string());
        let now = self.now();
        let done = self
            .0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    c.execute(
                        "INSERT INTO cashier_refunds (refund_attempt_id, plan_id, amount,
                            allocation, status, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $6)",
                        &[
                            id.as_str().into(),
                            plan.plan_id.as_str().into(),
                            amount.minor().into(),
                            allocation.into(),
                            status.as_str().into(),
                            now.into(),
                        ],
                    )
                    .await?;
                    paycore_store::state::created(c, id.as_str(), status, "acquiring", now).await?;
                    for s in &shares {
                        me.reserve_share(c, &plan.plan_id, s).await?;
                    }
                    if !with_card {
                        me.give_back_in(c, &plan, &id, &shares, full).await?;
                    }
                    Ok::<_, CashierError>(())
                })
            })
            .await;
        match done {
            // The same refund at the same moment: the other call recorded it.
            Err(CashierError::Store(e)) if e.is_unique_violation() => Ok(()),
            other => other,
        }
    }

    /// One conditional update: the part's refunded amount grows by the share unless that
    /// passes what the part paid.
    async fn reserve_share(
        &self,
        c: &mut dyn Conn,
        plan_id: &str,
        s: &Share,
    ) -> Result<(), CashierError> {
        let moved = c
            .execute(
                "UPDATE cashier_parts SET refunded = refunded + $1
                 WHERE plan_id = $2 AND seq = $3 AND refunded + $1 <= amount",
                &[s.amount.into(), plan_id.into(), s.seq.into()],
            )
            .await?;
        match moved {
            1 => Ok(()),
            _ => Err(CashierError::InvalidState(
                "another refund took this part meanwhile".into(),
            )),
        }
    }

    /// The shares go back to their instruments; a refund that completes the payment's
    /// return releases the limits the payment consumed.
    async fn give_back_in(
        &self,
        c: &mut dyn Conn,
        plan: &Plan,
        id: &str,
        shares: &[Share],
        full: bool,
    ) -> Result<(), CashierError> {
        for s in shares {
            let Some(part) = plan.parts.iter().find(|p| p.seq == s.seq) else {
                return Err(CashierError::Corrupt("a share of no part".into()));
            };
            let amount = Money::from_minor(s.amount, plan.amount.currency());
            let reference = format!("{id}.{}", s.seq);
            self.move_part(c, plan, part, amount, &reference, Way::Back)
                .await?;
        }
        if full {
            self.0.quotas.release_in(&mut *c, &plan.plan_id).await?;
        }
        Ok(())
    }

    async fn stored_refund(&self, id: &str) -> Result<Option<Stored>, CashierError> {
        let Some(r) = self
            .0
            .db
            .read_optional(
                "SELECT plan_id, amount, allocation, status, fail_code, fail_message
                 FROM cashier_refunds WHERE refund_attempt_id = $1",
                &[id.into()],
            )
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |w: &str| CashierError::Corrupt(w.to_string());
        let status =
            WalletRefundStatus::parse(&r.text("status")?).ok_or_else(|| corrupt("status"))?;
        let shares =
            serde_json::from_str(&r.text("allocation")?).map_err(|_| corrupt("allocation"))?;
        let fail = match (r.opt_text("fail_code")?, r.opt_text("fail_message")?) {
            (Some(c), m) => Some((c, m.unwrap_or_default())),
            _ => None,
        };
        Ok(Some(Stored {
            plan_id: r.text("plan_id")?,
            amount: r.int("amount")?,
            status,
            shares,
            fail,
        }))
    }

    /// Moves a processing refund on by the bank's word on its card share.
    async fn advance(&self, id: &str) -> Result<RefundOutcome, CashierError> {
        let stored = self
            .stored_refund(id)
            .await?
            .ok_or(CashierError::NotFound)?;
        let plan = self.plan(&stored.plan_id).await?;
        let currency = plan.amount.currency();
        if stored.status != WalletRefundStatus::Processing {
            return Ok(outcome(id, &stored, currency));
        }
        let word = self.card_refund(&plan, id, &stored).await?;
        let Some(paid) = word else {
            return Ok(outcome(id, &stored, currency));
        };
        self.finish(&plan, id, &stored, paid).await?;
        let after = self
            .stored_refund(id)
            .await?
            .ok_or(CashierError::NotFound)?;
        Ok(outcome(id, &after, currency))
    }

    /// Asks the bank to give the card share back (the same refund attempt: it pays once).
    /// `Some(Ok(()))`: paid; `Some(Err(..))`: refused; `None`: not known yet.
    async fn card_refund(
        &self,
        plan: &Plan,
        id: &str,
        stored: &Stored,
    ) -> Result<Option<Result<(), (String, String)>>, CashierError> {
        let card = plan
            .card_part()
            .ok_or_else(|| CashierError::Corrupt("card share".into()))?;
        let share = stored
            .shares
            .iter()
            .find(|s| s.seq == card.seq)
            .ok_or_else(|| CashierError::Corrupt("card share".into()))?;
        let parse = |s: &str| {
            s.parse()
                .map_err(|_| CashierError::Corrupt("attempt id".into()))
        };
        let req = RefundRequest {
            refund_attempt_id: parse(id)?,
            attempt_id: parse(plan.card_attempt.as_deref().unwrap_or_default())?,
            channel_txn_id: plan.card_txn_id.clone().unwrap_or_default(),
            amount: Money::from_minor(share.amount, card.amount.currency()),
            payment_amount: card.amount,
            reason: None,
            notify_url: None,
        };
        self.0.db.durable().await?;
        Ok(match self.bank()?.refund(&req).await {
            Ok(RefundOutcome::Succeeded { .. }) => Some(Ok(())),
            Ok(RefundOutcome::Failed { code, message }) => Some(Err((code, message))),
            _ => None,
        })
    }

    /// The bank's final word on a refund's card share: the shares go back (paid), or their
    /// reservations are undone (refused).
    async fn finish(
        &self,
        plan: &Plan,
        id: &str,
        stored: &Stored,
        paid: Result<(), (String, String)>,
    ) -> Result<(), CashierError> {
        let (me, plan, id) = (self.clone(), plan.clone(), id.to_string());
        let shares = stored.shares.clone();
        let now = self.now();
        self.0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    let moved = match &paid {
                        Ok(()) => {
                            Transition::new(WalletRefundStatus::Processing, PlanEvent::Succeed, now)
                                .by("bank")
                                .apply(&mut *c, id.as_str())
                                .await
                        }
                        Err((code, message)) => {
                            Transition::new(WalletRefundStatus::Processing, PlanEvent::Fail, now)
                                .by("bank")
                                .reason(Some(code))
                                .set("fail_code", code.as_str())
                                .set("fail_message", message.as_str())
                                .apply(&mut *c, id.as_str())
                                .await
                        }
                    };
                    match moved {
                        Ok(_) => {}
                        Err(paycore_store::state::TransitionError::Store(e)) => {
                            return Err(e.into())
                        }
                        // Settled meanwhile by another call: the first word won.
                        Err(_) => return Ok(()),
                    }
                    match paid {
                        Ok(()) => {
                            let fresh = me.plan_in(c, &plan.plan_id).await?;
                            let done = fresh.parts.iter().all(|p| p.refunded == p.amount);
                            me.give_back_in(c, &plan, &id, &shares, done).await
                        }
                        Err(_) => me.unreserve_in(c, &plan.plan_id, &shares).await,
                    }
                })
            })
            .await
    }

    async fn unreserve_in(
        &self,
        c: &mut dyn Conn,
        plan_id: &str,
        shares: &[Share],
    ) -> Result<(), CashierError> {
        for s in shares {
            c.execute(
                "UPDATE cashier_parts SET refunded = refunded - $1 WHERE plan_id = $2 AND seq = $3",
                &[s.amount.into(), plan_id.into(), s.seq.into()],
            )
            .await?;
        }
        Ok(())
    }
}

//! The payer's call: pay a payment waiting at the cashier with the chosen instruments.
//! Checked first (who may pay it, the pay password, instruments that add up, a bound card),
//! then judged by risk (allowed, challenged: confirm first, or blocked), then the wallet parts
//! taken in one unit with the payment locked, then the card part at the bank, then acquiring
//! asked to take the payment's result from the wallet channel.

use paycore_acquiring::{Acquiring, AcquiringError, Payment, WALLET_CHANNEL};
use paycore_kernel::BizType;
use paycore_risk::{Action, Decision, Facts};

use crate::model::{Instrument, Plan, PlanStatus};
use crate::plan::{request_hash, Bill};
use crate::{Cashier, CashierError};

/// What a request number was used for before.
enum Seen {
    Plan,
    Challenge,
}

/// What the payer asks (`POST /v1/members/me/payments/{payment_id}/pay`).
#[derive(Debug, Clone)]
pub struct PayRequest {
    pub request_no: String,
    pub instruments: Vec<Instrument>,
    pub pay_password: Option<String>,
    /// The payer's device and address, for risk.
    pub device_id: Option<String>,
    pub client_ip: Option<String>,
}

/// What became of the payer's call.
#[derive(Debug, Clone)]
pub enum PayOutcome {
    /// Paid (`succeeded`), or with the bank (`processing`).
    Done(Box<Payment>),
    /// Risk asks for confirmation first (`verify` with the code sent by `method`).
    Verify {
        payment: Box<Payment>,
        method: &'static str,
    },
}

pub(crate) fn check_request_no(r: &str) -> Result<(), CashierError> {
    match paycore_kernel::id::valid_own_number(r) {
        true => Ok(()),
        false => Err(CashierError::Invalid(
            "request_no must be 1 to 64 of A-Z a-z 0-9 . _ -".into(),
        )),
    }
}

impl Cashier {
    /// A payment the member may pay at the cashier: a wallet payment, for them or for anyone
    /// (another member's payment is not found, rather than shown).
    pub async fn payable(
        &self,
        acquiring: &Acquiring,
        member_id: &str,
        payment_id: &str,
    ) -> Result<Payment, CashierError> {
        let p = match acquiring.payment_for_payer(payment_id).await {
            Err(AcquiringError::NotFound) => return Err(CashierError::NotFound),
            other => other?,
        };
        let payer = p.payer.get("member_id").and_then(|m| m.as_str());
        if p.channel.as_deref() != Some(WALLET_CHANNEL) || payer.is_some_and(|m| m != member_id) {
            return Err(CashierError::NotFound);
        }
        Ok(p)
    }

    /// Pays the payment with `req.instruments`, all or nothing. The same `request_no` again
    /// answers the payment as it is now and takes nothing again.
    pub async fn pay(
        &self,
        acquiring: &Acquiring,
        member_id: &str,
        payment_id: &str,
        req: PayRequest,
    ) -> Result<PayOutcome, CashierError> {
        check_request_no(&req.request_no)?;
        let payment = self.payable(acquiring, member_id, payment_id).await?;
        let hash = request_hash(payment_id, &req.instruments);
        match self.seen(member_id, &req.request_no).await? {
            Some((_, h)) if h != hash => return Err(CashierError::IdempotencyConflict),
            Some((Seen::Plan, _)) => {
                let plan = self
                    .by_request(member_id, &req.request_no)
                    .await?
                    .ok_or(CashierError::NotFound)?;
                return Ok(PayOutcome::Done(Box::new(
                    self.after_plan(acquiring, plan).await?,
                )));
            }
            Some((Seen::Challenge, _)) => {
                return Ok(PayOutcome::Verify {
                    payment: Box::new(payment),
                    method: "sms",
                })
            }
            None => {}
        }
        let member = self.0.members.get(member_id).await?;
        member.require_active_member()?;
        self.0
            .members
            .authorize_payment(&member, payment.amount, req.pay_password.as_deref())
            .await?;
        let card_id = req.instruments.iter().find_map(|i| match i {
            Instrument::Card { card_id, .. } => Some(card_id.clone()),
            _ => None,
        });
        let facts = Facts {
            reference: payment.payment_id.clone(),
            member_id: member_id.to_string(),
            card_id,
            device_id: req.device_id.clone(),
            client_ip: req.client_ip.clone(),
            amount: payment.amount,
        };
        let decision = self.0.risk.judge(&facts).await?;
        match decision.action {
            Action::Block => {
                self.0.risk.record(&facts, &decision).await?;
                let names: Vec<&str> = decision.fired.iter().map(|f| f.name.as_str()).collect();
                return Err(CashierError::RiskRejected(names.join(", ")));
            }
            Action::Challenge => {
                self.0.risk.record(&facts, &decision).await?;
                return self.challenge(member_id, &payment, &req, &hash).await;
            }
            Action::Allow => {}
        }
        // An allowed decision is stored with the plan it let through, in one transaction.
        let judged = Some((facts, decision));
        Ok(PayOutcome::Done(Box::new(
            self.execute(acquiring, &member, payment, req, hash, judged)
                .await?,
        )))
    }

    /// A request judged and confirmed: its parts checked, the wallet parts taken, the card
    /// charged, the payment's result.
    pub(crate) async fn execute(
        &self,
        acquiring: &Acquiring,
        member: &paycore_member::Member,
        payment: Payment,
        req: PayRequest,
        hash: String,
        judged: Option<(Facts, Decision)>,
    ) -> Result<Payment, CashierError> {
        let member_id = member.member_id.as_str();
        let bill = Bill {
            merchant_id: &payment.merchant_id,
            product: payment.product,
            amount: payment.amount,
        };
        let parts = self.parts(member_id, &bill, &req.instruments).await?;
        let mut card_attempt = None;
        if let Some(card_id) = parts.iter().find_map(|p| p.card_id.as_deref()) {
            self.bound_card(member_id, card_id).await?;
            self.bank()?;
            card_attempt = Some(self.0.ids.next(BizType::ChannelAttempt, member_id).await?);
        }
        self.open_accounts(member_id).await?;
        let plan = Plan {
            plan_id: self.0.ids.next(BizType::Plan, member_id).await?.to_string(),
            payment_id: payment.payment_id.clone(),
            attempt_id: payment.attempt_id.clone().unwrap_or_default(),
            merchant_id: payment.merchant_id.clone(),
            member_id: member_id.to_string(),
            request_no: req.request_no.clone(),
            request_hash: hash,
            amount: payment.amount,
            status: PlanStatus::Executing,
            card_attempt: card_attempt.map(|a| a.to_string()),
            card_txn_id: None,
            fail_code: None,
            fail_message: None,
            parts,
        };
        let (plan, paid) = self
            .record(
                acquiring,
                (&payment, plan),
                payment.product.as_str(),
                judged,
            )
            .await?;
        match paid {
            Some(payment) => Ok(payment),
            None => self.after_plan(acquiring, plan).await,
        }
    }

    async fn bound_card(&self, member_id: &str, card_id: &str) -> Result<(), CashierError> {
        match self.0.cards.bound_agreement(member_id, card_id).await {
            Err(paycore_card::CardError::NotFound) => {
                Err(CashierError::Invalid("no such card".into()))
            }
            other => Ok(other.map(|_| ())?),
        }
    }

    /// Takes the wallet parts with the payment locked: one plan per attempt, while the payment
    /// still waits for its payer. A plan without a card part is paid then and there: the
    /// payment's success is booked in the same transaction (the payment comes back with it).
    async fn record(
        &self,
        acquiring: &Acquiring,
        (payment, mut plan): (&Payment, Plan),
        product: &str,
        judged: Option<(Facts, Decision)>,
    ) -> Result<(Plan, Option<Payment>), CashierError> {
        let at_once = match plan.card_part() {
            None => Some(acquiring.prepare_wallet_success(payment).await?),
            Some(_) => None,
        };
        let (me, acq, p, product) = (
            self.clone(),
            acquiring.clone(),
            plan.clone(),
            product.to_string(),
        );
        let done = self
            .0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    acq.open_payment_in(c, &p.payment_id).await?;
                    me.take_in(c, &p, &product).await?;
                    if let Some((facts, decision)) = &judged {
                        me.0.risk.record_in(c, facts, decision).await?;
                    }
                    match &at_once {
                        Some(ready) => Ok(Some(
                            acq.apply_wallet_success_in(c, ready, &p.plan_id, p.amount)
                                .await?,
                        )),
                        None => Ok::<_, CashierError>(None),
                    }
                })
            })
            .await;
        match done {
            Ok(paid) => {
                // As `take_in` recorded it: decided at once unless a card part is to be charged.
                if plan.card_part().is_none() {
                    plan.status = PlanStatus::Succeeded;
                }
                Ok((plan, paid))
            }
            Err(CashierError::Store(e)) if e.is_unique_violation() => {
                match self.by_request(&plan.member_id, &plan.request_no).await? {
                    Some(same) if same.request_hash == plan.request_hash => Ok((same, None)),
                    Some(_) => Err(CashierError::IdempotencyConflict),
                    None => Err(CashierError::InvalidState(
                        "the payment is being paid by another request".into(),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// After the wallet parts: the card part at the bank, then the payment's result.
    async fn after_plan(&self, acquiring: &Acquiring, plan: Plan) -> Result<Payment, CashierError> {
        let plan = match plan.status {
            PlanStatus::Executing => self.charge_card(&plan).await?,
            _ => plan,
        };
        if plan.status == PlanStatus::Failed {
            let why = plan.fail_message.clone().unwrap_or_default();
            return Err(CashierError::Declined(format!(
                "the bank refused the card ({}): {why}; nothing was charged",
                plan.fail_code.as_deref().unwrap_or("DECLINED")
            )));
        }
        Ok(acquiring.pay_now(&plan.payment_id).await?)
    }

    /// Whether the member's `request_no` made a plan or waits as a challenge, with its
    /// request's hash: one read for the common case of a new request.
    async fn seen(
        &self,
        member_id: &str,
        request_no: &str,
    ) -> Result<Option<(Seen, String)>, CashierError> {
        let row = self
            .0
            .db
            .read_optional(
                "SELECT 1 AS plan, request_hash FROM cashier_plans
                 WHERE member_id = $1 AND request_no = $2
                 UNION ALL
                 SELECT 0 AS plan, request_hash FROM cashier_challenges
                 WHERE member_id = $1 AND request_no = $2 AND verified_at IS NULL",
                &[member_id.into(), request_no.into()],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let seen = match r.int("plan")? {
            1 => Seen::Plan,
            _ => Seen::Challenge,
        };
        Ok(Some((seen, r.text("request_hash")?)))
    }

    async fn by_request(
        &self,
        member_id: &str,
        request_no: &str,
    ) -> Result<Option<Plan>, CashierError> {
        self.plan_where(
            "member_id = $1 AND request_no = $2",
            &[member_id.into(), request_no.into()],
        )
        .await
    }
}

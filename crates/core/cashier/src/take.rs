//! The wallet's parts of a plan — coupon, balance, coins, credit — taken in one transaction
//! with the plan itself and the limits it consumes, and given back (all of them when a later
//! part fails, or what a refund allocates) by the same means in reverse.

use paycore_kernel::{Currency, Money};
use paycore_ledger::{BusinessEvent, LedgerError, NewAccount, PostError};
use paycore_quota::Scope;
use paycore_store::state::Transition;
use paycore_store::Conn;

use crate::channel::WALLET_CHANNEL;
use crate::model::{Part, PartKind, Plan, PlanEvent, PlanStatus};
use crate::{Cashier, CashierError};

const MEMBER_BALANCE: &str = "224103";
const MEMBER_COINS: &str = "224104";
const MEMBER_CREDIT: &str = "112203";
const CHANNEL_RECEIVABLE: &str = "112201";
const MARKETING: &str = "660302";
const COIN_ISSUANCE: &str = "300102";

/// Which way a part's money moves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    Take,
    Back,
}

impl Cashier {
    /// Opens (once) the accounts a member's plan posts to, outside any unit of work.
    pub(crate) async fn open_accounts(&self, member_id: &str) -> Result<(), CashierError> {
        let known = |set: &std::sync::Mutex<std::collections::HashSet<String>>| {
            set.lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(member_id)
        };
        if known(&self.1) {
            return Ok(());
        }
        let cny = Currency::CNY;
        let mut accounts = vec![
            NewAccount::customer(MEMBER_BALANCE, member_id, cny),
            NewAccount::customer(MEMBER_COINS, member_id, Currency::XPC),
            NewAccount::customer(MEMBER_CREDIT, member_id, cny),
            NewAccount::internal(CHANNEL_RECEIVABLE, WALLET_CHANNEL, cny),
            NewAccount::internal(MARKETING, "", cny),
            NewAccount::internal(COIN_ISSUANCE, "", Currency::XPC),
        ];
        if let Some(bank) = &self.0.bank {
            accounts.push(NewAccount::internal(CHANNEL_RECEIVABLE, bank.code(), cny));
        }
        self.0.ledger.open_accounts(&accounts).await?;
        self.1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(member_id.to_string());
        Ok(())
    }

    /// Records `plan` and takes its wallet parts, in the caller's unit: all of them or none.
    pub(crate) async fn take_in(
        &self,
        c: &mut dyn Conn,
        plan: &Plan,
        product: &str,
    ) -> Result<(), CashierError> {
        let status = match plan.card_part() {
            Some(_) => PlanStatus::Executing,
            None => PlanStatus::Succeeded,
        };
        self.insert_plan(c, plan, status).await?;
        let q = &self.0.quotas;
        let limits = [
            (Scope::Member, plan.member_id.as_str()),
            (Scope::Merchant, plan.merchant_id.as_str()),
            (Scope::Product, product),
        ];
        q.consume_in(&mut *c, &plan.plan_id, &limits, plan.amount)
            .await?;
        if let Some(card) = plan.card_part() {
            let card_id = card.card_id.as_deref().unwrap_or_default();
            q.consume_in(
                &mut *c,
                &plan.plan_id,
                &[(Scope::Card, card_id)],
                card.amount,
            )
            .await?;
        }
        for part in plan.parts.iter().filter(|p| p.kind != PartKind::Card) {
            let reference = format!("{}.{}", plan.plan_id, part.seq);
            self.move_part(c, plan, part, part.amount, &reference, Way::Take)
                .await?;
        }
        Ok(())
    }

    async fn insert_plan(
        &self,
        c: &mut dyn Conn,
        p: &Plan,
        status: PlanStatus,
    ) -> Result<(), CashierError> {
        let now = self.now();
        c.execute(
            "INSERT INTO cashier_plans (plan_id, payment_id, attempt_id, live_attempt, merchant_id,
                member_id, request_no, request_hash, amount, currency, status, card_attempt,
                created_at, updated_at)
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            &[
                p.plan_id.as_str().into(),
                p.payment_id.as_str().into(),
                p.attempt_id.as_str().into(),
                p.merchant_id.as_str().into(),
                p.member_id.as_str().into(),
                p.request_no.as_str().into(),
                p.request_hash.as_str().into(),
                p.amount.minor().into(),
                p.amount.currency().code().into(),
                status.as_str().into(),
                p.card_attempt.as_deref().into(),
                now.into(),
            ],
        )
        .await?;
        for part in &p.parts {
            c.execute(
                "INSERT INTO cashier_parts (plan_id, seq, kind, amount, refunded, coupon_id,
                    card_id, coins)
                 VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
                &[
                    p.plan_id.as_str().into(),
                    part.seq.into(),
                    part.kind.as_str().into(),
                    part.amount.minor().into(),
                    part.coupon_id.as_deref().into(),
                    part.card_id.as_deref().into(),
                    part.coins.into(),
                ],
            )
            .await?;
        }
        paycore_store::state::created(c, p.plan_id.as_str(), status, &p.member_id, now).await?;
        Ok(())
    }

    /// Moves `amount` of one part either way: its voucher, and the coupon or credit line with
    /// it. `reference` names the movement (a voucher number, a credit entry) and makes it once.
    pub(crate) async fn move_part(
        &self,
        c: &mut dyn Conn,
        plan: &Plan,
        part: &Part,
        amount: Money,
        reference: &str,
        way: Way,
    ) -> Result<(), CashierError> {
        let credit = &self.0.credit;
        let member = plan.member_id.as_str();
        match (part.kind, way) {
            (PartKind::Coupon, Way::Take) => {
                let coupon = part.coupon_id.as_deref().unwrap_or_default();
                self.0
                    .marketing
                    .use_in(&mut *c, coupon, member, &plan.payment_id)
                    .await?;
            }
            (PartKind::Coupon, Way::Back) => {
                let coupon = part.coupon_id.as_deref().unwrap_or_default();
                self.0
                    .marketing
                    .give_back_in(&mut *c, coupon, &plan.payment_id)
                    .await?;
            }
            (PartKind::Credit, Way::Take) => {
                credit.spend_in(&mut *c, member, reference, amount).await?
            }
            (PartKind::Credit, Way::Back) => {
                credit
                    .give_back_in(&mut *c, member, reference, amount)
                    .await?
            }
            _ => {}
        }
        let mut events = vec![self.part_event(plan, part, amount, reference, way)];
        if part.kind == PartKind::Coin {
            // The coins themselves, in their own asset, in proportion to the money moved.
            let coins = match amount == part.amount {
                true => part.coins.unwrap_or_default(),
                false => self.coins_for(amount.minor())?,
            };
            let code = match way {
                Way::Take => "COIN_REDEEM",
                Way::Back => "COIN_REDEEM_BACK",
            };
            let xpc = Money::from_minor(coins, Currency::XPC);
            events.push(
                BusinessEvent::new(&format!("{reference}.coins"), code, &plan.payment_id, xpc)
                    .party("member", member),
            );
        }
        self.post_in(c, &events).await
    }

    fn part_event(
        &self,
        plan: &Plan,
        part: &Part,
        amount: Money,
        reference: &str,
        way: Way,
    ) -> BusinessEvent {
        let code = match way {
            Way::Take => part.kind.rule().to_string(),
            Way::Back => format!("{}_BACK", part.kind.rule()),
        };
        let bank = self.0.bank.as_ref().map(|b| b.code()).unwrap_or_default();
        BusinessEvent::new(
            &format!("{reference}.{code}"),
            &code,
            &plan.payment_id,
            amount,
        )
        .party("member", &plan.member_id)
        .party("wallet", WALLET_CHANNEL)
        .party("bank", bank)
    }

    /// Posts `events` in the caller's unit; a member's account that would go below zero is
    /// the balance or the coins not being enough.
    pub(crate) async fn post_in(
        &self,
        c: &mut dyn Conn,
        events: &[BusinessEvent],
    ) -> Result<(), CashierError> {
        for r in self.0.ledger.post_events_in(c, events).await? {
            match r {
                Ok(_) => {}
                Err(PostError::Overdraft { account, .. }) if account.contains(MEMBER_COINS) => {
                    return Err(CashierError::Insufficient(
                        "the coins are not enough".into(),
                    ))
                }
                Err(PostError::Overdraft { account, .. }) if account.contains(MEMBER_BALANCE) => {
                    return Err(CashierError::Insufficient(
                        "the wallet balance is not enough".into(),
                    ))
                }
                Err(e) => return Err(LedgerError::from(e).into()),
            }
        }
        Ok(())
    }

    /// A plan whose card part was refused: every wallet part goes back, the limits are
    /// released, and the plan fails — freeing the payment for the payer's next choice.
    pub(crate) async fn fail_in(
        &self,
        c: &mut dyn Conn,
        plan: &Plan,
        code: &str,
        message: &str,
    ) -> Result<(), CashierError> {
        for part in plan.parts.iter().filter(|p| p.kind != PartKind::Card) {
            let reference = format!("{}.{}.back", plan.plan_id, part.seq);
            self.move_part(c, plan, part, part.amount, &reference, Way::Back)
                .await?;
        }
        self.0.quotas.release_in(&mut *c, &plan.plan_id).await?;
        Transition::new(plan.status, PlanEvent::Fail, self.now())
            .by("bank")
            .reason(Some(code))
            .set("live_attempt", None::<String>)
            .set("fail_code", code)
            .set("fail_message", message)
            .apply(c, plan.plan_id.as_str())
            .await?;
        Ok(())
    }
}

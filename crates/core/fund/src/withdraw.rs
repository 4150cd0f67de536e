//! Withdrawal to a bound card (提现): the amount is held on the member's balance (the available
//! balance drops at once, so parallel withdrawals cannot overdraw it), the bank pays the card;
//! on success the hold is released and the vouchers `WITHDRAW_APPLY` (member → withdrawal
//! transit) and `WITHDRAW_PAID` (transit → bank position) take the money, in one transaction;
//! on failure the hold is released and nothing else moves. An answer the bank did not give is
//! asked again (the bank answers the same attempt the same way, paying nothing twice).

use paycore_channels::connector::PayoutRequest;
use paycore_channels::PayOutcome;
use paycore_kernel::{BizId, BizType, Currency, Money};
use paycore_ledger::accounts::account_no;
use paycore_ledger::{AccountRef, BusinessEvent, HoldRequest, LedgerError, NewAccount, PostError};
use paycore_quota::Scope;
use paycore_store::state::Transition;
use paycore_store::{Conn, Row, Value};

use crate::model::{FundEvent, FundKind, FundOrder, FundStatus};
use crate::wallet::MEMBER_BALANCE;
use crate::{check_request_no, FundError, Funds};

const WITHDRAWAL_TRANSIT: &str = "220202";
const BANK_POSITION: &str = "100201";
/// A hold outlasts any query-back by far; expiry is a last resort.
const HOLD_MS: i64 = 30 * 86_400_000;

fn hold_no(order_id: &str) -> String {
    format!("withdraw:{order_id}")
}

/// What a member asks to withdraw.
#[derive(Debug, Clone)]
pub struct WithdrawRequest {
    pub request_no: String,
    pub card_id: String,
    pub amount: Money,
    pub pay_password: String,
}

/// A processing withdrawal as the bank has to be asked about it.
struct Pending {
    order_id: String,
    member_id: String,
    attempt: BizId,
    amount: Money,
    channel: String,
    agreement: String,
}

impl Funds {
    /// Withdraws to a bound card. The same `request_no` again answers the same withdrawal.
    pub async fn withdraw(
        &self,
        member_id: &str,
        req: WithdrawRequest,
    ) -> Result<(FundOrder, bool), FundError> {
        check_request_no(&req.request_no)?;
        if req.amount.currency() != Currency::CNY || !req.amount.is_positive() {
            return Err(FundError::Invalid(
                "withdrawals are positive amounts of CNY".into(),
            ));
        }
        let kind = FundKind::Withdrawal;
        if let Some(o) = self.by_request(member_id, kind, &req.request_no).await? {
            return match o.same_request(req.amount, Some(&req.card_id), None) {
                true => Ok((o, false)),
                false => Err(FundError::IdempotencyConflict),
            };
        }
        let me = self.0.members.get(member_id).await?;
        me.require_active_member()?;
        self.0
            .members
            .check_pay_password(member_id, &req.pay_password)
            .await?;
        let agreement = self
            .0
            .cards
            .bound_agreement(member_id, &req.card_id)
            .await?;
        let bank = self.bank()?.clone();
        self.open_withdrawal_accounts(member_id, bank.code())
            .await?;
        let p = Pending {
            order_id: self
                .0
                .ids
                .next(BizType::Fund, member_id)
                .await?
                .as_str()
                .to_string(),
            member_id: member_id.to_string(),
            attempt: self.0.ids.next(BizType::ChannelAttempt, member_id).await?,
            amount: req.amount,
            channel: bank.code().to_string(),
            agreement,
        };
        match self.hold_and_record(&p, &req).await {
            Ok(()) => {}
            Err(FundError::Store(s)) if s.is_unique_violation() => {
                let o = self.by_request(member_id, kind, &req.request_no).await?;
                return o.map(|o| (o, false)).ok_or(FundError::IdempotencyConflict);
            }
            Err(e) => return Err(e),
        }
        self.ask_bank(&p).await?;
        Ok((self.order(member_id, &p.order_id).await?, true))
    }

    async fn open_withdrawal_accounts(
        &self,
        member_id: &str,
        channel: &str,
    ) -> Result<(), FundError> {
        self.open_wallet(member_id).await?;
        self.0
            .ledger
            .open_accounts(&[
                NewAccount::internal(WITHDRAWAL_TRANSIT, "", Currency::CNY),
                NewAccount::internal(BANK_POSITION, channel, Currency::CNY),
            ])
            .await?;
        Ok(())
    }

    /// The hold and the order, in one transaction: a balance that is not enough records
    /// nothing.
    async fn hold_and_record(&self, p: &Pending, req: &WithdrawRequest) -> Result<(), FundError> {
        let now = self.now();
        let hold = HoldRequest {
            hold_no: hold_no(&p.order_id),
            debit: AccountRef::No(account_no(MEMBER_BALANCE, &p.member_id, "CNY", 0)),
            credit: AccountRef::No(account_no(WITHDRAWAL_TRANSIT, "", "CNY", 0)),
            amount: p.amount,
            expires_at: now + HOLD_MS,
            biz_ref: p.order_id.clone(),
        };
        let values: Vec<Value> = vec![
            p.order_id.as_str().into(),
            FundKind::Withdrawal.as_str().into(),
            p.member_id.as_str().into(),
            req.request_no.as_str().into(),
            p.amount.minor().into(),
            p.amount.currency().code().into(),
            FundStatus::Processing.as_str().into(),
            req.card_id.as_str().into(),
            p.channel.as_str().into(),
            p.attempt.as_str().into(),
            now.into(),
        ];
        let (quotas, card) = (self.0.quotas.clone(), req.card_id.clone());
        let (ledger, key, actor) = (
            self.0.ledger.clone(),
            p.order_id.clone(),
            p.member_id.clone(),
        );
        self.0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    let limits = [
                        (Scope::Member, actor.as_str()),
                        (Scope::Card, card.as_str()),
                        (Scope::Product, "WITHDRAWAL"),
                    ];
                    quotas
                        .consume_in(&mut *c, &key, &limits, hold.amount)
                        .await?;
                    match ledger.hold_in(&mut *c, &hold).await {
                        Ok(_) => {}
                        Err(LedgerError::Refused(PostError::Overdraft { .. })) => {
                            return Err(FundError::InsufficientBalance)
                        }
                        Err(e) => return Err(e.into()),
                    }
                    c.execute(
                        "INSERT INTO fund_orders (order_id, kind, member_id, request_no, amount,
                            currency, status, card_id, channel, attempt_id, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                        &values,
                    )
                    .await?;
                    paycore_store::state::created(c, key, FundStatus::Processing, &actor, now)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Asks the bank to pay (or, for an attempt already sent, what it did) and applies the
    /// answer. Returns whether the withdrawal is settled now.
    async fn ask_bank(&self, p: &Pending) -> Result<bool, FundError> {
        let req = PayoutRequest {
            payout_attempt_id: p.attempt,
            amount: p.amount,
            account: p.agreement.clone(),
            account_name: p.member_id.clone(),
            notify_url: None,
        };
        let outcome = self.bank()?.payout(&req).await;
        let (event, txn, fail) = match outcome {
            Ok(PayOutcome::Succeeded { channel_txn_id, .. }) => {
                (FundEvent::Succeed, channel_txn_id, None)
            }
            Ok(PayOutcome::Failed { code, message, .. }) => {
                (FundEvent::Fail, String::new(), Some((code, message)))
            }
            other => {
                tracing::warn!(target: "detail", order = %p.order_id, outcome = ?other.map(|_| ()),
                    "withdrawal result not known: left to the query-back");
                return Ok(false);
            }
        };
        let now = self.now();
        let (funds, key, member, channel, amount) = (
            self.clone(),
            p.order_id.clone(),
            p.member_id.clone(),
            p.channel.clone(),
            p.amount,
        );
        self.0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    let released = funds.0.ledger.void_in(&mut *c, &hold_no(&key)).await;
                    match released {
                        Ok(_) | Err(LedgerError::Refused(PostError::HoldNotPending { .. })) => {}
                        Err(e) => return Err(FundError::from(e)),
                    }
                    let mut t = Transition::new(FundStatus::Processing, event, now).by("bank");
                    if let Some((code, message)) = &fail {
                        funds.0.quotas.release_in(&mut *c, &key).await?;
                        t = t
                            .reason(Some(code))
                            .set("fail_code", code.as_str())
                            .set("fail_message", message.as_str());
                    } else {
                        t = t.set("channel_txn_id", txn.as_str());
                        funds
                            .post_withdrawal(c, &key, &member, &channel, amount)
                            .await?;
                    }
                    t.apply(c, key.as_str()).await?;
                    Ok::<_, FundError>(())
                })
            })
            .await?;
        Ok(true)
    }

    async fn post_withdrawal(
        &self,
        c: &mut dyn Conn,
        order_id: &str,
        member_id: &str,
        channel: &str,
        amount: Money,
    ) -> Result<(), FundError> {
        let apply = BusinessEvent::new(
            &format!("{order_id}.apply"),
            "WITHDRAW_APPLY",
            order_id,
            amount,
        )
        .party("member", member_id);
        let paid = BusinessEvent::new(
            &format!("{order_id}.paid"),
            "WITHDRAW_PAID",
            order_id,
            amount,
        )
        .party("bank", channel);
        for r in self.0.ledger.post_events_in(c, &[apply, paid]).await? {
            r.map_err(LedgerError::from)?;
        }
        Ok(())
    }

    /// Asks the bank again about withdrawals still processing after `older_than_ms`.
    pub(crate) async fn query_back_withdrawals(
        &self,
        older_than_ms: i64,
    ) -> Result<usize, FundError> {
        let rows = sqlx::query(
            "SELECT o.order_id, o.member_id, o.amount, o.currency, o.channel, o.attempt_id,
                o.card_id FROM fund_orders o
             WHERE o.status = $1 AND o.kind = $2 AND o.updated_at < $3 ORDER BY o.id LIMIT 100",
        )
        .bind(FundStatus::Processing.as_str())
        .bind(FundKind::Withdrawal.as_str())
        .bind(self.now() - older_than_ms)
        .fetch_all(self.0.db.reader())
        .await?;
        let mut settled = 0;
        for r in rows {
            let member_id: String = r.try_get("member_id")?;
            let card_id: String = r.try_get("card_id")?;
            let card = self.0.cards.card(&member_id, &card_id).await?;
            let attempt: String = r.try_get("attempt_id")?;
            let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)?;
            let p = Pending {
                order_id: r.try_get("order_id")?,
                member_id,
                attempt: attempt
                    .parse()
                    .map_err(|_| FundError::Corrupt("attempt".into()))?,
                amount: Money::from_minor(r.try_get("amount")?, currency),
                channel: r.try_get("channel")?,
                agreement: card.agreement_no.unwrap_or_default(),
            };
            if self.ask_bank(&p).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }
}

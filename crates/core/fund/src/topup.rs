//! Top-up from a bound card (充值): the quick-pay bank charges the card by its agreement, and a
//! `TOPUP` voucher (channel receivable → member balance) is posted in the transaction that
//! marks the order succeeded. A result the bank did not give (timeout) leaves the order
//! `processing` for the query-back, which asks the bank until it knows.

use paycore_channels::{notify_url, Charge, PayRequest, PayerInfo, QueryRequest};
use paycore_kernel::product::Product;
use paycore_kernel::{BizId, BizType, Currency, Money};
use paycore_ledger::{BusinessEvent, LedgerError, NewAccount};
use paycore_quota::Scope;
use paycore_store::state::Transition;
use paycore_store::{Conn, Row, Value};

use crate::model::{FundEvent, FundKind, FundOrder, FundStatus};
use crate::wallet::CHANNEL_RECEIVABLE;
use crate::{check_request_no, FundError, Funds};

impl Funds {
    pub(crate) fn bank(
        &self,
    ) -> Result<&std::sync::Arc<dyn paycore_channels::Connector>, FundError> {
        self.0
            .bank
            .as_ref()
            .ok_or_else(|| FundError::Unavailable("no quick-pay bank is connected".into()))
    }

    /// Tops up the wallet from a bound card. The same `request_no` again answers the same
    /// top-up (`false`: not new) and charges nothing again.
    pub async fn top_up(
        &self,
        member_id: &str,
        request_no: &str,
        amount: Money,
        card_id: &str,
    ) -> Result<(FundOrder, bool), FundError> {
        check_request_no(request_no)?;
        if amount.currency() != Currency::CNY || !amount.is_positive() {
            return Err(FundError::Invalid(
                "top-ups are positive amounts of CNY".into(),
            ));
        }
        if let Some(o) = self
            .by_request(member_id, FundKind::TopUp, request_no)
            .await?
        {
            return match o.same_request(amount, Some(card_id), None) {
                true => Ok((o, false)),
                false => Err(FundError::IdempotencyConflict),
            };
        }
        self.0
            .members
            .get(member_id)
            .await?
            .require_active_member()?;
        let agreement = self.0.cards.bound_agreement(member_id, card_id).await?;
        let bank = self.bank()?.clone();
        self.open_wallet(member_id).await?;
        self.0
            .ledger
            .open_account(&NewAccount::internal(
                CHANNEL_RECEIVABLE,
                bank.code(),
                Currency::CNY,
            ))
            .await?;
        let order_id = self.0.ids.next(BizType::Fund, member_id).await?;
        let attempt = self.0.ids.next(BizType::ChannelAttempt, member_id).await?;
        if let Err(e) = self
            .insert_top_up(
                order_id,
                attempt,
                member_id,
                request_no,
                amount,
                card_id,
                bank.code(),
            )
            .await
        {
            return match e {
                FundError::Store(s) if s.is_unique_violation() => {
                    let o = self
                        .by_request(member_id, FundKind::TopUp, request_no)
                        .await?;
                    o.map(|o| (o, false)).ok_or(FundError::IdempotencyConflict)
                }
                other => Err(other),
            };
        }
        let req = PayRequest {
            attempt_id: attempt,
            merchant_id: "platform".into(),
            order_id: Some(order_id.to_string()),
            product: Product::QuickPay,
            amount,
            subject: "Wallet top-up".into(),
            payer: PayerInfo {
                member_id: Some(member_id.into()),
                card_token: Some(card_id.into()),
                agreement_no: Some(agreement),
                ..PayerInfo::default()
            },
            return_url: None,
            notify_url: notify_url(&self.0.platform_base_url, bank.code()),
            expire_at: None,
        };
        let settle = Charge::of_pay(bank.pay(&req).await, amount);
        if settle == Charge::Open {
            // Unknown, pending, a different amount or no answer: asked again later.
            tracing::warn!(target: "detail", order = %order_id,
                "top-up result not known: left to the query-back");
        }
        self.settle(order_id.as_str(), member_id, amount, bank.code(), settle)
            .await?;
        Ok((self.order(member_id, order_id.as_str()).await?, true))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_top_up(
        &self,
        order_id: BizId,
        attempt: BizId,
        member_id: &str,
        request_no: &str,
        amount: Money,
        card_id: &str,
        channel: &str,
    ) -> Result<(), FundError> {
        let now = self.now();
        let values: Vec<Value> = vec![
            order_id.as_str().into(),
            FundKind::TopUp.as_str().into(),
            member_id.into(),
            request_no.into(),
            amount.minor().into(),
            amount.currency().code().into(),
            FundStatus::Processing.as_str().into(),
            card_id.into(),
            channel.into(),
            attempt.as_str().into(),
            now.into(),
        ];
        let (key, actor) = (order_id.as_str().to_string(), member_id.to_string());
        let (quotas, card) = (self.0.quotas.clone(), card_id.to_string());
        self.0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    let limits = [
                        (Scope::Member, actor.as_str()),
                        (Scope::Card, card.as_str()),
                        (Scope::Product, "TOP_UP"),
                    ];
                    quotas.consume_in(&mut *c, &key, &limits, amount).await?;
                    c.execute(
                        "INSERT INTO fund_orders (order_id, kind, member_id, request_no, amount,
                            currency, status, card_id, channel, attempt_id, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                        &values,
                    )
                    .await?;
                    paycore_store::state::created(c, key, FundStatus::Processing, &actor, now)
                        .await?;
                    Ok::<_, FundError>(())
                })
            })
            .await
    }

    /// Applies what the bank said to a processing top-up: paid (voucher and state in one
    /// transaction), failed, or still open.
    async fn settle(
        &self,
        order_id: &str,
        member_id: &str,
        amount: Money,
        channel: &str,
        settle: Charge,
    ) -> Result<(), FundError> {
        let now = self.now();
        let (funds, key) = (self.clone(), order_id.to_string());
        let (member, channel) = (member_id.to_string(), channel.to_string());
        match settle {
            Charge::Open => Ok(()),
            Charge::Paid {
                channel_txn_id: txn,
            } => {
                self.0
                    .db
                    .unit(move |c| {
                        Box::pin(async move {
                            Transition::new(FundStatus::Processing, FundEvent::Succeed, now)
                                .by("bank")
                                .set("channel_txn_id", txn.as_str())
                                .apply(&mut *c, key.as_str())
                                .await?;
                            funds.post_top_up(c, &key, &member, &channel, amount).await
                        })
                    })
                    .await
            }
            Charge::Refused { code, message } => {
                self.0
                    .db
                    .unit(move |c| {
                        Box::pin(async move {
                            funds.0.quotas.release_in(&mut *c, &key).await?;
                            Transition::new(FundStatus::Processing, FundEvent::Fail, now)
                                .by("bank")
                                .reason(Some(&code))
                                .set("fail_code", code.as_str())
                                .set("fail_message", message.as_str())
                                .apply(c, key.as_str())
                                .await?;
                            Ok::<_, FundError>(())
                        })
                    })
                    .await
            }
        }
    }

    async fn post_top_up(
        &self,
        c: &mut dyn Conn,
        order_id: &str,
        member_id: &str,
        channel: &str,
        amount: Money,
    ) -> Result<(), FundError> {
        let ev = BusinessEvent::new(&format!("{order_id}.topup"), "TOPUP", order_id, amount)
            .party("channel", channel)
            .party("member", member_id);
        for r in self.0.ledger.post_events_in(c, &[ev]).await? {
            r.map_err(LedgerError::from)?;
        }
        Ok(())
    }

    /// Asks the bank about top-ups and withdrawals still processing after `older_than_ms`, and
    /// settles those it knows. Returns how many were settled.
    pub async fn query_back(&self, older_than_ms: i64) -> Result<usize, FundError> {
        let top_ups = self.query_back_top_ups(older_than_ms).await?;
        Ok(top_ups + self.query_back_withdrawals(older_than_ms).await?)
    }

    async fn query_back_top_ups(&self, older_than_ms: i64) -> Result<usize, FundError> {
        let rows = sqlx::query(
            "SELECT order_id, member_id, amount, currency, channel, attempt_id FROM fund_orders
             WHERE status = $1 AND kind = $2 AND updated_at < $3 ORDER BY id LIMIT 100",
        )
        .bind(FundStatus::Processing.as_str())
        .bind(FundKind::TopUp.as_str())
        .bind(self.now() - older_than_ms)
        .fetch_all(self.0.db.reader())
        .await?;
        let Ok(bank) = self.bank() else {
            return Ok(0);
        };
        let mut settled = 0;
        for r in rows {
            let attempt: String = r.try_get("attempt_id")?;
            let attempt: BizId = attempt
                .parse()
                .map_err(|_| FundError::Corrupt("attempt".into()))?;
            let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)?;
            let amount = Money::from_minor(r.try_get("amount")?, currency);
            let q = QueryRequest {
                attempt_id: attempt,
                channel_txn_id: None,
            };
            let settle = Charge::of_query(bank.query(&q).await, amount);
            if settle != Charge::Open {
                let (id, member): (String, String) =
                    (r.try_get("order_id")?, r.try_get("member_id")?);
                let channel: String = r.try_get("channel")?;
                self.settle(&id, &member, amount, &channel, settle).await?;
                settled += 1;
            }
        }
        Ok(settled)
    }
}

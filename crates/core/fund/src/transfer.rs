//! Member-to-member transfer (转账): one `TRANSFER` voucher between the two wallets, in the
//! transaction that records the order. A balance that is not enough changes nothing.

use paycore_kernel::{BizType, Currency, Money};
use paycore_ledger::{BusinessEvent, LedgerError, PostError};
use paycore_quota::Scope;
use paycore_store::{Conn, Value};

use crate::model::{FundKind, FundOrder, FundStatus};
use crate::{check_request_no, FundError, Funds};

/// What a member asks to transfer.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    pub request_no: String,
    pub to_phone: String,
    pub amount: Money,
    pub pay_password: Option<String>,
}

impl Funds {
    /// Transfers from the member's wallet to the member registered with `to_phone`. The same
    /// `request_no` again answers the same transfer (`false`: not new).
    pub async fn transfer(
        &self,
        member_id: &str,
        req: TransferRequest,
    ) -> Result<(FundOrder, bool), FundError> {
        check_request_no(&req.request_no)?;
        if req.amount.currency() != Currency::CNY || !req.amount.is_positive() {
            return Err(FundError::Invalid(
                "transfers are positive amounts of CNY".into(),
            ));
        }
        let members = &self.0.members;
        let payee = members.by_phone(&req.to_phone).await.map_err(|e| match e {
            paycore_member::MemberError::NotFound => {
                FundError::Invalid("no member has this phone number".into())
            }
            other => other.into(),
        })?;
        if let Some(o) = self
            .by_request(member_id, FundKind::Transfer, &req.request_no)
            .await?
        {
            return match o.same_request(req.amount, None, Some(&payee.member_id)) {
                true => Ok((o, false)),
                false => Err(FundError::IdempotencyConflict),
            };
        }
        if payee.member_id == member_id {
            return Err(FundError::Invalid(
                "a transfer goes to another member".into(),
            ));
        }
        payee.require_active_member()?;
        let me = members.get(member_id).await?;
        me.require_active_member()?;
        members
            .authorize_payment(&me, req.amount, req.pay_password.as_deref())
            .await?;
        self.open_wallet(member_id).await?;
        self.open_wallet(&payee.member_id).await?;
        let id = self.0.ids.next(BizType::Fund, member_id).await?;
        let (funds, mid, pid, req2) = (
            self.clone(),
            member_id.to_string(),
            payee.member_id.clone(),
            req.clone(),
        );
        let order_id = id.as_str().to_string();
        let done = self
            .0
            .db
            .unit(move |c| {
                Box::pin(
                    async move { funds.record_transfer(c, &order_id, &mid, &pid, &req2).await },
                )
            })
            .await;
        match done {
            Ok(()) => Ok((self.order(member_id, id.as_str()).await?, true)),
            // The same request at the same moment: the other one recorded it.
            Err(FundError::Store(e)) if e.is_unique_violation() => {
                let o = self
                    .by_request(member_id, FundKind::Transfer, &req.request_no)
                    .await?;
                o.map(|o| (o, false)).ok_or(FundError::IdempotencyConflict)
            }
            Err(e) => Err(e),
        }
    }

    async fn record_transfer(
        &self,
        c: &mut dyn Conn,
        order_id: &str,
        member_id: &str,
        payee_id: &str,
        req: &TransferRequest,
    ) -> Result<(), FundError> {
        let ev = BusinessEvent::new(
            &format!("{order_id}.transfer"),
            "TRANSFER",
            order_id,
            req.amount,
        )
        .party("payer", member_id)
        .party("payee", payee_id);
        let limits = [(Scope::Member, member_id), (Scope::Product, "TRANSFER")];
        self.0
            .quotas
            .consume_in(&mut *c, order_id, &limits, req.amount)
            .await?;
        let posted = self.0.ledger.post_events_in(c, &[ev]).await?;
        match posted.into_iter().next() {
            Some(Ok(_)) => {}
            Some(Err(PostError::Overdraft { .. })) => return Err(FundError::InsufficientBalance),
            Some(Err(e)) => return Err(LedgerError::from(e).into()),
            None => return Err(FundError::Corrupt("a transfer posted no voucher".into())),
        }
        let now = self.now();
        c.execute(
            "INSERT INTO fund_orders (order_id, kind, member_id, request_no, amount, currency,
                status, payee_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            &[
                Value::from(order_id),
                FundKind::Transfer.as_str().into(),
                member_id.into(),
                req.request_no.as_str().into(),
                req.amount.minor().into(),
                req.amount.currency().code().into(),
                FundStatus::Succeeded.as_str().into(),
                payee_id.into(),
                now.into(),
            ],
        )
        .await?;
        paycore_store::state::created(c, order_id, FundStatus::Succeeded, member_id, now).await?;
        Ok(())
    }
}

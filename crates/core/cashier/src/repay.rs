//! Repaying the credit line from the wallet balance: the line's use goes down and the money
//! moves (balance → credit receivable) in one transaction, once per `request_no`.

use paycore_credit::Line;
use paycore_kernel::Money;
use paycore_ledger::BusinessEvent;

use crate::{Cashier, CashierError};

impl Cashier {
    /// Repays `amount` of the member's credit from their balance. The same `request_no` again
    /// answers the line and repays nothing again; with another amount it is a conflict.
    pub async fn repay_from_balance(
        &self,
        member_id: &str,
        request_no: &str,
        amount: Money,
    ) -> Result<Line, CashierError> {
        crate::pay::check_request_no(request_no)?;
        let reference = format!("repay.{member_id}.{request_no}");
        self.0
            .members
            .get(member_id)
            .await?
            .require_active_member()?;
        self.open_accounts(member_id).await?;
        let (me, member, r) = (self.clone(), member_id.to_string(), reference.clone());
        let done = self
            .0
            .db
            .unit(move |c| {
                Box::pin(async move {
                    me.0.credit.repay_in(&mut *c, &member, &r, amount).await?;
                    let no = crate::voucher_no("repay", &[&member, &r]);
                    let ev = BusinessEvent::new(&no, "CREDIT_REPAY_BALANCE", &r, amount)
                        .party("member", &member);
                    me.post_in(c, &[ev]).await
                })
            })
            .await;
        match done {
            Ok(()) => {}
            Err(CashierError::Store(e)) if e.is_unique_violation() => {
                let same = self.0.credit.entry_amount(&reference).await?;
                match same {
                    Some(a) if a == amount => {}
                    _ => return Err(CashierError::IdempotencyConflict),
                }
            }
            Err(e) => return Err(e),
        }
        Ok(self.0.credit.line(member_id).await?)
    }
}

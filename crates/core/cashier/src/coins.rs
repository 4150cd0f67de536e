//! Coins issued to a member (P7: earned — a reward, a promotion — by an operator's grant):
//! the platform's coin issuance credits the member's coin account, once per request number.

use paycore_kernel::{Currency, Money};
use paycore_ledger::BusinessEvent;

use crate::{Cashier, CashierError};

impl Cashier {
    /// Issues `coins` to the member; the same `request_no` again issues nothing again. Returns
    /// the member's coins available now.
    pub async fn grant_coins(
        &self,
        member_id: &str,
        request_no: &str,
        coins: i64,
    ) -> Result<i64, CashierError> {
        crate::pay::check_request_no(request_no)?;
        if !(1..=1_000_000_000).contains(&coins) {
            return Err(CashierError::Invalid(
                "coins must be 1 to 1000000000".into(),
            ));
        }
        self.0
            .members
            .get(member_id)
            .await?
            .require_active_member()?;
        self.open_accounts(member_id).await?;
        let amount = Money::from_minor(coins, Currency::XPC);
        let no = crate::voucher_no("coins", &[member_id, request_no]);
        let ev = BusinessEvent::new(&no, "COIN_EARN", &no, amount).party("member", member_id);
        let posted = self.0.ledger.post_event(&ev).await?;
        if posted.replayed {
            tracing::info!(target: "detail", member = member_id, request_no,
                "coin grant repeated: nothing issued again");
        }
        self.coins_available(member_id).await
    }

    async fn coins_available(&self, member_id: &str) -> Result<i64, CashierError> {
        let no = paycore_ledger::accounts::account_no("224104", member_id, "XPC", 0);
        Ok(self.0.ledger.balance(&no).await?.available.minor())
    }
}

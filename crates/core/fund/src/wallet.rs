//! The member's wallet accounts in the ledger — balance (224103) and coins (224104) — opened on
//! first use, and their balances.

use paycore_kernel::{Currency, Money};
use paycore_ledger::accounts::account_no;
use paycore_ledger::{LedgerError, NewAccount};

use crate::{FundError, Funds};

/// The member's wallet balance (应付-平台托管-会员余额).
pub(crate) const MEMBER_BALANCE: &str = "224103";
/// The member's coins (会员虚币).
pub(crate) const MEMBER_COINS: &str = "224104";
pub(crate) const CHANNEL_RECEIVABLE: &str = "112201";

/// One asset of the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetBalance {
    pub available: Money,
    /// Held for payments and withdrawals in flight.
    pub pending: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletBalance {
    pub balance: AssetBalance,
    pub coins: AssetBalance,
}

impl Funds {
    /// Opens the member's wallet accounts (once; opening again finds them).
    pub(crate) async fn open_wallet(&self, member_id: &str) -> Result<(), FundError> {
        self.0
            .ledger
            .open_accounts(&[
                NewAccount::customer(MEMBER_BALANCE, member_id, Currency::CNY),
                NewAccount::customer(MEMBER_COINS, member_id, Currency::XPC),
            ])
            .await?;
        Ok(())
    }

    /// The member's balances (zero before the wallet's first use).
    pub async fn wallet(&self, member_id: &str) -> Result<WalletBalance, FundError> {
        let one = |subject: &str, currency: Currency| {
            let no = account_no(subject, member_id, currency.code(), 0);
            let ledger = self.0.ledger.clone();
            async move {
                match ledger.balance(&no).await {
                    Ok(b) => Ok(AssetBalance {
                        available: b.available,
                        pending: b.pending,
                    }),
                    Err(LedgerError::AccountNotFound(_)) => Ok(AssetBalance {
                        available: Money::zero(currency),
                        pending: Money::zero(currency),
                    }),
                    Err(e) => Err(FundError::from(e)),
                }
            }
        };
        Ok(WalletBalance {
            balance: one(MEMBER_BALANCE, Currency::CNY).await?,
            coins: one(MEMBER_COINS, Currency::XPC).await?,
        })
    }
}

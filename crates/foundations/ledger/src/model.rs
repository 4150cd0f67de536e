//! The ledger's vocabulary: sides, subjects, accounts, legs, vouchers, results.

use paycore_kernel::state::StateMachine;
use paycore_kernel::{Currency, Money};
use paycore_store::state::{Stored, Table};
use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, PostError};

/// Debit or credit. Applied to an account of normal side `n`: same side adds, the other
/// subtracts (DD+ DC- CC+ CD-).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    #[serde(rename = "D")]
    Debit,
    #[serde(rename = "C")]
    Credit,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "D",
            Side::Credit => "C",
        }
    }

    pub fn parse(s: &str) -> Result<Side, LedgerError> {
        match s {
            "D" => Ok(Side::Debit),
            "C" => Ok(Side::Credit),
            other => Err(LedgerError::Corrupt(format!("side {other:?}"))),
        }
    }

    /// +1 when a leg on `self` increases an account whose normal side is `normal`, else -1.
    pub fn sign_on(self, normal: Side) -> i64 {
        if self == normal {
            1
        } else {
            -1
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Element {
    Asset,
    Liability,
    Equity,
    Income,
    Expense,
}

impl Element {
    pub fn parse(s: &str) -> Result<Element, LedgerError> {
        Ok(match s {
            "asset" => Element::Asset,
            "liability" => Element::Liability,
            "equity" => Element::Equity,
            "income" => Element::Income,
            "expense" => Element::Expense,
            other => return Err(LedgerError::Corrupt(format!("element {other:?}"))),
        })
    }

    /// Root account name in beancount.
    pub fn beancount_root(self) -> &'static str {
        match self {
            Element::Asset => "Assets",
            Element::Liability => "Liabilities",
            Element::Equity => "Equity",
            Element::Income => "Income",
            Element::Expense => "Expenses",
        }
    }
}

/// A subject (会计科目) of the three-level chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub code: String,
    pub parent: Option<String>,
    pub level: u8,
    pub element: Element,
    pub normal_side: Side,
    pub name: String,
    pub name_en: String,
}

/// Well-known detail subjects (level 3) used by the posting rules and other modules.
pub mod subjects {
    pub const BANK_POSITION: &str = "100201";
    pub const CHANNEL_RECEIVABLE: &str = "112201";
    pub const CHANNEL_CLEARED: &str = "112202";
    pub const MEMBER_CREDIT: &str = "112203";
    pub const GATEWAY_TRANSIT: &str = "220201";
    pub const WITHDRAWAL_TRANSIT: &str = "220202";
    pub const SETTLEMENT_TRANSIT: &str = "220203";
    pub const REFUND_TRANSIT: &str = "220204";
    pub const MERCHANT_PENDING: &str = "224101";
    pub const MERCHANT_BALANCE: &str = "224102";
    pub const MEMBER_BALANCE: &str = "224103";
    pub const MEMBER_COINS: &str = "224104";
    pub const CAPITAL: &str = "300101";
    pub const COIN_ISSUANCE: &str = "300102";
    pub const FEE_INCOME_CONSUMPTION: &str = "600101";
    pub const FEE_INCOME_WITHDRAWAL: &str = "600102";
    pub const FX_GAIN: &str = "605101";
    pub const CHANNEL_COST: &str = "640101";
    pub const LOSSES: &str = "660301";
    pub const MARKETING: &str = "660302";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// Visible to its owner: member wallets, merchant accounts.
    Customer,
    /// The platform's own: positions, fee income, transit accounts.
    Internal,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Customer => "customer",
            AccountKind::Internal => "internal",
        }
    }
    pub fn parse(s: &str) -> Result<Self, LedgerError> {
        match s {
            "customer" => Ok(AccountKind::Customer),
            "internal" => Ok(AccountKind::Internal),
            o => Err(LedgerError::Corrupt(format!("account kind {o:?}"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    /// No debit legs are accepted; credits still are.
    Frozen,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountEvent {
    Freeze,
    Unfreeze,
    Close,
}

impl StateMachine for AccountStatus {
    type Event = AccountEvent;
    const INITIAL: &'static [Self] = &[AccountStatus::Active];
    const TRANSITIONS: &'static [(Self, AccountEvent, Self)] = &[
        (
            AccountStatus::Active,
            AccountEvent::Freeze,
            AccountStatus::Frozen,
        ),
        (
            AccountStatus::Frozen,
            AccountEvent::Unfreeze,
            AccountStatus::Active,
        ),
        (
            AccountStatus::Active,
            AccountEvent::Close,
            AccountStatus::Closed,
        ),
        (
            AccountStatus::Frozen,
            AccountEvent::Close,
            AccountStatus::Closed,
        ),
    ];
}

paycore_kernel::named!(AccountStatus { Active => "active", Frozen => "frozen", Closed => "closed" });
paycore_kernel::named!(AccountEvent { Freeze => "freeze", Unfreeze => "unfreeze", Close => "close" });

impl Stored for AccountStatus {
    const TABLE: Table = Table {
        machine: "ledger account",
        table: "ledger_accounts",
        key: "id",
        status: "status",
        updated_at: None,
        history: "ledger_account_history",
        history_key: "account_id",
    };
}

/// A voucher's outcome, fixed when it is recorded (a voucher is never changed afterwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherStatus {
    Posted,
    Failed,
}
paycore_kernel::named!(VoucherStatus { Posted => "posted", Failed => "failed" });

/// How far below zero the available balance may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "policy", content = "limit")]
pub enum Overdraft {
    None,
    /// Down to minus this many minor units.
    Limit(i64),
    /// Internal accounts that may go negative (positions in flight, transit).
    Unbounded,
}

impl Overdraft {
    pub fn columns(self) -> (&'static str, i64) {
        match self {
            Overdraft::None => ("none", 0),
            Overdraft::Limit(l) => ("limit", l),
            Overdraft::Unbounded => ("unbounded", 0),
        }
    }
    pub fn parse(s: &str, limit: i64) -> Result<Self, LedgerError> {
        match s {
            "none" => Ok(Overdraft::None),
            "limit" => Ok(Overdraft::Limit(limit)),
            "unbounded" => Ok(Overdraft::Unbounded),
            o => Err(LedgerError::Corrupt(format!("overdraft {o:?}"))),
        }
    }
    /// Whether an available balance of `available` minor units is allowed.
    pub fn allows(self, available: i128) -> bool {
        match self {
            Overdraft::None => available >= 0,
            Overdraft::Limit(l) => available >= -i128::from(l),
            Overdraft::Unbounded => true,
        }
    }
}

/// What opens an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub subject: String,
    pub owner: String,
    pub kind: AccountKind,
    pub currency: Currency,
    pub overdraft: Overdraft,
}

impl NewAccount {
    pub fn customer(subject: &str, owner: &str, currency: Currency) -> Self {
        NewAccount {
            subject: subject.to_owned(),
            owner: owner.to_owned(),
            kind: AccountKind::Customer,
            currency,
            overdraft: Overdraft::None,
        }
    }
    pub fn internal(subject: &str, owner: &str, currency: Currency) -> Self {
        NewAccount {
            subject: subject.to_owned(),
            owner: owner.to_owned(),
            kind: AccountKind::Internal,
            currency,
            overdraft: Overdraft::Unbounded,
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: i64,
    pub account_no: String,
    pub subject: String,
    pub owner: String,
    pub sub_no: i64,
    pub parent_id: Option<i64>,
    pub split_count: i64,
    pub kind: AccountKind,
    pub currency: Currency,
    pub normal_side: Side,
    pub status: AccountStatus,
    pub overdraft: Overdraft,
    pub buffered: bool,
    pub debits: i64,
    pub credits: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
    pub version: i64,
    pub created_day: i64,
}

impl Account {
    /// Posted balance on the normal side (minor units, may be negative).
    pub fn balance_minor(&self) -> i128 {
        let (d, c) = (i128::from(self.debits), i128::from(self.credits));
        match self.normal_side {
            Side::Debit => d - c,
            Side::Credit => c - d,
        }
    }
    /// Held amounts that would lower the balance when captured.
    pub fn pending_decrease(&self) -> i128 {
        match self.normal_side {
            Side::Debit => i128::from(self.credits_pending),
            Side::Credit => i128::from(self.debits_pending),
        }
    }
    pub fn available_minor(&self) -> i128 {
        self.balance_minor() - self.pending_decrease()
    }
}

/// Balances of one account for its owner or an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub account_no: String,
    pub subject: String,
    pub status: AccountStatus,
    /// Applied to the balance.
    pub posted: Money,
    /// Held by pending holds (decrease side).
    pub pending: Money,
    /// posted − pending.
    pub available: Money,
    /// Buffered flows written but not yet summarized into `posted` (hot accounts).
    pub unapplied: Money,
    pub version: i64,
}

/// Which account a leg hits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountRef {
    Id(i64),
    No(String),
}

/// One line of a voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub account: AccountRef,
    pub side: Side,
    pub amount: Money,
}

impl Leg {
    pub fn debit(account: impl Into<AccountRef>, amount: Money) -> Leg {
        Leg {
            account: account.into(),
            side: Side::Debit,
            amount,
        }
    }
    pub fn credit(account: impl Into<AccountRef>, amount: Money) -> Leg {
        Leg {
            account: account.into(),
            side: Side::Credit,
            amount,
        }
    }
}

impl From<i64> for AccountRef {
    fn from(id: i64) -> Self {
        AccountRef::Id(id)
    }
}
impl From<&str> for AccountRef {
    fn from(no: &str) -> Self {
        AccountRef::No(no.to_owned())
    }
}
impl From<String> for AccountRef {
    fn from(no: String) -> Self {
        AccountRef::No(no)
    }
}

/// A voucher to post: balanced legs under a unique business id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    /// Unique business id: posting the same id again returns the first result.
    pub voucher_no: String,
    pub tx_code: String,
    /// The business object this voucher belongs to (payment id, payout id, …).
    pub biz_ref: String,
    pub legs: Vec<Leg>,
    /// The accounting day the caller means; `None` is the current one. Anything other than the
    /// current open day is refused.
    pub day: Option<i64>,
}

impl Voucher {
    pub fn new(voucher_no: &str, tx_code: &str, biz_ref: &str, legs: Vec<Leg>) -> Voucher {
        Voucher {
            voucher_no: voucher_no.to_owned(),
            tx_code: tx_code.to_owned(),
            biz_ref: biz_ref.to_owned(),
            legs,
            day: None,
        }
    }
}

/// A business event expanded into legs by its transaction code's posting rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessEvent {
    pub voucher_no: String,
    pub tx_code: String,
    pub biz_ref: String,
    pub amount: Money,
    pub fee: Option<Money>,
    /// Owners by role: `merchant`, `member`, `channel`, `bank`, …
    pub parties: std::collections::BTreeMap<String, String>,
}

impl BusinessEvent {
    pub fn new(voucher_no: &str, tx_code: &str, biz_ref: &str, amount: Money) -> Self {
        BusinessEvent {
            voucher_no: voucher_no.to_owned(),
            tx_code: tx_code.to_owned(),
            biz_ref: biz_ref.to_owned(),
            amount,
            fee: None,
            parties: Default::default(),
        }
    }
    pub fn fee(mut self, fee: Money) -> Self {
        self.fee = Some(fee);
        self
    }
    pub fn party(mut self, role: &str, owner: &str) -> Self {
        self.parties.insert(role.to_owned(), owner.to_owned());
        self
    }
}

/// A posted voucher as its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub voucher_no: String,
    pub voucher_id: i64,
    pub day: i64,
    /// True when this id had been posted before and this is the stored result.
    pub replayed: bool,
}

/// The outcome for one voucher of a batch: posted, or refused with the reason (stored, so
/// that a retry of a failed id gets the same refusal).
pub type PostResult = Result<Posted, PostError>;

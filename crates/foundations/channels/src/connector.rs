//! The channel gateway's one interface: every bank, wallet or carrier — sandbox or real — is a
//! [`Connector`]. The payment flow talks to channels only through this trait, so adding a
//! channel is writing one more implementation, never touching the flow.
//!
//! Rules every implementation keeps:
//! - The attempt id (32-digit business id of the channel attempt) is the channel's idempotency
//!   key: sending the same attempt twice never charges twice.
//! - Money-moving calls (`pay`, `refund`, `cancel`, `capture`, `payout`) never return a transport
//!   problem as `Err`: once the request may have reached the channel the answer is an
//!   `Unknown { reason }` outcome (the caller resolves it by querying later). `Err` from them
//!   means the channel certainly did nothing (bad request, unsupported, not configured).
//! - Read-only calls (`query`, `refund_query`, `settlement_file`, `balance`) return transport
//!   problems as `Err` ([`ChannelError::Timeout`], [`ChannelError::Transport`]); retry them.
//! - `Failed { safe_to_retry_elsewhere: true }` only when the channel certainly did not charge.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use paycore_kernel::product::Product;
use paycore_kernel::{BizId, Currency, Money};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a channel call produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The channel does not offer this operation (or product, or currency).
    #[error("operation not supported by channel: {0}")]
    Unsupported(String),
    /// Our request is wrong (missing payer phone, bad amount...): nothing was sent.
    #[error("invalid request to channel: {0}")]
    InvalidRequest(String),
    /// A message from the channel (answer or notification) does not carry a valid signature.
    #[error("channel signature does not verify")]
    BadSignature,
    /// A message from the channel cannot be parsed.
    #[error("malformed channel message: {0}")]
    Malformed(String),
    /// No answer in time (read-only calls only; money-moving calls answer `Unknown`).
    #[error("channel timed out")]
    Timeout,
    /// Connection or protocol failure (read-only calls only).
    #[error("channel transport error: {0}")]
    Transport(String),
    /// The channel answered with a business error to a read-only call.
    #[error("channel refused: {code}: {message}")]
    Refused { code: String, message: String },
    /// The connector is misconfigured or our side failed (database, crypto).
    #[error("channel connector internal error: {0}")]
    Internal(String),
}

impl ChannelError {
    /// True when the same call may succeed if simply repeated later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ChannelError::Timeout | ChannelError::Transport(_))
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

/// How the payer completes a payment on this channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    /// The answer to `pay` is final (quick-pay, carrier).
    Synchronous,
    /// The payer is redirected to the channel's page (net-bank).
    Redirect,
    /// The payer scans a QR code; results only by notification or query (wallets).
    QrCode,
}

/// What a channel offers. Build with `..Default::default()` so new fields do not break callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    #[serde(with = "crate::serde_util::products")]
    pub products: Vec<Product>,
    pub currencies: Vec<Currency>,
    pub interaction: Interaction,
    /// The channel sends async notifications to the `notify_url` of the request.
    pub async_notifications: bool,
    pub refund: bool,
    pub partial_refund: bool,
    pub cancel: bool,
    pub settlement_file: bool,
    pub balance: bool,
    pub agreement: bool,
    pub preauth: bool,
    pub payout: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            products: Vec::new(),
            currencies: Vec::new(),
            interaction: Interaction::Synchronous,
            async_notifications: false,
            refund: false,
            partial_refund: false,
            cancel: false,
            settlement_file: false,
            balance: false,
            agreement: false,
            preauth: false,
            payout: false,
        }
    }
}

impl Capabilities {
    pub fn supports(&self, product: Product, currency: Currency) -> bool {
        self.products.contains(&product) && self.currencies.contains(&currency)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Who pays, as far as the channel needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerInfo {
    /// Phone number (carrier billing; SMS for quick-pay).
    pub phone: Option<String>,
    /// Our member id, when the payer is a member.
    pub member_id: Option<String>,
    /// Card token of the vault (never a PAN).
    pub card_token: Option<String>,
    /// The channel's agreement number (agreement payments).
    pub agreement_no: Option<String>,
    pub client_ip: Option<String>,
}

/// One payment attempt on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayRequest {
    /// Our channel-attempt id: the channel's idempotency key.
    pub attempt_id: BizId,
    /// The merchant the money is for (channels show or report it as the sub-merchant).
    pub merchant_id: String,
    /// The platform's order this attempt is for (a payment's id), when there is one.
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(with = "crate::serde_util::product")]
    pub product: Product,
    pub amount: Money,
    pub subject: String,
    pub payer: PayerInfo,
    /// Where the channel sends the payer's browser back to (redirect channels).
    pub return_url: Option<String>,
    /// Where the channel POSTs its async notifications:
    /// `{platform_base}/channels/{channel}/notify`.
    pub notify_url: String,
    /// After this the channel refuses to take the payment.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expire_at: Option<OffsetDateTime>,
}

/// Asks the channel for the state of a payment attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRequest {
    pub attempt_id: BizId,
    /// The channel's own id when known (some channels query by it).
    pub channel_txn_id: Option<String>,
}

/// A (partial) refund of a successful payment attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// Our refund-attempt id: the channel's idempotency key for this refund.
    pub refund_attempt_id: BizId,
    /// The payment attempt being refunded.
    pub attempt_id: BizId,
    pub channel_txn_id: String,
    /// The amount to give back now.
    pub amount: Money,
    /// The original payment's amount.
    pub payment_amount: Money,
    pub reason: Option<String>,
    /// Where refund notifications go (channels with async refunds).
    pub notify_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQueryRequest {
    pub refund_attempt_id: BizId,
    pub attempt_id: BizId,
}

/// Cancel (撤销): reverses a successful payment in full on its day, or closes an unpaid one.
/// Either way the payer ends up not charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub attempt_id: BizId,
    pub channel_txn_id: Option<String>,
    pub amount: Money,
}

/// A message a channel sent us: an async notification (body) or a browser return (query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundNotification {
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The raw query string without `?` (empty when none).
    pub query: String,
}

impl InboundNotification {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/// What the payer must do to finish a pending payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextAction {
    Redirect {
        url: String,
    },
    QrCode {
        code: String,
    },
    /// The platform's cashier page, where the payer chooses how to pay.
    Cashier {
        url: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PayOutcome {
    Succeeded {
        channel_txn_id: String,
        amount: Money,
    },
    Failed {
        code: String,
        message: String,
        /// True only when the channel certainly did not charge (so another channel may try).
        safe_to_retry_elsewhere: bool,
    },
    /// Accepted; the result comes by notification, return or query.
    Pending {
        next_action: Option<NextAction>,
        channel_txn_id: Option<String>,
    },
    /// The request may have reached the channel and we do not know what it did.
    Unknown { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QueryOutcome {
    Succeeded {
        channel_txn_id: String,
        amount: Money,
        #[serde(with = "time::serde::rfc3339::option")]
        paid_at: Option<OffsetDateTime>,
    },
    Failed {
        code: String,
        message: String,
    },
    /// Known to the channel, not paid yet.
    Pending {
        channel_txn_id: Option<String>,
    },
    /// Closed unpaid, or reversed by `cancel`: the payer is not charged.
    Canceled {
        channel_txn_id: Option<String>,
    },
    /// The channel never saw this attempt.
    NotFound,
}

/// A synchronous charge (a bound card's quick pay) as its caller settles it: paid the amount
/// asked for, refused (certainly not charged), or not known yet (ask again later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    Paid { channel_txn_id: String },
    Refused { code: String, message: String },
    Open,
}

impl Charge {
    /// The answer to `pay`: unknown, pending, another amount or no answer is open.
    pub fn of_pay(answer: Result<PayOutcome, ChannelError>, asked: Money) -> Charge {
        match answer {
            Ok(PayOutcome::Succeeded {
                channel_txn_id,
                amount,
            }) if amount == asked => Charge::Paid { channel_txn_id },
            Ok(PayOutcome::Failed { code, message, .. }) => Charge::Refused { code, message },
            _ => Charge::Open,
        }
    }

    /// The answer to `query`: an attempt the channel never saw, or closed, charged nobody.
    pub fn of_query(answer: Result<QueryOutcome, ChannelError>, asked: Money) -> Charge {
        match answer {
            Ok(QueryOutcome::Succeeded {
                channel_txn_id,
                amount,
                ..
            }) if amount == asked => Charge::Paid { channel_txn_id },
            Ok(QueryOutcome::Failed { code, message }) => Charge::Refused { code, message },
            Ok(QueryOutcome::NotFound | QueryOutcome::Canceled { .. }) => Charge::Refused {
                code: "NOT_CHARGED".into(),
                message: "the bank did not charge the card".into(),
            },
            _ => Charge::Open,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RefundOutcome {
    Succeeded {
        channel_refund_id: String,
        amount: Money,
    },
    Failed {
        code: String,
        message: String,
    },
    Pending {
        channel_refund_id: Option<String>,
    },
    Unknown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RefundQueryOutcome {
    Succeeded {
        channel_refund_id: String,
        amount: Money,
    },
    Failed {
        code: String,
        message: String,
    },
    Pending {
        channel_refund_id: Option<String>,
    },
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CancelOutcome {
    Canceled { channel_txn_id: Option<String> },
    Failed { code: String, message: String },
    Unknown { reason: String },
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Payment,
    Refund,
}

/// The result a notification reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NotifiedResult {
    Succeeded,
    Failed { code: String, message: String },
    Canceled,
}

/// The answer the channel expects when we accepted a notification (each channel wants its own;
/// anything else, or a non-2xx status, makes it send again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationAck {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// A verified notification. Channels may send the same one several times, late or out of
/// order: the receiver applies it idempotently by `attempt_id` through its state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelNotification {
    pub channel: String,
    pub kind: NotificationKind,
    /// Payment: the payment attempt id. Refund: the refund attempt id.
    pub attempt_id: BizId,
    /// Refund notifications: the payment attempt refunded.
    pub payment_attempt_id: Option<BizId>,
    /// The channel's id of the payment (or of the refund).
    pub channel_txn_id: String,
    pub amount: Money,
    pub result: NotifiedResult,
    /// The channel's id of this notification (the same for duplicates).
    pub notify_id: String,
    pub occurred_at: OffsetDateTime,
    /// True when this came from a browser return rather than a server-to-server notification.
    pub from_return: bool,
    pub ack: NotificationAck,
}

// ---------------------------------------------------------------------------------------------
// Later-issue operations (agreements, pre-authorization, payouts): provisional shapes.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementSignRequest {
    pub agreement_attempt_id: BizId,
    pub payer: PayerInfo,
    /// The payer's confirmation code (SMS), when the channel needs one.
    pub verification_code: Option<String>,
    /// The card a quick-pay agreement is signed for (the bank needs its details). Never
    /// serialized: it reaches only the bank's own wire format.
    #[serde(skip)]
    pub card: Option<CardForBank>,
}

/// A card's details as a bank needs them to sign a quick-pay agreement. The number and the
/// security code are secrets: they print as `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardForBank {
    pub pan: paycore_kernel::Secret<String>,
    pub holder_name: String,
    /// `MM/YY`.
    pub expiry: String,
    pub cvv: Option<paycore_kernel::Secret<String>>,
    /// The phone the bank has for the card: its code goes there.
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AgreementOutcome {
    Signed {
        agreement_no: String,
    },
    /// The channel sent the payer a code; call again with `verification_code`.
    NeedsVerification,
    Failed {
        code: String,
        message: String,
    },
    Unknown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementUnsignRequest {
    pub agreement_no: String,
}

/// Capture (completion) or void of an authorization made by `authorize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRequest {
    pub capture_attempt_id: BizId,
    pub auth_attempt_id: BizId,
    pub channel_txn_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidRequest {
    pub auth_attempt_id: BizId,
    pub channel_txn_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRequest {
    pub payout_attempt_id: BizId,
    pub amount: Money,
    /// Beneficiary account number (a card token or bank account reference).
    pub account: String,
    pub account_name: String,
    pub notify_url: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------------------------

/// The `Failed` code of a call that certainly never reached the channel (connection refused,
/// request refused before processing): a technical failure, not a decline.
pub const CHANNEL_UNAVAILABLE: &str = "CHANNEL_UNAVAILABLE";

fn unsupported(op: &str) -> ChannelError {
    ChannelError::Unsupported(op.to_string())
}

#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// The channel's name, e.g. `sandbox-netbank`.
    fn code(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    async fn pay(&self, req: &PayRequest) -> Result<PayOutcome, ChannelError>;

    async fn query(&self, req: &QueryRequest) -> Result<QueryOutcome, ChannelError>;

    async fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, ChannelError>;

    async fn refund_query(
        &self,
        req: &RefundQueryRequest,
    ) -> Result<RefundQueryOutcome, ChannelError>;

    async fn cancel(&self, req: &CancelRequest) -> Result<CancelOutcome, ChannelError>;

    /// Verifies the channel's signature and reads a notification or browser return.
    /// A bad signature is [`ChannelError::BadSignature`]; anything unparsable is `Malformed`.
    async fn parse_notification(
        &self,
        msg: &InboundNotification,
    ) -> Result<ChannelNotification, ChannelError>;

    /// The channel's settlement file (CSV) for `day`, as the channel produces it.
    async fn settlement_file(&self, day: Date) -> Result<String, ChannelError>;

    /// What we hold at the channel (our provisions / receivable there).
    async fn balance(&self) -> Result<Money, ChannelError>;

    async fn sign_agreement(
        &self,
        _req: &AgreementSignRequest,
    ) -> Result<AgreementOutcome, ChannelError> {
        Err(unsupported("sign_agreement"))
    }

    async fn unsign_agreement(&self, _req: &AgreementUnsignRequest) -> Result<(), ChannelError> {
        Err(unsupported("unsign_agreement"))
    }

    /// Pre-authorization: holds `amount` on the payer's instrument.
    async fn authorize(&self, _req: &PayRequest) -> Result<PayOutcome, ChannelError> {
        Err(unsupported("authorize"))
    }

    async fn capture(&self, _req: &CaptureRequest) -> Result<PayOutcome, ChannelError> {
        Err(unsupported("capture"))
    }

    async fn void(&self, _req: &VoidRequest) -> Result<CancelOutcome, ChannelError> {
        Err(unsupported("void"))
    }

    async fn payout(&self, _req: &PayoutRequest) -> Result<PayOutcome, ChannelError> {
        Err(unsupported("payout"))
    }
}

impl fmt::Debug for dyn Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connector({})", self.code())
    }
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

/// Channel name → connector. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct ChannelRegistry {
    connectors: BTreeMap<String, Arc<dyn Connector>>,
}

impl ChannelRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_connectors(connectors: impl IntoIterator<Item = Arc<dyn Connector>>) -> Self {
        let mut r = Self::new();
        for c in connectors {
            r.insert(c);
        }
        r
    }

    /// Adds (or replaces) the connector under its `code()`.
    pub fn insert(&mut self, connector: Arc<dyn Connector>) {
        self.connectors
            .insert(connector.code().to_string(), connector);
    }

    pub fn get(&self, channel: &str) -> Option<Arc<dyn Connector>> {
        self.connectors.get(channel).cloned()
    }

    /// Channel names in sorted order.
    pub fn codes(&self) -> Vec<String> {
        self.connectors.keys().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.connectors.values()
    }
}

/// `{platform_base}/channels/{channel}/notify`: where a channel posts its notifications.
pub fn notify_url(platform_base: &str, channel: &str) -> String {
    format!(
        "{}/channels/{channel}/notify",
        platform_base.trim_end_matches('/')
    )
}

#[cfg(test)]
mod charge_tests {
    use super::*;

    #[test]
    fn only_the_amount_asked_for_is_paid_and_only_certain_refusals_refuse() {
        let cny = |m| Money::from_minor(m, Currency::CNY);
        let paid = |m| {
            Ok(PayOutcome::Succeeded {
                channel_txn_id: "T1".into(),
                amount: cny(m),
            })
        };
        assert_eq!(
            Charge::of_pay(paid(100), cny(100)),
            Charge::Paid {
                channel_txn_id: "T1".into()
            }
        );
        assert_eq!(Charge::of_pay(paid(99), cny(100)), Charge::Open);
        assert_eq!(
            Charge::of_pay(Err(ChannelError::Timeout), cny(100)),
            Charge::Open
        );
        let unknown = Ok(PayOutcome::Unknown { reason: "t".into() });
        assert_eq!(Charge::of_pay(unknown, cny(100)), Charge::Open);
        assert!(matches!(
            Charge::of_query(Ok(QueryOutcome::NotFound), cny(100)),
            Charge::Refused { .. }
        ));
        let pending = Ok(QueryOutcome::Pending {
            channel_txn_id: None,
        });
        assert_eq!(Charge::of_query(pending, cny(100)), Charge::Open);
    }
}

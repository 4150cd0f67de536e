//! The state machines of payments, channel attempts and refunds, declared as tables, and where
//! their rows live. Statuses move only through the store's executor.

use paycore_kernel::named;
use paycore_kernel::state::StateMachine;
use paycore_store::state::{Stored, Table};

/// The payment states of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Waiting for the payer (redirect page, QR code).
    Created,
    /// Sent to a channel, result not known yet.
    Processing,
    Succeeded,
    Failed,
    /// Ended unpaid (closed by the merchant or expired).
    Closed,
    /// Reversed in full on its accounting day (撤销).
    Canceled,
}
named!(PaymentStatus { Created => "created", Processing => "processing",
    Succeeded => "succeeded", Failed => "failed", Closed => "closed", Canceled => "canceled" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The channel's answer is not known (timeout): query back.
    ResultUnknown,
    ChannelSucceeded,
    ChannelFailed,
    /// Closed by the merchant, by expiry, or because the channel closed it.
    Close,
    /// The cancel's money came back from the channel.
    Cancel,
}
named!(PaymentEvent { ResultUnknown => "result_unknown", ChannelSucceeded => "channel_succeeded",
    ChannelFailed => "channel_failed", Close => "close", Cancel => "cancel" });

impl StateMachine for PaymentStatus {
    type Event = PaymentEvent;
    const INITIAL: &'static [Self] = &[PaymentStatus::Created];
    const TRANSITIONS: &'static [(Self, PaymentEvent, Self)] = &[
        (
            PaymentStatus::Created,
            PaymentEvent::ResultUnknown,
            PaymentStatus::Processing,
        ),
        (
            PaymentStatus::Created,
            PaymentEvent::ChannelSucceeded,
            PaymentStatus::Succeeded,
        ),
        (
            PaymentStatus::Created,
            PaymentEvent::ChannelFailed,
            PaymentStatus::Failed,
        ),
        (
            PaymentStatus::Created,
            PaymentEvent::Close,
            PaymentStatus::Closed,
        ),
        (
            PaymentStatus::Processing,
            PaymentEvent::ChannelSucceeded,
            PaymentStatus::Succeeded,
        ),
        (
            PaymentStatus::Processing,
            PaymentEvent::ChannelFailed,
            PaymentStatus::Failed,
        ),
        (
            PaymentStatus::Processing,
            PaymentEvent::Close,
            PaymentStatus::Closed,
        ),
        (
            PaymentStatus::Succeeded,
            PaymentEvent::Cancel,
            PaymentStatus::Canceled,
        ),
    ];
}

impl Stored for PaymentStatus {
    const TABLE: Table = Table {
        machine: "payment",
        table: "payments",
        key: "payment_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "payment_history",
        history_key: "payment_id",
    };
}

/// An attempt at one channel: a payment's, a refund's or a cancel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    Created,
    /// Accepted by the channel, waiting for the payer or the channel.
    Pending,
    /// We do not know what the channel did (timeout): queried back until final.
    Unknown,
    Succeeded,
    Failed,
    /// The channel closed or reversed it: nobody is charged by it.
    Canceled,
}
named!(AttemptStatus { Created => "created", Pending => "pending", Unknown => "unknown",
    Succeeded => "succeeded", Failed => "failed", Canceled => "canceled" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEvent {
    Accepted,
    Unknown,
    Succeeded,
    Failed,
    Canceled,
}
named!(AttemptEvent { Accepted => "accepted", Unknown => "unknown", Succeeded => "succeeded",
    Failed => "failed", Canceled => "canceled" });

impl StateMachine for AttemptStatus {
    type Event = AttemptEvent;
    const INITIAL: &'static [Self] = &[AttemptStatus::Created];
    const TRANSITIONS: &'static [(Self, AttemptEvent, Self)] = &[
        (
            AttemptStatus::Created,
            AttemptEvent::Accepted,
            AttemptStatus::Pending,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Unknown,
            AttemptStatus::Unknown,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Failed,
            AttemptStatus::Failed,
        ),
        (
            AttemptStatus::Created,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Unknown,
            AttemptStatus::Unknown,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Failed,
            AttemptStatus::Failed,
        ),
        (
            AttemptStatus::Pending,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Accepted,
            AttemptStatus::Pending,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Failed,
            AttemptStatus::Failed,
        ),
        (
            AttemptStatus::Unknown,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ),
        // The channel charged after all (a query confirms it first): the attempt records the
        // truth, and the payment flow refunds the charge automatically.
        (
            AttemptStatus::Failed,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        (
            AttemptStatus::Canceled,
            AttemptEvent::Succeeded,
            AttemptStatus::Succeeded,
        ),
        // The channel reversed a charge that came after the payment had ended unpaid (a close
        // it applied as a cancel): the money went back to the payer.
        (
            AttemptStatus::Succeeded,
            AttemptEvent::Canceled,
            AttemptStatus::Canceled,
        ),
    ];
}

impl Stored for AttemptStatus {
    const TABLE: Table = Table {
        machine: "channel attempt",
        table: "channel_attempts",
        key: "attempt_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "channel_attempt_history",
        history_key: "attempt_id",
    };
}

impl AttemptStatus {
    /// No channel answer changes it any more, except the reversals declared above.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            AttemptStatus::Succeeded | AttemptStatus::Failed | AttemptStatus::Canceled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    Processing,
    Succeeded,
    Failed,
}
named!(RefundStatus { Processing => "processing", Succeeded => "succeeded", Failed => "failed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEvent {
    ChannelSucceeded,
    ChannelFailed,
}
named!(RefundEvent { ChannelSucceeded => "channel_succeeded", ChannelFailed => "channel_failed" });

impl StateMachine for RefundStatus {
    type Event = RefundEvent;
    const INITIAL: &'static [Self] = &[RefundStatus::Processing];
    const TRANSITIONS: &'static [(Self, RefundEvent, Self)] = &[
        (
            RefundStatus::Processing,
            RefundEvent::ChannelSucceeded,
            RefundStatus::Succeeded,
        ),
        (
            RefundStatus::Processing,
            RefundEvent::ChannelFailed,
            RefundStatus::Failed,
        ),
    ];
}

impl Stored for RefundStatus {
    const TABLE: Table = Table {
        machine: "refund",
        table: "refunds",
        key: "refund_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "refund_history",
        history_key: "refund_id",
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unpaid_payments_close_and_only_paid_ones_cancel() {
        assert_eq!(
            PaymentStatus::Created.next(PaymentEvent::Close),
            Some(PaymentStatus::Closed)
        );
        assert_eq!(PaymentStatus::Succeeded.next(PaymentEvent::Close), None);
        assert_eq!(PaymentStatus::Created.next(PaymentEvent::Cancel), None);
        for s in [
            PaymentStatus::Failed,
            PaymentStatus::Closed,
            PaymentStatus::Canceled,
        ] {
            assert!(s.is_final(), "{s:?}");
        }
        assert_eq!(
            AttemptStatus::Unknown.next(AttemptEvent::Succeeded),
            Some(AttemptStatus::Succeeded)
        );
    }
}

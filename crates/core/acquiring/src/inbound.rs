//! Messages from channels: async notifications and the payer's browser returns. Verified by the
//! channel's connector, then applied through the attempts' transition functions; a message that
//! cannot be applied is an alert, never silently dropped.

use paycore_channels::{
    ChannelError, InboundNotification, NotificationAck, NotificationKind, NotifiedResult,
};

use crate::alerts::AlertKind;
use crate::channel::ChannelResult;
use crate::error::AcquiringError;
use crate::model::{Payment, ResultSource};
use crate::refund::RefundResult;
use crate::Acquiring;

impl Acquiring {
    /// Applies a channel's message. Returns the acknowledgement the channel expects and, for a
    /// payment's message, the payment.
    pub async fn channel_message(
        &self,
        channel: &str,
        msg: &InboundNotification,
    ) -> Result<(NotificationAck, Option<Payment>), AcquiringError> {
        let connector = self.channels.get(channel).ok_or(AcquiringError::NotFound)?;
        let n = match connector.parse_notification(msg).await {
            Ok(n) => n,
            Err(e) => {
                let kind = if e == ChannelError::BadSignature {
                    AlertKind::BadSignature
                } else {
                    AlertKind::Malformed
                };
                self.refused_message(channel, kind, &e.to_string()).await?;
                return Err(AcquiringError::ChannelMessage(e.to_string()));
            }
        };
        let source = if n.from_return {
            ResultSource::Return
        } else {
            ResultSource::Notify
        };
        let attempt_id = n.attempt_id.to_string();
        let is_payment = matches!(n.kind, NotificationKind::Payment);
        let applied = match n.kind {
            NotificationKind::Payment => {
                let result = match n.result.clone() {
                    NotifiedResult::Succeeded => ChannelResult::Succeeded {
                        channel_txn_id: n.channel_txn_id.clone(),
                        amount: n.amount,
                    },
                    NotifiedResult::Failed { code, message } => {
                        ChannelResult::Failed { code, message }
                    }
                    NotifiedResult::Canceled => ChannelResult::Canceled,
                };
                self.apply_payment_result_from(Some(channel), &attempt_id, result, source)
                    .await
                    .map(Some)
            }
            NotificationKind::Refund => {
                let result = match n.result.clone() {
                    NotifiedResult::Succeeded => RefundResult::Succeeded {
                        channel_refund_id: n.channel_txn_id.clone(),
                        amount: n.amount,
                    },
                    NotifiedResult::Failed { code, message } => {
                        RefundResult::Failed { code, message }
                    }
                    NotifiedResult::Canceled => RefundResult::Failed {
                        code: "CANCELED".into(),
                        message: "refund canceled by the channel".into(),
                    },
                };
                self.apply_refund_result_from(Some(channel), &attempt_id, result, source)
                    .await
                    .map(|_| None)
            }
        };
        match applied {
            Ok(payment) => Ok((n.ack, payment)),
            // A channel speaks only of its own attempts: its key vouches for its messages, not
            // for another channel's payments.
            Err(AcquiringError::WrongChannel { carried_by }) => {
                let detail = format!("a result for an attempt of {carried_by}");
                self.alert(channel, AlertKind::WrongChannel, Some(&attempt_id), &detail)
                    .await?;
                Err(AcquiringError::ChannelMessage(
                    "the attempt is not this channel's".into(),
                ))
            }
            Err(AcquiringError::NotFound) if is_payment => {
                self.alert(
                    channel,
                    AlertKind::UnknownAttempt,
                    Some(&attempt_id),
                    "notification for an attempt we never made",
                )
                .await?;
                Err(AcquiringError::ChannelMessage("unknown attempt".into()))
            }
            Err(e) => Err(e),
        }
    }
}

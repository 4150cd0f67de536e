//! Step 5: calling a channel through its connector, and what the answers mean for our attempts.
//! Every call waits until the attempt it is about is on disk, so a crash can never leave a
//! channel charging for an attempt we do not know.

use std::time::Instant;

use paycore_channels::routing::Outcome as RouteOutcome;
use paycore_channels::{
    CancelOutcome, CancelRequest, PayOutcome, PayRequest, PayerInfo, RefundOutcome,
    RefundQueryOutcome, RefundRequest,
};
use paycore_kernel::{BizId, Money};

use crate::alerts::AlertKind;
use crate::error::AcquiringError;
use crate::machines::AttemptEvent;
use crate::model::{Attempt, NextAction, Payment, Refund};
use crate::Acquiring;

/// A channel's word on a payment attempt, from whichever source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelResult {
    Succeeded {
        channel_txn_id: String,
        amount: Money,
    },
    Failed {
        code: String,
        message: String,
    },
    Pending {
        next_action: Option<NextAction>,
        channel_txn_id: Option<String>,
    },
    Unknown {
        reason: String,
    },
    /// Closed or reversed at the channel: nobody is charged.
    Canceled,
}

impl ChannelResult {
    pub(crate) fn event(&self) -> AttemptEvent {
        match self {
            ChannelResult::Succeeded { .. } => AttemptEvent::Succeeded,
            ChannelResult::Failed { .. } => AttemptEvent::Failed,
            ChannelResult::Pending { .. } => AttemptEvent::Accepted,
            ChannelResult::Unknown { .. } => AttemptEvent::Unknown,
            ChannelResult::Canceled => AttemptEvent::Canceled,
        }
    }

    /// The result, and whether a failure certainly charged nobody (another channel may try).
    pub(crate) fn from_pay(o: PayOutcome) -> (Self, bool) {
        match o {
            PayOutcome::Succeeded {
                channel_txn_id,
                amount,
            } => (
                ChannelResult::Succeeded {
                    channel_txn_id,
                    amount,
                },
                false,
            ),
            PayOutcome::Failed {
                code,
                message,
                safe_to_retry_elsewhere,
            } => (
                ChannelResult::Failed { code, message },
                safe_to_retry_elsewhere,
            ),
            PayOutcome::Pending {
                next_action,
                channel_txn_id,
            } => (
                ChannelResult::Pending {
                    next_action: next_action.map(|a| match a {
                        paycore_channels::NextAction::Redirect { url } => {
                            NextAction::Redirect { url }
                        }
                        paycore_channels::NextAction::QrCode { code } => {
                            NextAction::QrCode { code }
                        }
                        paycore_channels::NextAction::Cashier { url } => {
                            NextAction::Cashier { url }
                        }
                    }),
                    channel_txn_id,
                },
                false,
            ),
            PayOutcome::Unknown { reason } => (ChannelResult::Unknown { reason }, false),
        }
    }

    /// The payment attempt's error to record, if any.
    pub(crate) fn error(&self) -> Option<(&str, &str)> {
        match self {
            ChannelResult::Failed { code, message } => Some((code.as_str(), message.as_str())),
            ChannelResult::Unknown { reason } => Some(("UNKNOWN", reason.as_str())),
            _ => None,
        }
    }

    pub(crate) fn channel_txn_id(&self) -> Option<&str> {
        match self {
            ChannelResult::Succeeded { channel_txn_id, .. } => Some(channel_txn_id),
            ChannelResult::Pending { channel_txn_id, .. } => channel_txn_id.as_deref(),
            _ => None,
        }
    }
}

/// A channel's word on a refund (or cancel) attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundResult {
    Succeeded {
        channel_refund_id: String,
        amount: Money,
    },
    Failed {
        code: String,
        message: String,
    },
    /// Not final yet (accepted, or unknown): queried back.
    Pending,
    /// The charge it gives back was reversed at the channel (a close applied as a cancel):
    /// the money is back with the payer without this refund.
    Reversed {
        channel_txn_id: Option<String>,
    },
}

impl RefundResult {
    pub(crate) fn from_outcome(o: RefundOutcome) -> Self {
        match o {
            RefundOutcome::Succeeded {
                channel_refund_id,
                amount,
            } => RefundResult::Succeeded {
                channel_refund_id,
                amount,
            },
            RefundOutcome::Failed { code, message } => RefundResult::Failed { code, message },
            RefundOutcome::Pending { .. } | RefundOutcome::Unknown { .. } => RefundResult::Pending,
        }
    }

    /// A refund query's answer; `None` when the channel never saw the refund.
    pub(crate) fn from_query(o: RefundQueryOutcome) -> Option<Self> {
        Some(match o {
            RefundQueryOutcome::Succeeded {
                channel_refund_id,
                amount,
            } => RefundResult::Succeeded {
                channel_refund_id,
                amount,
            },
            RefundQueryOutcome::Failed { code, message } => RefundResult::Failed { code, message },
            RefundQueryOutcome::Pending { .. } => RefundResult::Pending,
            RefundQueryOutcome::NotFound => return None,
        })
    }
}

/// The payment attempt whose charge a refund gives back.
fn charged_id<'a>(refund: &'a Refund, payment: &'a Payment) -> Result<&'a str, AcquiringError> {
    refund
        .payment_attempt_id
        .as_deref()
        .or(payment.attempt_id.as_deref())
        .ok_or_else(|| {
            AcquiringError::Corrupt(format!("refund {} has no attempt", refund.refund_id))
        })
}

pub(crate) fn biz_id(s: &str) -> Result<BizId, AcquiringError> {
    s.parse()
        .map_err(|_| AcquiringError::Corrupt(format!("business id {s:?}")))
}

fn payer_info(payment: &Payment) -> PayerInfo {
    let field = |k: &str| {
        payment
            .payer
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    PayerInfo {
        phone: field("phone"),
        member_id: field("member_id"),
        client_ip: field("client_ip"),
        ..PayerInfo::default()
    }
}

impl Acquiring {
    /// Asks `channel` to take `payment` under `attempt`. A failure that certainly charged
    /// nobody comes back with `true` (another channel may try).
    pub(crate) async fn call_pay(
        &self,
        payment: &Payment,
        attempt: &BizId,
        channel: &str,
    ) -> (ChannelResult, bool) {
        let unavailable = |message: String| {
            (
                ChannelResult::Failed {
                    code: "CHANNEL_UNAVAILABLE".into(),
                    message,
                },
                true,
            )
        };
        let Some(connector) = self.channels.get(channel) else {
            return unavailable(format!("no connector for {channel}"));
        };
        let req = PayRequest {
            attempt_id: *attempt,
            merchant_id: payment.merchant_id.clone(),
            order_id: Some(payment.payment_id.clone()),
            product: payment.product,
            amount: payment.amount,
            subject: payment.subject.clone(),
            payer: payer_info(payment),
            return_url: Some(format!(
                "{}/channels/{channel}/return",
                self.config.platform_base_url
            )),
            notify_url: paycore_channels::notify_url(&self.config.platform_base_url, channel),
            expire_at: time::OffsetDateTime::from_unix_timestamp(payment.expire_at / 1000).ok(),
        };
        if let Err(e) = self.db.durable().await {
            return unavailable(format!("not sent: {e}"));
        }
        let started = Instant::now();
        let Some(outcome) = self.unless_stopping(connector.pay(&req)).await else {
            // The request may have reached the channel: unknown, like a timeout (not counted
            // against the channel's health).
            let reason = "the platform stopped before the channel answered".to_string();
            return (ChannelResult::Unknown { reason }, false);
        };
        let latency = started.elapsed();
        let code = match &outcome {
            Ok(PayOutcome::Succeeded { .. }) => "SUCCEEDED",
            Ok(PayOutcome::Pending { .. }) => "PENDING",
            Ok(PayOutcome::Unknown { .. }) => "UNKNOWN",
            Ok(PayOutcome::Failed { code, .. }) => code.as_str(),
            Err(_) => "NOT_SENT",
        };
        tracing::info!(target: "digest.biz", biz = "payment", step = "5.call_channel", channel,
            code, latency_ms = latency.as_millis() as u64, payment_id = %payment.payment_id,
            attempt_id = %attempt, amount = payment.amount.minor(),
            currency = payment.amount.currency().code());
        let (health, answer) = match outcome {
            Ok(o) => (
                paycore_channels::routing::outcome_of(&o),
                ChannelResult::from_pay(o),
            ),
            // `Err` from a money-moving call: the channel certainly did nothing.
            Err(e) => (RouteOutcome::Failure, unavailable(e.to_string())),
        };
        self.router.record_outcome(channel, health, latency);
        answer
    }

    /// Asks the refund's channel to give back the charge of its payment attempt. Anything but
    /// a final answer is `Pending`: the query-back asks again.
    pub(crate) async fn call_refund(
        &self,
        refund: &Refund,
        attempt: &Attempt,
        payment: &Payment,
    ) -> Result<RefundResult, AcquiringError> {
        let Some(connector) = self.connector_or_alert(attempt).await? else {
            return Ok(RefundResult::Pending);
        };
        let charged = self.charged_attempt(refund, payment).await?;
        let req = RefundRequest {
            refund_attempt_id: biz_id(&attempt.attempt_id)?,
            attempt_id: biz_id(&charged.attempt_id)?,
            channel_txn_id: charged.channel_txn_id.clone().unwrap_or_default(),
            amount: refund.amount,
            payment_amount: charged.amount,
            reason: refund.reason.clone(),
            notify_url: Some(paycore_channels::notify_url(
                &self.config.platform_base_url,
                &attempt.channel,
            )),
        };
        if self.db.durable().await.is_err() {
            return Ok(RefundResult::Pending);
        }
        let Some(outcome) = self.unless_stopping(connector.refund(&req)).await else {
            return Ok(RefundResult::Pending);
        };
        Ok(match outcome {
            Ok(o) => RefundResult::from_outcome(o),
            // Nothing was sent: the job asks again later.
            Err(e) => {
                tracing::warn!(target: "detail", attempt_id = %attempt.attempt_id, error = %e,
                    "refund not sent; the query-back sends it again");
                RefundResult::Pending
            }
        })
    }

    /// A cancel's channel call: the channel's own cancel (撤销) where it has one, otherwise a
    /// full refund under the cancel's attempt.
    pub(crate) async fn call_cancel(
        &self,
        refund: &Refund,
        attempt: &Attempt,
        payment: &Payment,
    ) -> Result<RefundResult, AcquiringError> {
        let Some(connector) = self.connector_or_alert(attempt).await? else {
            return Ok(RefundResult::Pending);
        };
        if !connector.capabilities().cancel {
            return self.call_refund(refund, attempt, payment).await;
        }
        let charged = self.charged_attempt(refund, payment).await?;
        if self.db.durable().await.is_err() {
            return Ok(RefundResult::Pending);
        }
        let req = CancelRequest {
            attempt_id: biz_id(&charged.attempt_id)?,
            channel_txn_id: charged.channel_txn_id.clone(),
            amount: charged.amount,
        };
        let Some(outcome) = self.unless_stopping(connector.cancel(&req)).await else {
            return Ok(RefundResult::Pending);
        };
        Ok(match outcome {
            Ok(CancelOutcome::Canceled { channel_txn_id }) => RefundResult::Succeeded {
                channel_refund_id: channel_txn_id.unwrap_or_else(|| charged.attempt_id.clone()),
                amount: refund.amount,
            },
            Ok(CancelOutcome::Failed { code, message }) => RefundResult::Failed { code, message },
            Ok(CancelOutcome::Unknown { .. }) => RefundResult::Pending,
            Err(e) => {
                tracing::warn!(target: "detail", attempt_id = %attempt.attempt_id, error = %e,
                    "cancel not sent; the query-back sends it again");
                RefundResult::Pending
            }
        })
    }

    /// `call`, unless the platform stops first (`None`; see [`Acquiring::stop_waiting`]).
    async fn unless_stopping<T>(&self, call: impl std::future::Future<Output = T>) -> Option<T> {
        let mut stopping = self.stopping.subscribe();
        tokio::select! {
            biased;
            r = call => Some(r),
            _ = stopping.wait_for(|s| *s) => None,
        }
    }

    /// The payment attempt whose charge a refund gives back.
    pub(crate) async fn charged_attempt(
        &self,
        refund: &Refund,
        payment: &Payment,
    ) -> Result<Attempt, AcquiringError> {
        self.attempt_now(charged_id(refund, payment)?).await
    }

    /// [`Acquiring::charged_attempt`] inside a unit of work.
    pub(crate) async fn charged_attempt_in(
        &self,
        tx: &mut dyn paycore_store::Conn,
        refund: &Refund,
        payment: &Payment,
    ) -> Result<Attempt, AcquiringError> {
        self.attempt_in(tx, charged_id(refund, payment)?).await
    }

    /// The attempt's connector; a missing one is told (an alert), and `None` keeps the attempt
    /// waiting for its channel to be configured again.
    pub(crate) async fn connector_or_alert(
        &self,
        attempt: &Attempt,
    ) -> Result<Option<std::sync::Arc<dyn paycore_channels::Connector>>, AcquiringError> {
        match self.channels.get(&attempt.channel) {
            Some(c) => Ok(Some(c)),
            None => {
                self.alert(
                    &attempt.channel,
                    AlertKind::NoConnector,
                    Some(&attempt.attempt_id),
                    "no connector is configured for this channel; the attempt waits for it",
                )
                .await?;
                Ok(None)
            }
        }
    }
}

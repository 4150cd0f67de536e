//! The wallet channel: how acquiring sees the cashier. It keeps the connector contract like any
//! bank: the attempt id is the key, a payment nobody has chosen instruments for yet is pending
//! with the cashier as its next action, a plan's result is the payment's result, and calls
//! that move money answer `Unknown` rather than an error once something may have moved.

use paycore_channels::{
    CancelOutcome, CancelRequest, Capabilities, ChannelError, ChannelNotification,
    InboundNotification, Interaction, NextAction, PayOutcome, PayRequest, QueryOutcome,
    QueryRequest, RefundOutcome, RefundQueryOutcome, RefundQueryRequest, RefundRequest,
};
use paycore_kernel::product::Product;
use paycore_kernel::{Currency, Money};
use time::Date;

use crate::model::PlanStatus;
use crate::{Cashier, CashierError};
use paycore_kernel::state::Named;

/// The wallet channel's code (and the owner of its clearing account, 112201).
pub const WALLET_CHANNEL: &str = "wallet";

pub(crate) struct WalletChannel(pub(crate) Cashier);

/// What a plan means for its payment attempt.
enum Word {
    NotChosen,
    Paid { plan_id: String, amount: Money },
    Open,
    Failed { code: String, message: String },
}

impl Cashier {
    /// The attempt's plan (its status only: one read), its card part asked about again when
    /// its result is not known.
    async fn word(&self, attempt_id: &str) -> Result<Word, CashierError> {
        let row = self
            .0
            .db
            .read_optional(
                "SELECT plan_id, status, amount, currency, fail_code, fail_message
                 FROM cashier_plans WHERE live_attempt = $1",
                &[attempt_id.into()],
            )
            .await?;
        let Some(r) = row else {
            return Ok(Word::NotChosen);
        };
        let corrupt = |w: &str| CashierError::Corrupt(w.to_string());
        let mut status = PlanStatus::parse(&r.text("status")?).ok_or_else(|| corrupt("status"))?;
        let (mut code, mut message) = (r.opt_text("fail_code")?, r.opt_text("fail_message")?);
        if status == PlanStatus::Unknown {
            let plan = self
                .query_card(&self.plan(&r.text("plan_id")?).await?)
                .await?;
            (status, code, message) = (plan.status, plan.fail_code, plan.fail_message);
        }
        let currency =
            Currency::from_code(&r.text("currency")?).map_err(|_| corrupt("currency"))?;
        Ok(match status {
            PlanStatus::Succeeded => Word::Paid {
                plan_id: r.text("plan_id")?,
                amount: Money::from_minor(r.int("amount")?, currency),
            },
            PlanStatus::Executing | PlanStatus::Unknown => Word::Open,
            // A plan that failed is no longer live; a closed one never paid.
            PlanStatus::Failed | PlanStatus::Closed => Word::Failed {
                code: code.unwrap_or_else(|| "NOT_PAID".into()),
                message: message.unwrap_or_default(),
            },
        })
    }
}

fn unsupported(what: &str) -> ChannelError {
    ChannelError::Unsupported(format!("the wallet channel has no {what}"))
}

#[async_trait::async_trait]
impl paycore_channels::Connector for WalletChannel {
    fn code(&self) -> &str {
        WALLET_CHANNEL
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            products: vec![
                Product::Cashier,
                Product::Balance,
                Product::VirtualCoin,
                Product::Credit,
                Product::QuickPay,
            ],
            currencies: vec![Currency::CNY],
            interaction: Interaction::Redirect,
            refund: true,
            partial_refund: true,
            ..Capabilities::default()
        }
    }

    async fn pay(&self, req: &PayRequest) -> Result<PayOutcome, ChannelError> {
        Ok(match self.0.word(&req.attempt_id.to_string()).await {
            Ok(Word::NotChosen) => {
                // The payer chooses on the cashier page (or through the member API).
                let url = self
                    .0
                    .cashier_url(req.order_id.as_deref().unwrap_or_default());
                PayOutcome::Pending {
                    next_action: Some(NextAction::Cashier { url }),
                    channel_txn_id: None,
                }
            }
            Ok(Word::Paid { plan_id, amount }) => PayOutcome::Succeeded {
                channel_txn_id: plan_id,
                amount,
            },
            Ok(Word::Failed { code, message }) => PayOutcome::Failed {
                code,
                message,
                safe_to_retry_elsewhere: false,
            },
            Ok(Word::Open) => PayOutcome::Unknown {
                reason: "the card part is with the bank".into(),
            },
            Err(e) => PayOutcome::Unknown {
                reason: e.to_string(),
            },
        })
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryOutcome, ChannelError> {
        let word = self
            .0
            .word(&req.attempt_id.to_string())
            .await
            .map_err(|e| ChannelError::Transport(e.to_string()))?;
        Ok(match word {
            Word::NotChosen | Word::Open => QueryOutcome::Pending {
                channel_txn_id: None,
            },
            Word::Paid { plan_id, amount } => QueryOutcome::Succeeded {
                channel_txn_id: plan_id,
                amount,
                paid_at: None,
            },
            Word::Failed { code, message } => QueryOutcome::Failed { code, message },
        })
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, ChannelError> {
        Ok(self
            .0
            .refund(req)
            .await
            .unwrap_or_else(|e| RefundOutcome::Unknown {
                reason: e.to_string(),
            }))
    }

    async fn refund_query(
        &self,
        req: &RefundQueryRequest,
    ) -> Result<RefundQueryOutcome, ChannelError> {
        self.0
            .refund_query(req)
            .await
            .map_err(|e| ChannelError::Transport(e.to_string()))
    }

    /// Closing an unpaid payment: with no plan nothing was taken. A plan that paid (or may
    /// have) is not closed here: its success reaches acquiring, which gives it back as a late
    /// charge.
    async fn cancel(&self, req: &CancelRequest) -> Result<CancelOutcome, ChannelError> {
        Ok(match self.0.word(&req.attempt_id.to_string()).await {
            Ok(Word::NotChosen | Word::Failed { .. }) => CancelOutcome::Canceled {
                channel_txn_id: None,
            },
            Ok(Word::Paid { .. }) => CancelOutcome::Failed {
                code: "PAID".into(),
                message: "the payer paid this attempt; it is given back as a refund".into(),
            },
            Ok(Word::Open) => CancelOutcome::Unknown {
                reason: "the card part is with the bank".into(),
            },
            Err(e) => CancelOutcome::Unknown {
                reason: e.to_string(),
            },
        })
    }

    async fn parse_notification(
        &self,
        _msg: &InboundNotification,
    ) -> Result<ChannelNotification, ChannelError> {
        Err(unsupported("notifications"))
    }

    async fn settlement_file(&self, _day: Date) -> Result<String, ChannelError> {
        Err(unsupported(
            "settlement file: it is the platform's own books",
        ))
    }

    async fn balance(&self) -> Result<Money, ChannelError> {
        Err(unsupported("balance"))
    }
}

/// What paid a wallet payment, for acquiring to show with it: the parts of the plan the
/// channel's transaction id names.
impl paycore_acquiring::PaidWith for Cashier {
    fn paid_with<'a>(
        &'a self,
        conn: &'a mut dyn paycore_store::Conn,
        channel_txn_id: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<Option<serde_json::Value>, paycore_acquiring::AcquiringError>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            let plan = self
                .plan_where_in(conn, "plan_id = $1", &[channel_txn_id.into()])
                .await
                .map_err(|e| paycore_acquiring::AcquiringError::Internal(e.to_string()))?;
            Ok(plan.map(|p| crate::model::instruments_json(&p)))
        })
    }
}

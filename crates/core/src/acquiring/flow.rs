//! The payment flow: create (the 7 steps), the one transition function for channel results,
//! close and cancel, and channel messages (notifications and browser returns).

use std::time::Instant;

use paycore_channels::routing::{Outcome as RouteOutcome, RouteContext};
use paycore_channels::{
    CancelOutcome, CancelRequest, InboundNotification, NotificationKind, NotifiedResult,
    PayOutcome, PayRequest, PayerInfo,
};
use paycore_kernel::crypto::sha256_hex;
use paycore_kernel::state::StateMachine;
use paycore_kernel::{BizId, BizType, Money};
use paycore_ledger::BusinessEvent;
use paycore_store::{jobs, Engine, Row, Tx};
use serde_json::json;

use super::model::*;
use super::{Acquiring, AcquiringError};
use crate::merchant::{ContractStatus, MerchantStatus};
use crate::notify::{self, NewNotification};
use crate::product::Product;

/// What a merchant asks for (`POST /v1/payments`), already checked for form by the gateway.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub merchant_id: String,
    pub out_trade_no: String,
    pub amount: Money,
    pub subject: String,
    pub product: Product,
    /// `{"phone"?, "member_id"?, "client_ip"?}`.
    pub payer: serde_json::Value,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub expire_seconds: Option<i64>,
    pub metadata: serde_json::Value,
}

impl NewPayment {
    /// The merchant's request reduced to what decides idempotency: the same number with the
    /// same fields is the same payment.
    fn hash(&self) -> String {
        let canonical = json!([
            self.out_trade_no,
            self.amount.minor(),
            self.amount.currency().code(),
            self.subject,
            self.product.as_str(),
            self.payer,
            self.notify_url,
            self.return_url,
            self.expire_seconds,
            self.metadata,
        ]);
        sha256_hex(canonical.to_string().as_bytes())
    }
}

/// Products this server can take payments for through channels today.
pub const CHANNEL_PRODUCTS: [Product; 5] = [
    Product::NetBank,
    Product::Alipay,
    Product::Wechat,
    Product::PhoneBill,
    Product::QuickPay,
];

/// Who reported a result (kept in the payment's history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSource {
    Api,
    Sync,
    Notify,
    Return,
    Query,
    Job,
}

impl ResultSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultSource::Api => "api",
            ResultSource::Sync => "sync",
            ResultSource::Notify => "notify",
            ResultSource::Return => "return",
            ResultSource::Query => "query",
            ResultSource::Job => "job",
        }
    }
}

/// A channel's word on an attempt, from whichever source.
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
    /// Closed or reversed at the channel: nobody was charged.
    Canceled,
}

impl ChannelResult {
    fn event(&self) -> AttemptEvent {
        match self {
            ChannelResult::Succeeded { .. } => AttemptEvent::Succeeded,
            ChannelResult::Failed { .. } => AttemptEvent::Failed,
            ChannelResult::Pending { .. } => AttemptEvent::Accepted,
            ChannelResult::Unknown { .. } => AttemptEvent::Unknown,
            ChannelResult::Canceled => AttemptEvent::Canceled,
        }
    }

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
                    }),
                    channel_txn_id,
                },
                false,
            ),
            PayOutcome::Unknown { reason } => (ChannelResult::Unknown { reason }, false),
        }
    }
}

pub(crate) const PAY_VOUCHER: &str = "PAY_BANK";

fn valid_no(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_url(s: &str) -> bool {
    s.len() <= 512 && (s.starts_with("http://") || s.starts_with("https://"))
}

impl Acquiring {
    /// The 7 steps. Returns the payment and whether this call created it (false: the same
    /// request was made before and this is its payment).
    pub async fn create_payment(&self, req: NewPayment) -> Result<(Payment, bool), AcquiringError> {
        // 1. validate
        self.validate(&req)?;
        let hash = req.hash();
        if let Some(existing) = self
            .by_out_trade_no(&req.merchant_id, &req.out_trade_no)
            .await?
        {
            return self.same_request(existing, &hash).await;
        }
        let merchant = self.merchants.get(&req.merchant_id).await?;
        if merchant.status != MerchantStatus::Active {
            return Err(AcquiringError::ProductNotEnabled(format!(
                "{} (merchant is {})",
                req.product,
                merchant.status.as_str()
            )));
        }
        let contract = self
            .merchants
            .contract(&req.merchant_id, req.product)
            .await?
            .filter(|c| c.status == ContractStatus::Enabled)
            .ok_or_else(|| AcquiringError::ProductNotEnabled(req.product.to_string()))?;
        if contract.fixed_fee.currency() == req.amount.currency() {
            let minor = req.amount.minor();
            if contract.min_amount.is_some_and(|m| minor < m)
                || contract.max_amount.is_some_and(|m| minor > m)
            {
                return Err(AcquiringError::LimitExceeded(format!(
                    "amount {} is outside the contract's limits ({:?}..{:?})",
                    minor, contract.min_amount, contract.max_amount
                )));
            }
        }
        let fee = contract.fee_plan().fee(req.amount)?;
        tracing::info!(target: "digest.biz", biz = "payment", step = "1.validate", code = "OK", merchant = %req.merchant_id,
            out_trade_no = %req.out_trade_no, amount = req.amount.minor(), currency = req.amount.currency().code(),
            product = req.product.as_str(), fee = fee.minor());
        // 2. route
        let payer_key = req
            .payer
            .get("phone")
            .or(req.payer.get("member_id"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let mut ctx = RouteContext {
            merchant_id: req.merchant_id.clone(),
            product: req.product,
            amount: req.amount,
            payer_key,
            exclude: Vec::new(),
        };
        let decision = self
            .router
            .choose(&ctx)
            .await
            .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
        tracing::info!(target: "digest.biz", biz = "payment", step = "2.route", channel = %decision.channel,
            reasons = %decision.reasons.join("; "), merchant = %req.merchant_id, amount = req.amount.minor(),
            currency = req.amount.currency().code(), product = req.product.as_str());
        // 3. create order (with its first attempt, its expiry and its query-back)
        let payment_id = self.ids.next(BizType::Payment, &req.merchant_id).await?;
        let attempt_id = self
            .ids
            .next(BizType::ChannelAttempt, &req.merchant_id)
            .await?;
        let now = self.now();
        let expire_at = now
            + req
                .expire_seconds
                .unwrap_or(self.config.default_expire_seconds)
                * 1000;
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO payments (payment_id, merchant_id, out_trade_no, request_hash, product, amount,
                currency, subject, payer, notify_url, return_url, metadata, fee, fee_rate_bps,
                contract_version, status, channel, attempt_id, expire_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'created', $16,
                $17, $18, $19, $19)
             ON CONFLICT (merchant_id, out_trade_no) DO NOTHING",
        )
        .bind(payment_id.as_str())
        .bind(&req.merchant_id)
        .bind(&req.out_trade_no)
        .bind(&hash)
        .bind(req.product.as_str())
        .bind(req.amount.minor())
        .bind(req.amount.currency().code())
        .bind(&req.subject)
        .bind(req.payer.to_string())
        .bind(req.notify_url.as_deref())
        .bind(req.return_url.as_deref())
        .bind(req.metadata.to_string())
        .bind(fee.minor())
        .bind(i64::from(contract.fee_rate_bps))
        .bind(contract.version)
        .bind(&decision.channel)
        .bind(attempt_id.as_str())
        .bind(expire_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // A concurrent request with the same number won the race.
            tx.rollback().await?;
            let existing = self
                .by_out_trade_no(&req.merchant_id, &req.out_trade_no)
                .await?
                .ok_or(AcquiringError::NotFound)?;
            return self.same_request(existing, &hash).await;
        }
        history(
            &mut tx,
            payment_id.as_str(),
            None,
            PaymentStatus::Created,
            "create",
            ResultSource::Api,
            now,
        )
        .await?;
        self.insert_attempt(
            &mut tx,
            attempt_id.as_str(),
            "pay",
            payment_id.as_str(),
            None,
            &req.merchant_id,
            &decision.channel,
            req.amount,
        )
        .await?;
        jobs::enqueue(
            &mut tx,
            super::jobs::EXPIRE,
            payment_id.as_str(),
            "{}",
            expire_at,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(target: "digest.biz", biz = "payment", step = "3.create_order", from = "-", to = "created", code = "OK",
            payment_id = %payment_id, amount = req.amount.minor(), currency = req.amount.currency().code(),
            product = req.product.as_str(), channel = %decision.channel);
        let mut payment = self.payment_by_id(payment_id.as_str()).await?;
        // 4. risk
        let risk = self.risk.assess(&payment);
        tracing::info!(target: "digest.biz", biz = "payment", step = "4.risk", payment_id = %payment.payment_id,
            code = if risk.is_ok() { "ALLOW" } else { "RISK_REJECTED" });
        if let Err(reason) = risk {
            self.apply_payment_result(
                attempt_id.as_str(),
                ChannelResult::Failed {
                    code: "RISK_REJECTED".into(),
                    message: reason.clone(),
                },
                ResultSource::Api,
            )
            .await?;
            return Err(AcquiringError::RiskRejected(reason));
        }
        // 5–7. call the channel, update the order, publish (inside apply); a failure that
        // certainly charged nobody may be retried once per other eligible channel.
        let mut attempt = attempt_id;
        let mut channel = decision.channel;
        loop {
            let (result, safe) = self.call_pay(&payment, &attempt, &channel).await;
            if let (ChannelResult::Failed { code, message }, true) = (&result, safe) {
                ctx.exclude.push(channel.clone());
                if let Ok(next) = self.router.choose(&ctx).await {
                    tracing::info!(target: "digest.biz", biz = "payment", step = "retry", from_channel = %channel,
                        to_channel = %next.channel, code = %code, message = %message, payment_id = %payment.payment_id);
                    let new_attempt = self
                        .ids
                        .next(BizType::ChannelAttempt, &req.merchant_id)
                        .await?;
                    if self
                        .switch_attempt(
                            &payment,
                            &attempt,
                            &new_attempt,
                            &next.channel,
                            code,
                            message,
                        )
                        .await?
                    {
                        attempt = new_attempt;
                        channel = next.channel;
                        payment = self.payment_by_id(&payment.payment_id).await?;
                        continue;
                    }
                }
            }
            let payment = self
                .apply_payment_result(attempt.as_str(), result, ResultSource::Sync)
                .await?;
            return Ok((payment, true));
        }
    }

    fn validate(&self, req: &NewPayment) -> Result<(), AcquiringError> {
        let bad = |m: String| Err(AcquiringError::Invalid(m));
        if !valid_no(&req.out_trade_no) {
            return bad("out_trade_no must be 1 to 64 characters of [A-Za-z0-9-_.]".into());
        }
        if !req.amount.is_positive() {
            return bad("amount must be positive".into());
        }
        if req.subject.trim().is_empty() || req.subject.chars().count() > 256 {
            return bad("subject must be 1 to 256 characters".into());
        }
        if !CHANNEL_PRODUCTS.contains(&req.product) {
            return bad(format!(
                "product {} is not available on this server yet",
                req.product
            ));
        }
        for (name, url) in [
            ("notify_url", &req.notify_url),
            ("return_url", &req.return_url),
        ] {
            if url.as_deref().is_some_and(|u| !valid_url(u)) {
                return bad(format!(
                    "{name} must be an http(s) URL of at most 512 characters"
                ));
            }
        }
        if req
            .expire_seconds
            .is_some_and(|s| !(60..=7 * 86_400).contains(&s))
        {
            return bad("expire_seconds must be between 60 and 604800".into());
        }
        if !req.payer.is_object() || !req.metadata.is_object() {
            return bad("payer and metadata must be JSON objects".into());
        }
        if req.metadata.to_string().len() > 4096 {
            return bad("metadata is larger than 4096 bytes".into());
        }
        if req.product == Product::PhoneBill
            && req.payer.get("phone").and_then(|p| p.as_str()).is_none()
        {
            return bad("PHONE_BILL needs payer.phone".into());
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_attempt(
        &self,
        tx: &mut Tx,
        attempt_id: &str,
        kind: &str,
        payment_id: &str,
        refund_id: Option<&str>,
        merchant_id: &str,
        channel: &str,
        amount: Money,
    ) -> Result<(), AcquiringError> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO channel_attempts (attempt_id, kind, payment_id, refund_id, merchant_id, channel,
                amount, currency, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $9)",
        )
        .bind(attempt_id)
        .bind(kind)
        .bind(payment_id)
        .bind(refund_id)
        .bind(merchant_id)
        .bind(channel)
        .bind(amount.minor())
        .bind(amount.currency().code())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let first = self.config.query_back.delay(0).unwrap_or(5_000);
        let kind = if refund_id.is_some() {
            super::jobs::REFUND_QUERY
        } else {
            super::jobs::QUERY
        };
        jobs::enqueue(tx, kind, attempt_id, "{}", now + first).await?;
        Ok(())
    }

    /// Moves a payment from a failed attempt (that charged nobody) to a new one on another channel.
    async fn switch_attempt(
        &self,
        payment: &Payment,
        old: &BizId,
        new: &BizId,
        channel: &str,
        code: &str,
        message: &str,
    ) -> Result<bool, AcquiringError> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let moved = sqlx::query(
            "UPDATE payments SET channel = $1, attempt_id = $2, updated_at = $3
             WHERE payment_id = $4 AND attempt_id = $5 AND status = 'created'",
        )
        .bind(channel)
        .bind(new.as_str())
        .bind(now)
        .bind(&payment.payment_id)
        .bind(old.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE channel_attempts SET status = 'failed', error_code = $1, error_message = $2, updated_at = $3
             WHERE attempt_id = $4 AND status = 'created'",
        )
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(old.as_str())
        .execute(&mut *tx)
        .await?;
        self.insert_attempt(
            &mut tx,
            new.as_str(),
            "pay",
            &payment.payment_id,
            None,
            &payment.merchant_id,
            channel,
            payment.amount,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn call_pay(
        &self,
        payment: &Payment,
        attempt: &BizId,
        channel: &str,
    ) -> (ChannelResult, bool) {
        let Some(connector) = self.channels.get(channel) else {
            return (
                ChannelResult::Failed {
                    code: "CHANNEL_UNAVAILABLE".into(),
                    message: format!("no connector {channel}"),
                },
                true,
            );
        };
        let req = PayRequest {
            attempt_id: *attempt,
            merchant_id: payment.merchant_id.clone(),
            product: payment.product,
            amount: payment.amount,
            subject: payment.subject.clone(),
            payer: PayerInfo {
                phone: payment
                    .payer
                    .get("phone")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                member_id: payment
                    .payer
                    .get("member_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                client_ip: payment
                    .payer
                    .get("client_ip")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                ..PayerInfo::default()
            },
            return_url: Some(format!(
                "{}/channels/{channel}/return",
                self.config.platform_base_url
            )),
            notify_url: paycore_channels::notify_url(&self.config.platform_base_url, channel),
            expire_at: time::OffsetDateTime::from_unix_timestamp(payment.expire_at / 1000).ok(),
        };
        // The attempt must be on disk before the channel hears of it.
        if let Err(e) = self.db.durable().await {
            return (
                ChannelResult::Failed {
                    code: "CHANNEL_UNAVAILABLE".into(),
                    message: format!("not sent: {e}"),
                },
                true,
            );
        }
        let started = Instant::now();
        let outcome = connector.pay(&req).await;
        let latency = started.elapsed();
        let code = match &outcome {
            Ok(PayOutcome::Succeeded { .. }) => "SUCCEEDED".to_string(),
            Ok(PayOutcome::Pending { .. }) => "PENDING".to_string(),
            Ok(PayOutcome::Unknown { .. }) => "UNKNOWN".to_string(),
            Ok(PayOutcome::Failed { code, .. }) => code.clone(),
            Err(_) => "NOT_SENT".to_string(),
        };
        tracing::info!(target: "digest.biz", biz = "payment", step = "5.call_channel", channel, code = %code,
            latency_ms = latency.as_millis() as u64, payment_id = %payment.payment_id, attempt_id = %attempt,
            amount = payment.amount.minor(), currency = payment.amount.currency().code());
        let (health, (result, safe)) = match outcome {
            Ok(o) => (
                paycore_channels::routing::outcome_of(&o),
                ChannelResult::from_pay(o),
            ),
            Err(e) => (
                RouteOutcome::Failure,
                (
                    ChannelResult::Failed {
                        code: "CHANNEL_UNAVAILABLE".into(),
                        message: e.to_string(),
                    },
                    true,
                ),
            ),
        };
        self.router.record_outcome(channel, health, latency);
        (result, safe)
    }

    pub(crate) async fn by_out_trade_no(
        &self,
        merchant_id: &str,
        out_trade_no: &str,
    ) -> Result<Option<Payment>, AcquiringError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE merchant_id = $1 AND out_trade_no = $2"
        )))
        .bind(merchant_id)
        .bind(out_trade_no)
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// One row by its key, as committed now (outside any transaction).
    pub(crate) async fn row_by(
        &self,
        columns: &str,
        table: &str,
        key: &str,
        id: &str,
    ) -> Result<sqlx::any::AnyRow, AcquiringError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE {key} = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(AcquiringError::NotFound)
    }

    pub(crate) async fn payment_by_id(&self, payment_id: &str) -> Result<Payment, AcquiringError> {
        payment_from_row(
            &self
                .row_by(PAYMENT_COLUMNS, "payments", "payment_id", payment_id)
                .await?,
        )
    }

    /// A merchant's payment; another merchant's is `NotFound`.
    pub async fn payment(
        &self,
        merchant_id: &str,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        let p = self.payment_by_id(payment_id).await?;
        if p.merchant_id != merchant_id {
            return Err(AcquiringError::NotFound);
        }
        Ok(p)
    }

    pub async fn payment_by_out_trade_no(
        &self,
        merchant_id: &str,
        out_trade_no: &str,
    ) -> Result<Payment, AcquiringError> {
        self.by_out_trade_no(merchant_id, out_trade_no)
            .await?
            .ok_or(AcquiringError::NotFound)
    }

    /// One row by its key inside `tx`, locked for the rest of it on PostgreSQL (SQLite's one
    /// writer already serializes the transactions).
    pub(crate) async fn locked_row(
        &self,
        tx: &mut Tx,
        columns: &str,
        table: &str,
        key: &str,
        id: &str,
    ) -> Result<sqlx::any::AnyRow, AcquiringError> {
        let lock = if self.db.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE {key} = $1{lock}"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AcquiringError::NotFound)
    }

    pub(crate) async fn attempt(
        &self,
        tx: &mut Tx,
        attempt_id: &str,
    ) -> Result<Attempt, AcquiringError> {
        attempt_from_row(
            &self
                .locked_row(
                    tx,
                    ATTEMPT_COLUMNS,
                    "channel_attempts",
                    "attempt_id",
                    attempt_id,
                )
                .await?,
        )
    }

    /// An attempt as it is now, outside any transaction.
    pub(crate) async fn attempt_now(&self, attempt_id: &str) -> Result<Attempt, AcquiringError> {
        attempt_from_row(
            &self
                .row_by(
                    ATTEMPT_COLUMNS,
                    "channel_attempts",
                    "attempt_id",
                    attempt_id,
                )
                .await?,
        )
    }

    pub(crate) async fn payment_in(
        &self,
        tx: &mut Tx,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        payment_from_row(
            &self
                .locked_row(tx, PAYMENT_COLUMNS, "payments", "payment_id", payment_id)
                .await?,
        )
    }

    /// The one transition function for a payment attempt's result, from any source. Results for
    /// an attempt that is already final are no-ops; a success reported for a payment that ended
    /// unpaid (closed, failed, or paid by another attempt) is refunded automatically.
    pub async fn apply_payment_result(
        &self,
        attempt_id: &str,
        result: ChannelResult,
        source: ResultSource,
    ) -> Result<Payment, AcquiringError> {
        // IDs are taken before the transaction: on SQLite a new block of them needs the one
        // writer connection that the transaction holds.
        if matches!(result, ChannelResult::Succeeded { .. })
            && !self.success_still_holds(attempt_id, source).await?
        {
            return self
                .payment_by_id(&self.attempt_payment(attempt_id).await?)
                .await;
        }
        let ids = self
            .reserve_ids(
                attempt_id,
                matches!(result, ChannelResult::Succeeded { .. }),
            )
            .await?;
        // Likewise the ledger's set-up and accounts, before the transaction.
        self.prepare_ledger(attempt_id).await?;
        let mut tx = self.db.begin().await?;
        let attempt = self.attempt(&mut tx, attempt_id).await?;
        if attempt.kind != "pay" {
            return Err(AcquiringError::ChannelMessage(format!(
                "{attempt_id} is not a payment attempt"
            )));
        }
        if let ChannelResult::Succeeded { amount, .. } = &result {
            if *amount != attempt.amount {
                drop(tx);
                self.alert(
                    &attempt.channel,
                    "amount_mismatch",
                    Some(attempt_id),
                    &format!(
                        "channel reports {} {} for an attempt of {} {} ({})",
                        amount.minor(),
                        amount.currency(),
                        attempt.amount.minor(),
                        attempt.amount.currency(),
                        source.as_str()
                    ),
                )
                .await?;
                return Err(AcquiringError::ChannelMessage(
                    "amount differs from the order".into(),
                ));
            }
        }
        let payment = self.payment_in(&mut tx, &attempt.payment_id).await?;
        let Some(next) = attempt.status.next(result.event()) else {
            // Already final (or the same non-final state again): a duplicate, or news too late.
            if let ChannelResult::Pending {
                next_action: Some(action),
                ..
            } = &result
            {
                set_next_action(&mut tx, &payment.payment_id, action, self.now()).await?;
            }
            tx.commit().await?;
            return self.payment_by_id(&attempt.payment_id).await;
        };
        let now = self.now();
        let txn_id = match &result {
            ChannelResult::Succeeded { channel_txn_id, .. } => Some(channel_txn_id.clone()),
            ChannelResult::Pending { channel_txn_id, .. } => channel_txn_id.clone(),
            _ => None,
        };
        let (code, message) = match &result {
            ChannelResult::Failed { code, message } => {
                (Some(code.as_str()), Some(message.as_str()))
            }
            ChannelResult::Unknown { reason } => (Some("UNKNOWN"), Some(reason.as_str())),
            _ => (None, None),
        };
        sqlx::query(
            "UPDATE channel_attempts SET status = $1, channel_txn_id = COALESCE($2, channel_txn_id),
                error_code = COALESCE($3, error_code), error_message = COALESCE($4, error_message), updated_at = $5
             WHERE attempt_id = $6 AND status = $7",
        )
        .bind(next.as_str())
        .bind(txn_id.as_deref())
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(attempt_id)
        .bind(attempt.status.as_str())
        .execute(&mut *tx)
        .await?;
        let current = payment.attempt_id.as_deref() == Some(attempt_id);
        match &result {
            ChannelResult::Succeeded { channel_txn_id, .. } => {
                if current
                    && matches!(
                        payment.status,
                        PaymentStatus::Created | PaymentStatus::Processing
                    )
                {
                    let day = self
                        .post_payment(&mut tx, &payment, &attempt, payment.fee)
                        .await?;
                    sqlx::query(
                        "UPDATE payments SET channel_txn_id = $1, paid_at = $2, accounting_day = $3,
                            next_action = NULL WHERE payment_id = $4 AND status = $5",
                    )
                    .bind(channel_txn_id)
                    .bind(now)
                    .bind(day)
                    .bind(&payment.payment_id)
                    .bind(payment.status.as_str())
                    .execute(&mut *tx)
                    .await?;
                    self.moved_or_conflict(
                        &mut tx,
                        &payment,
                        PaymentEvent::ChannelSucceeded,
                        source,
                        &ids.event,
                    )
                    .await?;
                    // Stickiness and monthly volume feed later routing, in the same commit.
                    let payer_key = payment
                        .payer
                        .get("phone")
                        .or(payment.payer.get("member_id"))
                        .and_then(|v| v.as_str());
                    self.router
                        .record_success_in(&mut tx, &attempt.channel, payer_key, payment.amount)
                        .await
                        .map_err(|e| AcquiringError::Corrupt(format!("routing statistics: {e}")))?;
                    tx.commit().await?;
                    return self.payment_by_id(&attempt.payment_id).await;
                } else {
                    self.late_success(&mut tx, &payment, &attempt, &result, source, &ids)
                        .await?;
                }
            }
            ChannelResult::Failed { code, message } => {
                if current
                    && matches!(
                        payment.status,
                        PaymentStatus::Created | PaymentStatus::Processing
                    )
                {
                    sqlx::query(
                        "UPDATE payments SET failure_code = $1, failure_message = $2, next_action = NULL
                         WHERE payment_id = $3 AND status = $4",
                    )
                    .bind(code)
                    .bind(message)
                    .bind(&payment.payment_id)
                    .bind(payment.status.as_str())
                    .execute(&mut *tx)
                    .await?;
                    self.moved_or_conflict(
                        &mut tx,
                        &payment,
                        PaymentEvent::ChannelFailed,
                        source,
                        &ids.event,
                    )
                    .await?;
                }
            }
            ChannelResult::Pending {
                next_action,
                channel_txn_id,
            } => {
                if let Some(action) = next_action {
                    set_next_action(&mut tx, &payment.payment_id, action, now).await?;
                }
                if let Some(id) = channel_txn_id {
                    sqlx::query("UPDATE payments SET channel_txn_id = $1 WHERE payment_id = $2")
                        .bind(id)
                        .bind(&payment.payment_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            ChannelResult::Unknown { .. } => {
                if current && payment.status == PaymentStatus::Created {
                    self.moved_or_conflict(
                        &mut tx,
                        &payment,
                        PaymentEvent::ResultUnknown,
                        source,
                        &ids.event,
                    )
                    .await?;
                }
            }
            ChannelResult::Canceled => {
                if current
                    && matches!(
                        payment.status,
                        PaymentStatus::Created | PaymentStatus::Processing
                    )
                {
                    sqlx::query("UPDATE payments SET next_action = NULL WHERE payment_id = $1 AND status = $2")
                        .bind(&payment.payment_id)
                        .bind(payment.status.as_str())
                        .execute(&mut *tx)
                        .await?;
                    self.moved_or_conflict(
                        &mut tx,
                        &payment,
                        PaymentEvent::Close,
                        source,
                        &ids.event,
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        self.payment_by_id(&attempt.payment_id).await
    }

    /// History, business digest and the merchant's notification of one payment move.
    /// The only place a payment's status changes: the state machine names the new state, a
    /// compare-and-set on the old one applies it (false, and nothing written, when the payment
    /// moved meanwhile), then the history row, the digest line and the event.
    pub(crate) async fn moved(
        &self,
        tx: &mut Tx,
        before: &Payment,
        event: PaymentEvent,
        source: ResultSource,
        event_id: &str,
    ) -> Result<bool, AcquiringError> {
        let to = paycore_kernel::state::apply(before.status, event)?;
        let now = self.now();
        let done = sqlx::query(
            "UPDATE payments SET status = $1, updated_at = $2 WHERE payment_id = $3 AND status = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(&before.payment_id)
        .bind(before.status.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        history(
            tx,
            &before.payment_id,
            Some(before.status),
            to,
            event.as_str(),
            source,
            now,
        )
        .await?;
        tracing::info!(target: "digest.biz", biz = "payment", step = "6.update_order", from = before.status.as_str(), to = to.as_str(),
            code = "OK", event = event.as_str(), source = source.as_str(), payment_id = %before.payment_id,
            amount = before.amount.minor(), currency = before.amount.currency().code(),
            product = before.product.as_str(), channel = before.channel.as_deref().unwrap_or("-"));
        let after = self.payment_in(tx, &before.payment_id).await?;
        let event_type = format!("payment.{}", to.as_str());
        tracing::info!(target: "digest.biz", biz = "payment", step = "7.publish", code = "OK", event = %event_type,
            event_id, payment_id = %before.payment_id, notify = before.notify_url.is_some());
        self.publish(
            tx,
            event_id,
            &event_type,
            &before.merchant_id,
            &before.payment_id,
            before.notify_url.as_deref(),
            &super::reports::payment_json(&after),
            now,
        )
        .await?;
        Ok(true)
    }

    /// [`Acquiring::moved`] where the payment is locked by the caller: a lost race is an error.
    pub(crate) async fn moved_or_conflict(
        &self,
        tx: &mut Tx,
        before: &Payment,
        event: PaymentEvent,
        source: ResultSource,
        event_id: &str,
    ) -> Result<(), AcquiringError> {
        if self.moved(tx, before, event, source, event_id).await? {
            Ok(())
        } else {
            Err(AcquiringError::InvalidState(
                "the payment changed concurrently; retry".into(),
            ))
        }
    }

    /// The event of a change: the merchant's notification (when it gave a URL) and the outbox.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn publish(
        &self,
        tx: &mut Tx,
        event_id: &str,
        event_type: &str,
        merchant_id: &str,
        object_id: &str,
        notify_url: Option<&str>,
        data: &serde_json::Value,
        now: i64,
    ) -> Result<(), AcquiringError> {
        match notify_url {
            Some(url) => {
                notify::enqueue(
                    tx,
                    &NewNotification {
                        event_id,
                        event_type,
                        merchant_id,
                        object_id,
                        notify_url: url,
                        data,
                        created_at: now,
                    },
                )
                .await
                .map_err(|e| match e {
                    crate::notify::NotifyError::Store(s) => AcquiringError::Store(s),
                    other => AcquiringError::Corrupt(other.to_string()),
                })?;
            }
            None => {
                let created_at = crate::notify::rfc3339(now)
                    .map_err(|e| AcquiringError::Corrupt(e.to_string()))?;
                let body = json!({"id": event_id, "type": event_type, "created_at": created_at, "data": data}).to_string();
                paycore_store::outbox::append(
                    tx,
                    &paycore_store::outbox::NewEvent {
                        event_id,
                        topic: event_type,
                        aggregate_id: object_id,
                        shard_key: merchant_id,
                        payload: &body,
                        created_at: now,
                    },
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Posts a successful payment: channel receivable, fee income, merchant pending settlement.
    /// Returns the accounting day of the voucher.
    pub(crate) async fn post_payment(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        attempt: &Attempt,
        fee: Money,
    ) -> Result<i64, AcquiringError> {
        let ev = BusinessEvent::new(
            &format!("{}.pay", attempt.attempt_id),
            PAY_VOUCHER,
            &payment.payment_id,
            attempt.amount,
        )
        .fee(fee)
        .party("merchant", &payment.merchant_id)
        .party("channel", &attempt.channel);
        self.post(tx, &[ev]).await
    }

    pub(crate) async fn post(
        &self,
        tx: &mut Tx,
        events: &[BusinessEvent],
    ) -> Result<i64, AcquiringError> {
        let results = self.ledger.post_events_in(tx, events).await?;
        let mut day = 0;
        for r in results {
            match r {
                Ok(posted) => day = posted.day,
                Err(e) => return Err(AcquiringError::Ledger(paycore_ledger::LedgerError::from(e))),
            }
        }
        Ok(day)
    }

    async fn attempt_payment(&self, attempt_id: &str) -> Result<String, AcquiringError> {
        Ok(self.attempt_now(attempt_id).await?.payment_id)
    }

    /// A success reported for an attempt we already hold as failed or canceled may be stale
    /// (sent before the channel reversed it): only the channel's current word decides whether
    /// money was really taken. False when it was not (recorded as an alert).
    async fn success_still_holds(
        &self,
        attempt_id: &str,
        source: ResultSource,
    ) -> Result<bool, AcquiringError> {
        let attempt = self.attempt_now(attempt_id).await?;
        if !matches!(
            attempt.status,
            AttemptStatus::Failed | AttemptStatus::Canceled
        ) || source == ResultSource::Query
        {
            return Ok(true);
        }
        let channel = attempt.channel.clone();
        let connector = self
            .channels
            .get(&channel)
            .ok_or_else(|| AcquiringError::ChannelUnavailable(channel.clone()))?;
        let id: BizId = attempt_id
            .parse()
            .map_err(|_| AcquiringError::Corrupt("attempt id".into()))?;
        let now = connector
            .query(&paycore_channels::QueryRequest {
                attempt_id: id,
                channel_txn_id: attempt.channel_txn_id.clone(),
            })
            .await
            // Unsure: refuse the message; the channel sends it again.
            .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
        if matches!(now, paycore_channels::QueryOutcome::Succeeded { .. }) {
            return Ok(true);
        }
        self.alert(
            &channel,
            "stale_success",
            Some(attempt_id),
            &format!(
                "{} reported success; the channel now says {now:?}",
                source.as_str()
            ),
        )
        .await?;
        Ok(false)
    }

    /// Makes sure the ledger is set up and an attempt's accounts are open, outside any
    /// transaction of ours (SQLite has one writer connection, which the transaction would hold).
    pub(crate) async fn prepare_ledger(&self, attempt_id: &str) -> Result<(), AcquiringError> {
        self.ledger.ready().await?;
        let a = self.attempt_now(attempt_id).await?;
        self.ensure_accounts(&a.merchant_id, &a.channel, a.amount.currency())
            .await
    }

    /// Opens (once) the ledger accounts a merchant's and a channel's postings use.
    pub(crate) async fn ensure_accounts(
        &self,
        merchant_id: &str,
        channel: &str,
        currency: paycore_kernel::Currency,
    ) -> Result<(), AcquiringError> {
        use paycore_ledger::NewAccount;
        let key = format!("{merchant_id}/{channel}/{}", currency.code());
        if self
            .opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        self.ledger
            .open_accounts(&[
                NewAccount::customer("224101", merchant_id, currency),
                NewAccount::customer("224102", merchant_id, currency),
                NewAccount::internal("112201", channel, currency),
                NewAccount::internal("600101", "", currency),
            ])
            .await?;
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    /// The channel charged for a payment that is no longer waiting for it: book the money and
    /// give it back (an automatic refund), so it is neither kept nor lost.
    async fn late_success(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        attempt: &Attempt,
        result: &ChannelResult,
        source: ResultSource,
        ids: &ReservedIds,
    ) -> Result<(), AcquiringError> {
        let ChannelResult::Succeeded { channel_txn_id, .. } = result else {
            return Ok(());
        };
        let exists: Option<i64> = sqlx::query(
            "SELECT 1 AS one FROM refunds WHERE out_refund_no = $1 AND merchant_id = $2",
        )
        .bind(format!("auto-{}", attempt.attempt_id))
        .bind(&payment.merchant_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("one"))
        .transpose()?;
        if exists.is_some() {
            return Ok(());
        }
        self.post_payment(tx, payment, attempt, Money::zero(payment.amount.currency()))
            .await?;
        let (Some(refund_id), Some(refund_attempt)) = (&ids.refund, &ids.refund_attempt) else {
            return Err(AcquiringError::Corrupt(
                "no ids reserved for an automatic refund".into(),
            ));
        };
        self.auto_refund(
            tx,
            payment,
            attempt,
            channel_txn_id,
            refund_id,
            refund_attempt,
        )
        .await?;
        sqlx::query("INSERT INTO channel_alerts (channel, kind, attempt_id, detail, at) VALUES ($1, 'late_success', $2, $3, $4)")
            .bind(&attempt.channel)
            .bind(&attempt.attempt_id)
            .bind(format!("payment {} is {}; refunded automatically ({})", payment.payment_id, payment.status.as_str(), source.as_str()))
            .bind(self.now())
            .execute(&mut **tx)
            .await?;
        tracing::warn!(target: "digest.biz", biz = "payment", from = payment.status.as_str(), to = payment.status.as_str(),
            code = "LATE_SUCCESS_REFUNDED", payment_id = %payment.payment_id, attempt_id = %attempt.attempt_id);
        Ok(())
    }

    /// Records a channel message that was not applied.
    pub(crate) async fn alert(
        &self,
        channel: &str,
        kind: &str,
        attempt_id: Option<&str>,
        detail: &str,
    ) -> Result<(), AcquiringError> {
        sqlx::query("INSERT INTO channel_alerts (channel, kind, attempt_id, detail, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(channel)
            .bind(kind)
            .bind(attempt_id)
            .bind(detail)
            .bind(self.now())
            .execute(self.db.writer())
            .await?;
        tracing::warn!(target: "detail", channel, kind, attempt_id = attempt_id.unwrap_or("-"), detail, "channel message not applied");
        Ok(())
    }

    /// (channel, kind, attempt, detail) of the recorded alerts, newest first.
    pub async fn alerts(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, Option<String>, String)>, AcquiringError> {
        let rows = sqlx::query("SELECT channel, kind, attempt_id, detail FROM channel_alerts ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(self.db.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("channel")?,
                    r.try_get("kind")?,
                    r.try_get("attempt_id")?,
                    r.try_get("detail")?,
                ))
            })
            .collect()
    }

    /// Closes an unpaid payment. The channel is told too; should it have charged anyway, its
    /// late success is refunded automatically.
    pub async fn close_payment(
        &self,
        merchant_id: &str,
        payment_id: &str,
        source: ResultSource,
    ) -> Result<Payment, AcquiringError> {
        let payment = self.payment(merchant_id, payment_id).await?;
        match payment.status {
            PaymentStatus::Closed => return Ok(payment),
            PaymentStatus::Created => {}
            other => {
                return Err(AcquiringError::InvalidState(format!(
                    "a {} payment cannot be closed",
                    other.as_str()
                )));
            }
        }
        let event_id = self.ids.next(BizType::Event, payment_id).await?.to_string();
        let mut tx = self.db.begin().await?;
        if !self
            .moved(&mut tx, &payment, PaymentEvent::Close, source, &event_id)
            .await?
        {
            tx.rollback().await?;
            let now = self.payment_by_id(payment_id).await?;
            return match now.status {
                PaymentStatus::Closed => Ok(now),
                other => Err(AcquiringError::InvalidState(format!(
                    "a {} payment cannot be closed",
                    other.as_str()
                ))),
            };
        }
        sqlx::query("UPDATE payments SET next_action = NULL WHERE payment_id = $1")
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if let (Some(attempt), Some(channel)) = (&payment.attempt_id, &payment.channel) {
            self.cancel_at_channel(
                attempt,
                channel,
                payment.amount,
                payment.channel_txn_id.clone(),
            )
            .await;
        }
        self.payment_by_id(payment_id).await
    }

    /// Tells the channel to close an attempt; its answer goes through the attempt's state
    /// machine (a success it reports instead is a late success).
    async fn cancel_at_channel(
        &self,
        attempt_id: &str,
        channel: &str,
        amount: Money,
        channel_txn_id: Option<String>,
    ) {
        let (Some(connector), Ok(id)) = (self.channels.get(channel), attempt_id.parse::<BizId>())
        else {
            return;
        };
        if self.db.durable().await.is_err() {
            return;
        }
        let outcome = connector
            .cancel(&CancelRequest {
                attempt_id: id,
                channel_txn_id,
                amount,
            })
            .await;
        if let Ok(CancelOutcome::Canceled { .. }) = outcome {
            if let Err(e) = self
                .apply_payment_result(attempt_id, ChannelResult::Canceled, ResultSource::Api)
                .await
            {
                tracing::warn!(target: "detail", attempt_id, error = %e, "recording a channel cancel failed");
            }
        }
        // Other answers: the query-back job keeps asking until the attempt is final.
    }

    /// Cancel (撤销): a successful payment reversed in full on its own accounting day.
    pub async fn cancel_payment(
        &self,
        merchant_id: &str,
        payment_id: &str,
    ) -> Result<Payment, AcquiringError> {
        let payment = self.payment(merchant_id, payment_id).await?;
        if payment.status == PaymentStatus::Canceled {
            return Ok(payment);
        }
        if payment.status != PaymentStatus::Succeeded {
            return Err(AcquiringError::InvalidState(format!(
                "a {} payment cannot be canceled",
                payment.status.as_str()
            )));
        }
        let today = self.ledger.current_day().await?;
        if payment.accounting_day != Some(today) {
            return Err(AcquiringError::InvalidState(
                "cancel is only possible on the payment's accounting day; refund instead".into(),
            ));
        }
        if payment.refunded_amount.is_positive() || payment.refunding_amount.is_positive() {
            return Err(AcquiringError::InvalidState(
                "the payment has refunds; refund the rest instead".into(),
            ));
        }
        let (Some(attempt_id), Some(channel)) =
            (payment.attempt_id.clone(), payment.channel.clone())
        else {
            return Err(AcquiringError::Corrupt(
                "succeeded payment without attempt".into(),
            ));
        };
        let connector = self
            .channels
            .get(&channel)
            .ok_or_else(|| AcquiringError::ChannelUnavailable(channel.clone()))?;
        let id: BizId = attempt_id
            .parse()
            .map_err(|_| AcquiringError::Corrupt("attempt id".into()))?;
        self.db.durable().await?;
        let outcome = if connector.capabilities().cancel {
            connector
                .cancel(&CancelRequest {
                    attempt_id: id,
                    channel_txn_id: payment.channel_txn_id.clone(),
                    amount: payment.amount,
                })
                .await
                .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?
        } else {
            // A channel without cancel reverses by a full refund.
            let req = paycore_channels::RefundRequest {
                refund_attempt_id: self.ids.next(BizType::ChannelAttempt, payment_id).await?,
                attempt_id: id,
                channel_txn_id: payment.channel_txn_id.clone().unwrap_or_default(),
                amount: payment.amount,
                payment_amount: payment.amount,
                reason: Some("cancel".into()),
                notify_url: None,
            };
            let refunded = connector
                .refund(&req)
                .await
                .map_err(|e| AcquiringError::ChannelUnavailable(e.to_string()))?;
            match refunded {
                paycore_channels::RefundOutcome::Succeeded {
                    channel_refund_id, ..
                } => CancelOutcome::Canceled {
                    channel_txn_id: Some(channel_refund_id),
                },
                paycore_channels::RefundOutcome::Failed { code, message } => {
                    CancelOutcome::Failed { code, message }
                }
                _ => CancelOutcome::Unknown {
                    reason: "the channel's refund is pending".into(),
                },
            }
        };
        match outcome {
            CancelOutcome::Canceled { .. } => {}
            CancelOutcome::Failed { code, message } => {
                return Err(AcquiringError::InvalidState(format!(
                    "the channel refused the cancel: {code}: {message}"
                )));
            }
            CancelOutcome::Unknown { reason } => {
                return Err(AcquiringError::ChannelUnavailable(format!(
                    "cancel result unknown ({reason}); retry"
                )));
            }
        }
        let event_id = self.ids.next(BizType::Event, payment_id).await?.to_string();
        self.prepare_ledger(&attempt_id).await?;
        let mut tx = self.db.begin().await?;
        let p = self.payment_in(&mut tx, payment_id).await?;
        if p.status != PaymentStatus::Succeeded {
            tx.rollback().await?;
            return self.payment_by_id(payment_id).await;
        }
        let ev = BusinessEvent::new(
            &format!("{attempt_id}.cancel"),
            super::refund::REFUND_VOUCHER,
            payment_id,
            p.amount,
        )
        .fee(p.fee)
        .party("merchant", &p.merchant_id)
        .party("channel", &channel);
        self.post(&mut tx, &[ev]).await?;
        self.moved_or_conflict(
            &mut tx,
            &p,
            PaymentEvent::Cancel,
            ResultSource::Api,
            &event_id,
        )
        .await?;
        tx.commit().await?;
        self.payment_by_id(payment_id).await
    }

    /// A message from a channel (async notification, or the payer's browser return): verified
    /// by the channel's connector, then applied through the state machines. Returns the
    /// channel's expected acknowledgement and the payment concerned.
    pub async fn channel_message(
        &self,
        channel: &str,
        msg: &InboundNotification,
    ) -> Result<(paycore_channels::NotificationAck, Option<Payment>), AcquiringError> {
        let connector = self.channels.get(channel).ok_or(AcquiringError::NotFound)?;
        let n = match connector.parse_notification(msg).await {
            Ok(n) => n,
            Err(e) => {
                let kind = if e == paycore_channels::ChannelError::BadSignature {
                    "bad_signature"
                } else {
                    "malformed"
                };
                self.alert(channel, kind, None, &e.to_string()).await?;
                return Err(AcquiringError::ChannelMessage(e.to_string()));
            }
        };
        let source = if n.from_return {
            ResultSource::Return
        } else {
            ResultSource::Notify
        };
        let attempt_id = n.attempt_id.to_string();
        match n.kind {
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
                match self.apply_payment_result(&attempt_id, result, source).await {
                    Ok(p) => Ok((n.ack, Some(p))),
                    Err(AcquiringError::NotFound) => {
                        self.alert(
                            channel,
                            "unknown_attempt",
                            Some(&attempt_id),
                            "notification for an attempt we never made",
                        )
                        .await?;
                        Err(AcquiringError::ChannelMessage("unknown attempt".into()))
                    }
                    Err(e) => Err(e),
                }
            }
            NotificationKind::Refund => {
                let result = match n.result.clone() {
                    NotifiedResult::Succeeded => super::refund::RefundResult::Succeeded {
                        channel_refund_id: n.channel_txn_id.clone(),
                        amount: n.amount,
                    },
                    NotifiedResult::Failed { code, message } => {
                        super::refund::RefundResult::Failed { code, message }
                    }
                    NotifiedResult::Canceled => super::refund::RefundResult::Failed {
                        code: "CANCELED".into(),
                        message: "refund canceled by the channel".into(),
                    },
                };
                self.apply_refund_result(&attempt_id, result, source)
                    .await?;
                Ok((n.ack, None))
            }
        }
    }
}

/// Business ids taken before a transaction that may need them.
pub(crate) struct ReservedIds {
    pub event: String,
    pub refund: Option<String>,
    pub refund_attempt: Option<String>,
}

impl Acquiring {
    /// The shard key is the attempt (or refund) id itself: its shard digits are the merchant's.
    pub(crate) async fn reserve_ids(
        &self,
        shard_key: &str,
        with_refund: bool,
    ) -> Result<ReservedIds, AcquiringError> {
        let event = self.ids.next(BizType::Event, shard_key).await?.to_string();
        let (refund, refund_attempt) = if with_refund {
            (
                Some(self.ids.next(BizType::Refund, shard_key).await?.to_string()),
                Some(
                    self.ids
                        .next(BizType::ChannelAttempt, shard_key)
                        .await?
                        .to_string(),
                ),
            )
        } else {
            (None, None)
        };
        Ok(ReservedIds {
            event,
            refund,
            refund_attempt,
        })
    }
}

impl Acquiring {
    /// The answer to a request seen before: its payment — and if the first call never got to
    /// ask the channel (it crashed, or the request is being retried after a timeout), the
    /// channel is asked now, with the same attempt id, so the payer can still pay.
    async fn same_request(
        &self,
        existing: Payment,
        hash: &str,
    ) -> Result<(Payment, bool), AcquiringError> {
        if existing.request_hash != hash {
            return Err(AcquiringError::IdempotencyConflict);
        }
        let (PaymentStatus::Created, Some(attempt_id), Some(channel)) = (
            existing.status,
            existing.attempt_id.clone(),
            existing.channel.clone(),
        ) else {
            return Ok((existing, false));
        };
        let attempt = self.attempt_now(&attempt_id).await?;
        if attempt.status != AttemptStatus::Created || existing.next_action.is_some() {
            return Ok((existing, false));
        }
        let id: BizId = attempt_id
            .parse()
            .map_err(|_| AcquiringError::Corrupt("attempt id".into()))?;
        let (result, _) = self.call_pay(&existing, &id, &channel).await;
        let payment = self
            .apply_payment_result(&attempt_id, result, ResultSource::Sync)
            .await?;
        Ok((payment, false))
    }
}

async fn set_next_action(
    tx: &mut Tx,
    payment_id: &str,
    action: &NextAction,
    now: i64,
) -> Result<(), AcquiringError> {
    let json = serde_json::to_string(action).map_err(|e| AcquiringError::Corrupt(e.to_string()))?;
    sqlx::query("UPDATE payments SET next_action = $1, updated_at = $2 WHERE payment_id = $3 AND status IN ('created', 'processing')")
        .bind(json)
        .bind(now)
        .bind(payment_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn history(
    tx: &mut Tx,
    payment_id: &str,
    from: Option<PaymentStatus>,
    to: PaymentStatus,
    event: &str,
    source: ResultSource,
    at: i64,
) -> Result<(), AcquiringError> {
    sqlx::query("INSERT INTO payment_history (payment_id, from_status, to_status, event, source, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(payment_id)
        .bind(from.map(|s| s.as_str()))
        .bind(to.as_str())
        .bind(event)
        .bind(source.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

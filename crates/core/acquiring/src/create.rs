//! Creating a payment: the 7 steps of article 000 (validate → route → create order → risk →
//! call channel → update order → publish), and the same request again.

use paycore_channels::routing::{RouteContext, RouteDecision};
use paycore_channels::RoutingError;
use paycore_kernel::crypto::sha256_hex;
use paycore_kernel::{BizId, BizType, Money};
use paycore_merchant::{Contract, ContractStatus, MerchantStatus};
use paycore_product::Product;
use paycore_store::{jobs, Conn};
use serde_json::json;

use crate::channel::{biz_id, ChannelResult};
use crate::error::AcquiringError;
use crate::jobs::JobKind;
use crate::machines::{AttemptEvent, AttemptStatus, PaymentStatus};
use crate::model::{payment_from_row, AttemptKind, Payment, ResultSource, PAYMENT_COLUMNS};
use crate::refund::create::valid_merchant_no;
use crate::rows::NewAttempt;
use crate::Acquiring;

/// A payment order as its unit of work writes it: the request with what was decided for it.
struct NewOrder {
    req: NewPayment,
    hash: String,
    fee: Money,
    fee_rate_bps: i64,
    contract_version: i64,
    channel: String,
    payment_id: String,
    attempt_id: String,
    now: i64,
    expire_at: i64,
    /// What the payer does next, when it is known before any channel is asked (the cashier).
    next_action: Option<String>,
}

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

/// The channel of payments paid from the platform's own accounts: the cashier's.
pub const WALLET_CHANNEL: &str = "wallet";

/// The cashier page of a payment: where the payer of a wallet payment chooses how to pay.
pub fn cashier_url(platform_base_url: &str, payment_id: &str) -> String {
    format!(
        "{}/cashier/{payment_id}",
        platform_base_url.trim_end_matches('/')
    )
}

/// Products the payer pays at the cashier, from the wallet (a `QUICK_PAY` payment of a member
/// without a card token is one too: the member picks a bound card there).
pub const WALLET_PRODUCTS: [Product; 4] = [
    Product::Cashier,
    Product::Balance,
    Product::VirtualCoin,
    Product::Credit,
];

impl NewPayment {
    /// Whether the payer pays this payment at the cashier (the wallet channel).
    pub fn at_cashier(&self) -> bool {
        let field = |k: &str| self.payer.get(k).and_then(|v| v.as_str()).is_some();
        WALLET_PRODUCTS.contains(&self.product)
            || (self.product == Product::QuickPay && field("member_id") && !field("card_token"))
    }
}

fn valid_url(s: &str) -> bool {
    s.len() <= 512 && (s.starts_with("http://") || s.starts_with("https://"))
}

fn validate(req: &NewPayment) -> Result<(), AcquiringError> {
    let bad = |m: String| Err(AcquiringError::Invalid(m));
    if !valid_merchant_no(&req.out_trade_no) {
        return bad("out_trade_no must be 1 to 64 characters of [A-Za-z0-9-_.]".into());
    }
    if !req.amount.is_positive() {
        return bad("amount must be positive".into());
    }
    let subject_len = req.subject.chars().count();
    if req.subject.trim().is_empty() || subject_len > 256 {
        return bad("subject must be 1 to 256 characters".into());
    }
    if req.subject.chars().any(char::is_control) {
        return bad("subject must not contain control characters".into());
    }
    if !CHANNEL_PRODUCTS.contains(&req.product) && !req.at_cashier() {
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
    let names_member = req
        .payer
        .get("member_id")
        .and_then(|p| p.as_str())
        .is_some();
    if matches!(
        req.product,
        Product::Balance | Product::VirtualCoin | Product::Credit
    ) && !names_member
    {
        return bad(format!("{} needs payer.member_id", req.product));
    }
    if req.product == Product::PhoneBill
        && req.payer.get("phone").and_then(|p| p.as_str()).is_none()
    {
        return bad("PHONE_BILL needs payer.phone".into());
    }
    Ok(())
}

/// What routing's refusal means for the merchant: a request that can never be taken is its
/// to change (4xx, naming what is accepted); no channel available now is worth retrying.
fn route_error(e: RoutingError) -> AcquiringError {
    match e {
        RoutingError::NotOffered(r @ paycore_channels::routing::Refusal::Amount { .. }) => {
            AcquiringError::LimitExceeded(r.to_string())
        }
        RoutingError::NotOffered(r) => AcquiringError::Invalid(r.to_string()),
        RoutingError::NoChannel { .. } => AcquiringError::ChannelUnavailable(
            "no channel can take this payment at the moment; try again later".into(),
        ),
        other => AcquiringError::Routing(other),
    }
}

impl Acquiring {
    /// The 7 steps. Returns the payment and whether this call created it (false: the same
    /// request was made before and this is its payment).
    pub async fn create_payment(&self, req: NewPayment) -> Result<(Payment, bool), AcquiringError> {
        // 1. validate
        validate(&req)?;
        if let Some(url) = &req.notify_url {
            // A URL that can never be delivered (a private or loopback address) is refused now
            // rather than failing every attempt later.
            self.config
                .outbound
                .check_url(url)
                .await
                .map_err(|e| AcquiringError::Invalid(e.to_string()))?;
        }
        let hash = req.hash();
        if let Some(existing) = self
            .by_out_trade_no(&req.merchant_id, &req.out_trade_no)
            .await?
        {
            return self.same_request(existing, &hash).await;
        }
        let (contract, fee) = self.contracted(&req).await?;
        // 2. route
        let mut ctx = RouteContext {
            merchant_id: req.merchant_id.clone(),
            product: req.product,
            amount: req.amount,
            payer_key: req
                .payer
                .get("phone")
                .or(req.payer.get("member_id"))
                .and_then(|v| v.as_str())
                .map(str::to_string),
            exclude: Vec::new(),
        };
        let decision = match req.at_cashier() {
            true => RouteDecision {
                channel: WALLET_CHANNEL.into(),
                reasons: vec!["the payer pays at the cashier, from the wallet".into()],
                candidates: Vec::new(),
                fee: Money::zero(req.amount.currency()),
                probe: false,
            },
            false => self.router.choose(&ctx).await.map_err(route_error)?,
        };
        tracing::info!(target: "digest.biz", biz = "payment", step = "2.route",
            channel = %decision.channel, reasons = %decision.reasons.join("; "),
            merchant = %req.merchant_id, amount = req.amount.minor(),
            currency = req.amount.currency().code(), product = req.product.as_str());
        // 3. create order
        let (payment, attempt) = match self
            .insert_order(&req, &hash, &contract, fee, &decision)
            .await?
        {
            Ok(created) => created,
            Err(existing) => return self.same_request(existing, &hash).await,
        };
        if req.at_cashier() {
            // The payer chooses at the cashier, which asks risk then; nothing to send yet.
            return Ok((payment, true));
        }
        // 4. risk
        let risk = self.risk.assess(&payment);
        tracing::info!(target: "digest.biz", biz = "payment", step = "4.risk",
            payment_id = %payment.payment_id,
            code = if risk.is_ok() { "ALLOW" } else { "RISK_REJECTED" });
        if let Err(reason) = risk {
            let refused = ChannelResult::Failed {
                code: "RISK_REJECTED".into(),
                message: reason.clone(),
            };
            self.apply_payment_result(attempt.as_str(), refused, ResultSource::Api)
                .await?;
            return Err(AcquiringError::RiskRejected(reason));
        }
        // 5–7. call the channel, update the order, publish.
        let payment = self
            .execute(payment, attempt, decision.channel, &mut ctx)
            .await?;
        Ok((payment, true))
    }

    /// The merchant may take this payment: it is active, and its contract for the product is
    /// enabled, names the currency and admits the amount. Returns the contract and the fee.
    async fn contracted(&self, req: &NewPayment) -> Result<(Contract, Money), AcquiringError> {
        let merchant = self.merchants.get(&req.merchant_id).await?;
        if merchant.status != MerchantStatus::Active {
            return Err(AcquiringError::ProductNotEnabled(format!(
                "{} is not enabled: the merchant is {}",
                req.product,
                merchant.status.as_str()
            )));
        }
        let contract = self
            .merchants
            .contract(&req.merchant_id, req.product)
            .await?
            .filter(|c| c.status == ContractStatus::Enabled)
            .ok_or_else(|| {
                AcquiringError::ProductNotEnabled(format!(
                    "the merchant has no enabled contract for {}",
                    req.product
                ))
            })?;
        let currency = req.amount.currency();
        let (Some(terms), Some(plan)) = (contract.terms_for(currency), contract.fee_plan(currency))
        else {
            return Err(AcquiringError::ProductNotEnabled(format!(
                "the contract for {} accepts {}, not {currency}",
                req.product,
                contract.currency_list()
            )));
        };
        if !terms.admits(req.amount)? {
            return Err(AcquiringError::LimitExceeded(format!(
                "amount {} is outside the contract's limits for {currency} ({} to {})",
                req.amount.minor(),
                terms.min_amount.map_or("-".into(), |v| v.to_string()),
                terms.max_amount.map_or("-".into(), |v| v.to_string())
            )));
        }
        let fee = plan.fee(req.amount)?;
        tracing::info!(target: "digest.biz", biz = "payment", step = "1.validate", code = "OK",
            merchant = %req.merchant_id, out_trade_no = %req.out_trade_no,
            amount = req.amount.minor(), currency = currency.code(),
            product = req.product.as_str(), fee = fee.minor());
        Ok((contract, fee))
    }

    /// Writes the order with its first attempt, its expiry and its query-back. `Err(existing)`
    /// when a concurrent request with the same number won the race.
    async fn insert_order(
        &self,
        req: &NewPayment,
        hash: &str,
        contract: &Contract,
        fee: Money,
        decision: &RouteDecision,
    ) -> Result<Result<(Payment, BizId), Payment>, AcquiringError> {
        let payment_id = self.ids.next(BizType::Payment, &req.merchant_id).await?;
        let attempt_id = self
            .ids
            .next(BizType::ChannelAttempt, &req.merchant_id)
            .await?;
        let now = self.now();
        let expires = req
            .expire_seconds
            .unwrap_or(self.config.default_expire_seconds);
        let expire_at = now + expires * 1000;
        let order = NewOrder {
            req: req.clone(),
            hash: hash.to_owned(),
            fee,
            fee_rate_bps: i64::from(contract.fee_rate_bps),
            contract_version: contract.version,
            channel: decision.channel.clone(),
            payment_id: payment_id.to_string(),
            attempt_id: attempt_id.to_string(),
            now,
            expire_at,
            next_action: req.at_cashier().then(|| {
                let url = cashier_url(&self.config.platform_base_url, payment_id.as_str());
                serde_json::json!({"type": "cashier", "url": url}).to_string()
            }),
        };
        let me = self.clone();
        let inserted = self
            .db
            .unit(move |tx| Box::pin(async move { me.insert_order_in(tx, &order).await }))
            .await?;
        let Some(payment) = inserted else {
            let existing = self
                .by_out_trade_no(&req.merchant_id, &req.out_trade_no)
                .await?
                .ok_or(AcquiringError::NotFound)?;
            return Ok(Err(existing));
        };
        tracing::info!(target: "digest.biz", biz = "payment", step = "3.create_order",
            from = "-", to = "created", code = "OK", payment_id = %payment_id,
            amount = req.amount.minor(), currency = req.amount.currency().code(),
            product = req.product.as_str(), channel = %decision.channel);
        Ok(Ok((payment, attempt_id)))
    }

    /// The order's unit of work: the payment row (read back by `RETURNING`), its first history
    /// row, its first attempt with that attempt's query-back, and its expiry. `None`, with
    /// nothing written, when the merchant's number is taken.
    async fn insert_order_in(
        &self,
        tx: &mut dyn Conn,
        o: &NewOrder,
    ) -> Result<Option<Payment>, AcquiringError> {
        let req = &o.req;
        let row = tx
            .fetch_optional(
                &format!(
                    "INSERT INTO payments (payment_id, merchant_id, out_trade_no, request_hash,
                        product, amount, currency, subject, payer, notify_url, return_url, metadata,
                        fee, fee_rate_bps, contract_version, status, channel, attempt_id, expire_at,
                        created_at, updated_at, next_action)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $20,
                        $16, $17, $18, $19, $19, $21)
                     ON CONFLICT (merchant_id, out_trade_no) DO NOTHING
                     RETURNING {PAYMENT_COLUMNS}"
                ),
                &[
                    o.payment_id.as_str().into(),
                    req.merchant_id.as_str().into(),
                    req.out_trade_no.as_str().into(),
                    o.hash.as_str().into(),
                    req.product.as_str().into(),
                    req.amount.minor().into(),
                    req.amount.currency().code().into(),
                    req.subject.as_str().into(),
                    req.payer.to_string().into(),
                    req.notify_url.as_deref().into(),
                    req.return_url.as_deref().into(),
                    req.metadata.to_string().into(),
                    o.fee.minor().into(),
                    o.fee_rate_bps.into(),
                    o.contract_version.into(),
                    o.channel.as_str().into(),
                    o.attempt_id.as_str().into(),
                    o.expire_at.into(),
                    o.now.into(),
                    PaymentStatus::Created.as_str().into(),
                    o.next_action.as_deref().into(),
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let payment = payment_from_row(&row)?;
        paycore_store::state::created(
            tx,
            o.payment_id.as_str(),
            PaymentStatus::Created,
            ResultSource::Api.as_str(),
            o.now,
        )
        .await?;
        self.insert_attempt(
            tx,
            &NewAttempt {
                attempt_id: &o.attempt_id,
                kind: AttemptKind::Pay,
                payment_id: &o.payment_id,
                refund_id: None,
                merchant_id: &req.merchant_id,
                channel: &o.channel,
                amount: req.amount,
            },
        )
        .await?;
        jobs::enqueue(
            tx,
            JobKind::Expire.as_str(),
            &o.payment_id,
            "{}",
            o.expire_at,
        )
        .await?;
        Ok(Some(payment))
    }

    /// Calls the channel and applies its answer; a failure that certainly charged nobody is
    /// tried once on each other eligible channel.
    async fn execute(
        &self,
        mut payment: Payment,
        mut attempt: BizId,
        mut channel: String,
        ctx: &mut RouteContext,
    ) -> Result<Payment, AcquiringError> {
        loop {
            let (result, safe) = self.call_pay(&payment, &attempt, &channel).await;
            if let (ChannelResult::Failed { code, message }, true) = (&result, safe) {
                ctx.exclude.push(channel.clone());
                if let Ok(next) = self.router.choose(ctx).await {
                    tracing::info!(target: "digest.biz", biz = "payment", step = "retry",
                        from_channel = %channel, to_channel = %next.channel, code = %code,
                        message = %message, payment_id = %payment.payment_id);
                    let new_attempt = self
                        .ids
                        .next(BizType::ChannelAttempt, &payment.merchant_id)
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
            return self
                .apply_payment_result(attempt.as_str(), result, ResultSource::Sync)
                .await;
        }
    }

    /// Moves a payment from a failed attempt (that charged nobody) to a new one on another
    /// channel. False when the payment moved on meanwhile.
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
             WHERE payment_id = $4 AND attempt_id = $5 AND status = $6",
        )
        .bind(channel)
        .bind(new.as_str())
        .bind(now)
        .bind(&payment.payment_id)
        .bind(old.as_str())
        .bind(PaymentStatus::Created.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        let failed = self.attempt_in(&mut tx, old.as_str()).await?;
        self.move_attempt(
            &mut tx,
            &failed,
            AttemptEvent::Failed,
            ResultSource::Sync,
            None,
            Some((code, message)),
        )
        .await?;
        self.insert_attempt(
            &mut tx,
            &NewAttempt {
                attempt_id: new.as_str(),
                kind: AttemptKind::Pay,
                payment_id: &payment.payment_id,
                refund_id: None,
                merchant_id: &payment.merchant_id,
                channel,
                amount: payment.amount,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

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
        let (result, _) = self
            .call_pay(&existing, &biz_id(&attempt_id)?, &channel)
            .await;
        let payment = self
            .apply_payment_result(&attempt_id, result, ResultSource::Sync)
            .await?;
        Ok((payment, false))
    }
}

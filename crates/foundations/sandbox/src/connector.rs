//! The platform side of the sandbox channels: one connector shape for all five, parameterized
//! by the channel's [`Kind`] (wire format, signatures, interaction).

use std::sync::Arc;
use std::time::Duration;

use paycore_kernel::{BizId, Clock, Currency, Money};
use paycore_store::Db;
use time::{Date, OffsetDateTime};

use super::books;
use super::kind::Kind;
use super::wire::{self, ChannelKeys, Fields, Format, WireError};
use paycore_channels::connector::*;

/// Settings of the sandbox connectors.
#[derive(Debug, Clone)]
pub struct SandboxConnectorConfig {
    /// Per-call timeout; a money-moving call that times out is `Unknown`.
    pub timeout: Duration,
}

impl SandboxConnectorConfig {
    /// The HTTP client the connectors share, with the per-call timeout.
    pub(crate) fn client(&self) -> Result<reqwest::Client, ChannelError> {
        reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| ChannelError::Internal(e.to_string()))
    }
}

impl Default for SandboxConnectorConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
        }
    }
}

/// The connectors of every sandbox channel, each holding its channel's keys (created in the
/// database on first use, shared with the sandbox server on the same database).
/// `base_url` is where the sandbox is served, without `/sandbox`.
pub async fn sandbox_connectors(
    base_url: &str,
    db: &Db,
    clock: &dyn Clock,
    vault: &paycore_kernel::crypto::Vault,
    config: &SandboxConnectorConfig,
) -> Result<Vec<Arc<dyn Connector>>, ChannelError> {
    let http = config.client()?;
    let mut out: Vec<Arc<dyn Connector>> = Vec::new();
    for kind in Kind::ALL {
        let keys = books::ensure_keys(db, clock, vault, kind)
            .await
            .map_err(|e| ChannelError::Internal(e.to_string()))?
            .public_part()
            .map_err(|e| ChannelError::Internal(e.to_string()))?;
        out.push(Arc::new(SandboxConnector::new(
            kind,
            base_url,
            keys,
            http.clone(),
        )));
    }
    Ok(out)
}

pub struct SandboxConnector {
    kind: Kind,
    base_url: String,
    keys: ChannelKeys,
    http: reqwest::Client,
}

impl SandboxConnector {
    /// A connector of `kind` calling the sandbox at `base_url` with the platform's part of
    /// the channel's keys.
    pub fn new(kind: Kind, base_url: &str, keys: ChannelKeys, http: reqwest::Client) -> Self {
        Self {
            kind,
            base_url: base_url.trim_end_matches('/').to_string(),
            keys,
            http,
        }
    }
}

impl std::fmt::Debug for SandboxConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SandboxConnector({})", self.kind.code())
    }
}

/// How a call went wrong, before it is mapped per operation.
#[derive(Debug)]
enum CallError {
    /// Certainly not sent (connection refused, bad URL).
    NotSent(String),
    Timeout,
    /// Sent, answer lost or broken.
    Transport(String),
    /// The channel refused the request before processing it (4xx).
    Rejected(String),
    /// The channel broke while processing (5xx): it may have done something.
    Server(String),
    BadSignature,
    Malformed(String),
}

impl From<CallError> for ChannelError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => ChannelError::Timeout,
            CallError::NotSent(m) | CallError::Transport(m) | CallError::Server(m) => {
                ChannelError::Transport(m)
            }
            CallError::Rejected(m) => ChannelError::Refused {
                code: "REJECTED".into(),
                message: m,
            },
            CallError::BadSignature => ChannelError::BadSignature,
            CallError::Malformed(m) => ChannelError::Malformed(m),
        }
    }
}

impl CallError {
    /// A payment that got this answer charged nobody: another channel may take it.
    fn certainly_not_processed(&self) -> bool {
        matches!(self, CallError::NotSent(_) | CallError::Rejected(_))
    }

    fn reason(&self) -> String {
        match self {
            CallError::NotSent(m) => format!("not sent: {m}"),
            CallError::Timeout => "timeout".into(),
            CallError::Transport(m) => format!("transport: {m}"),
            CallError::Rejected(m) => format!("rejected: {m}"),
            CallError::Server(m) => format!("channel error: {m}"),
            CallError::BadSignature => "answer signature does not verify".into(),
            CallError::Malformed(m) => format!("malformed answer: {m}"),
        }
    }
}

/// Every field the sandbox channels put in a notification (and in the net-bank's return).
const NOTIFICATION_FIELDS: [&str; 12] = [
    "notify_id",
    "payment_attempt_id",
    "notify_type",
    "channel",
    "attempt_id",
    "txn_id",
    "status",
    "amount",
    "currency",
    "paid_at",
    "fail_code",
    "sign",
];

fn get<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn need<'a>(f: &'a Fields, name: &str) -> Result<&'a str, ChannelError> {
    get(f, name).ok_or_else(|| ChannelError::Malformed(format!("missing {name}")))
}

fn money_of(f: &Fields) -> Result<Money, ChannelError> {
    let currency = Currency::from_code(need(f, "currency")?)
        .map_err(|e| ChannelError::Malformed(e.to_string()))?;
    let minor: i64 = need(f, "amount")?
        .parse()
        .map_err(|_| ChannelError::Malformed("amount".into()))?;
    Ok(Money::from_minor(minor, currency))
}

fn time_of_millis(f: &Fields, name: &str) -> Option<OffsetDateTime> {
    let ms: i64 = get(f, name)?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn wire_err(e: WireError) -> CallError {
    match e {
        WireError::BadSignature => CallError::BadSignature,
        other => CallError::Malformed(other.to_string()),
    }
}

impl SandboxConnector {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    async fn call(&self, op: &str, fields: Fields) -> Result<Fields, CallError> {
        let spec = self.kind.wire();
        let mut fields = fields;
        fields.insert(
            "timestamp".into(),
            OffsetDateTime::now_utc().unix_timestamp().to_string(),
        );
        let enc = wire::encode(spec.format, spec.request_sign, &fields, &self.keys)
            .map_err(|e| CallError::NotSent(e.to_string()))?;
        let url = format!("{}/sandbox/api/{}/{op}", self.base_url, self.kind.slug());
        let mut req = self
            .http
            .post(&url)
            .header("content-type", enc.content_type)
            .body(enc.body);
        for (k, v) in &enc.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout
            } else if e.is_connect() || e.is_builder() {
                CallError::NotSent(e.to_string())
            } else {
                CallError::Transport(e.to_string())
            }
        })?;
        let status = resp.status();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout
            } else {
                CallError::Transport(e.to_string())
            }
        })?;
        if status.is_client_error() {
            return Err(CallError::Rejected(format!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )));
        }
        if !status.is_success() {
            return Err(CallError::Server(format!("HTTP {}", status.as_u16())));
        }
        wire::decode(spec.format, spec.response_sign, &headers, &body, &self.keys).map_err(wire_err)
    }

    fn code_of(f: &Fields) -> &str {
        get(f, "code").unwrap_or("")
    }

    fn pay_outcome(&self, f: &Fields) -> Result<PayOutcome, ChannelError> {
        let code = Self::code_of(f);
        if code != "OK" {
            // Request-level refusals: nothing was charged for this request. A conflicting attempt
            // id may belong to an earlier charge, so that one is not safe to move elsewhere.
            return Ok(PayOutcome::Failed {
                code: code.to_string(),
                message: get(f, "message").unwrap_or("").to_string(),
                safe_to_retry_elsewhere: code != "ATTEMPT_CONFLICT",
            });
        }
        let txn = need(f, "txn_id")?.to_string();
        Ok(match need(f, "status")? {
            "paid" => PayOutcome::Succeeded {
                channel_txn_id: txn,
                amount: money_of(f)?,
            },
            "pending" => {
                let next_action = if let Some(url) = get(f, "pay_url") {
                    Some(NextAction::Redirect {
                        url: url.to_string(),
                    })
                } else {
                    get(f, "qr_code").map(|c| NextAction::QrCode {
                        code: c.to_string(),
                    })
                };
                PayOutcome::Pending {
                    next_action,
                    channel_txn_id: Some(txn),
                }
            }
            "declined" => PayOutcome::Failed {
                code: get(f, "fail_code").unwrap_or("DECLINED").to_string(),
                message: "declined by the channel".into(),
                safe_to_retry_elsewhere: true,
            },
            "closed" | "canceled" => PayOutcome::Failed {
                code: "CLOSED".into(),
                message: "the channel's order is closed".into(),
                safe_to_retry_elsewhere: true,
            },
            other => return Err(ChannelError::Malformed(format!("status {other}"))),
        })
    }
}

#[async_trait::async_trait]
impl Connector for SandboxConnector {
    fn code(&self) -> &str {
        self.kind.code()
    }

    fn capabilities(&self) -> Capabilities {
        self.kind.capabilities()
    }

    async fn pay(&self, req: &PayRequest) -> Result<PayOutcome, ChannelError> {
        if !self.kind.currencies().contains(&req.amount.currency()) || !req.amount.is_positive() {
            return Err(ChannelError::InvalidRequest(format!(
                "{} cannot take {}",
                self.kind.code(),
                req.amount
            )));
        }
        if self.kind == Kind::Carrier && req.payer.phone.is_none() {
            return Err(ChannelError::InvalidRequest(
                "carrier needs the payer's phone".into(),
            ));
        }
        let mut f = Fields::new();
        f.insert("attempt_id".into(), req.attempt_id.to_string());
        f.insert("merchant_id".into(), req.merchant_id.clone());
        f.insert("amount".into(), req.amount.minor().to_string());
        f.insert("currency".into(), req.amount.currency().code().into());
        f.insert("subject".into(), req.subject.clone());
        f.insert("notify_url".into(), req.notify_url.clone());
        if let Some(u) = &req.return_url {
            f.insert("return_url".into(), u.clone());
        }
        if let Some(p) = &req.payer.phone {
            f.insert("phone".into(), p.clone());
        }
        if let Some(a) = &req.payer.agreement_no {
            f.insert("agreement_no".into(), a.clone());
        }
        if let Some(e) = req.expire_at {
            let ms = e.unix_timestamp_nanos() / 1_000_000;
            f.insert("expire_at".into(), ms.to_string());
        }
        match self.call("pay", f).await {
            Ok(fields) => match self.pay_outcome(&fields) {
                Ok(o) => Ok(o),
                // The channel answered something we cannot read: it may have charged.
                Err(e) => Ok(PayOutcome::Unknown {
                    reason: e.to_string(),
                }),
            },
            Err(e) if e.certainly_not_processed() => Ok(PayOutcome::Failed {
                code: CHANNEL_UNAVAILABLE.into(),
                message: e.reason(),
                safe_to_retry_elsewhere: true,
            }),
            Err(e) => Ok(PayOutcome::Unknown { reason: e.reason() }),
        }
    }

    async fn query(&self, req: &QueryRequest) -> Result<QueryOutcome, ChannelError> {
        let mut f = Fields::new();
        f.insert("attempt_id".into(), req.attempt_id.to_string());
        let r = self.call("query", f).await?;
        match Self::code_of(&r) {
            "OK" => {}
            "NOT_FOUND" => return Ok(QueryOutcome::NotFound),
            other => {
                return Err(ChannelError::Refused {
                    code: other.to_string(),
                    message: get(&r, "message").unwrap_or("").to_string(),
                })
            }
        }
        let txn = need(&r, "txn_id")?.to_string();
        Ok(match need(&r, "status")? {
            "paid" => QueryOutcome::Succeeded {
                channel_txn_id: txn,
                amount: money_of(&r)?,
                paid_at: time_of_millis(&r, "paid_at"),
            },
            "pending" => QueryOutcome::Pending {
                channel_txn_id: Some(txn),
            },
            "declined" => QueryOutcome::Failed {
                code: get(&r, "fail_code").unwrap_or("DECLINED").to_string(),
                message: "declined by the channel".into(),
            },
            "closed" | "canceled" => QueryOutcome::Canceled {
                channel_txn_id: Some(txn),
            },
            other => return Err(ChannelError::Malformed(format!("status {other}"))),
        })
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundOutcome, ChannelError> {
        let mut f = Fields::new();
        f.insert("attempt_id".into(), req.attempt_id.to_string());
        f.insert("refund_id".into(), req.refund_attempt_id.to_string());
        f.insert("amount".into(), req.amount.minor().to_string());
        f.insert("currency".into(), req.amount.currency().code().into());
        if let Some(u) = &req.notify_url {
            f.insert("notify_url".into(), u.clone());
        }
        // A refund has no other channel to go to: one the channel never received (refused
        // connection, a platform stopping) is not a failure but a refund still to send, and the
        // query-back sends it again. Only the channel's own answer fails it.
        let r = match self.call("refund", f).await {
            Ok(r) => r,
            Err(e) => return Ok(RefundOutcome::Unknown { reason: e.reason() }),
        };
        Ok(match Self::code_of(&r) {
            "OK" => match (need(&r, "refund_txn_id"), money_of(&r)) {
                (Ok(id), Ok(amount)) => RefundOutcome::Succeeded {
                    channel_refund_id: id.to_string(),
                    amount,
                },
                (Err(e), _) | (_, Err(e)) => RefundOutcome::Unknown {
                    reason: e.to_string(),
                },
            },
            code => RefundOutcome::Failed {
                code: code.to_string(),
                message: get(&r, "message").unwrap_or("").to_string(),
            },
        })
    }

    async fn refund_query(
        &self,
        req: &RefundQueryRequest,
    ) -> Result<RefundQueryOutcome, ChannelError> {
        let mut f = Fields::new();
        f.insert("attempt_id".into(), req.attempt_id.to_string());
        f.insert("refund_id".into(), req.refund_attempt_id.to_string());
        let r = self.call("refund-query", f).await?;
        match Self::code_of(&r) {
            "OK" => Ok(RefundQueryOutcome::Succeeded {
                channel_refund_id: need(&r, "refund_txn_id")?.to_string(),
                amount: money_of(&r)?,
            }),
            "NOT_FOUND" => Ok(RefundQueryOutcome::NotFound),
            other => Err(ChannelError::Refused {
                code: other.to_string(),
                message: get(&r, "message").unwrap_or("").to_string(),
            }),
        }
    }

    async fn cancel(&self, req: &CancelRequest) -> Result<CancelOutcome, ChannelError> {
        let mut f = Fields::new();
        f.insert("attempt_id".into(), req.attempt_id.to_string());
        // As a refund: a cancel the channel never received is sent again, not failed.
        let r = match self.call("cancel", f).await {
            Ok(r) => r,
            Err(e) => return Ok(CancelOutcome::Unknown { reason: e.reason() }),
        };
        Ok(match (Self::code_of(&r), get(&r, "status")) {
            ("OK", Some("closed" | "canceled" | "declined")) => CancelOutcome::Canceled {
                channel_txn_id: get(&r, "txn_id").map(str::to_string),
            },
            ("OK", other) => CancelOutcome::Failed {
                code: "INVALID_STATE".into(),
                message: format!("order is {}", other.unwrap_or("?")),
            },
            (code, _) => CancelOutcome::Failed {
                code: code.to_string(),
                message: get(&r, "message").unwrap_or("").to_string(),
            },
        })
    }

    async fn parse_notification(
        &self,
        msg: &InboundNotification,
    ) -> Result<ChannelNotification, ChannelError> {
        let spec = self.kind.wire();
        let from_return = msg.body.is_empty();
        let fields = if !from_return {
            wire::decode(
                spec.format,
                spec.response_sign,
                &msg.headers,
                &msg.body,
                &self.keys,
            )
        } else if self.kind == Kind::NetBank && !msg.query.is_empty() {
            // The browser return carries the same signed fields in the query string, mixed
            // with whatever the merchant's return URL had: only the bank's fields count.
            wire::deserialize(Format::Form, &msg.query).and_then(|mut f| {
                f.retain(|k, _| NOTIFICATION_FIELDS.contains(&k.as_str()));
                wire::verify(spec.response_sign, &f, &self.keys).map(|()| f)
            })
        } else {
            return Err(ChannelError::Malformed("empty notification".into()));
        }
        .map_err(|e| match e {
            WireError::BadSignature => ChannelError::BadSignature,
            other => ChannelError::Malformed(other.to_string()),
        })?;
        if get(&fields, "channel") != Some(self.kind.code()) {
            return Err(ChannelError::Malformed(
                "notification of another channel".into(),
            ));
        }
        let kind = match need(&fields, "notify_type")? {
            "payment" => NotificationKind::Payment,
            "refund" => NotificationKind::Refund,
            other => return Err(ChannelError::Malformed(format!("notify_type {other}"))),
        };
        let attempt_id: BizId = need(&fields, "attempt_id")?
            .parse()
            .map_err(|_| ChannelError::Malformed("attempt_id".into()))?;
        let result = match need(&fields, "status")? {
            "paid" | "succeeded" => NotifiedResult::Succeeded,
            "declined" | "failed" => NotifiedResult::Failed {
                code: get(&fields, "fail_code").unwrap_or("DECLINED").to_string(),
                message: "declined by the channel".into(),
            },
            "closed" | "canceled" => NotifiedResult::Canceled,
            other => return Err(ChannelError::Malformed(format!("status {other}"))),
        };
        Ok(ChannelNotification {
            channel: self.kind.code().to_string(),
            kind,
            attempt_id,
            payment_attempt_id: match get(&fields, "payment_attempt_id") {
                Some(p) => Some(
                    p.parse()
                        .map_err(|_| ChannelError::Malformed("payment_attempt_id".into()))?,
                ),
                None => None,
            },
            channel_txn_id: need(&fields, "txn_id")?.to_string(),
            amount: money_of(&fields)?,
            result,
            notify_id: need(&fields, "notify_id")?.to_string(),
            occurred_at: time_of_millis(&fields, "paid_at").unwrap_or_else(OffsetDateTime::now_utc),
            from_return,
            ack: self.kind.ack(),
        })
    }

    async fn settlement_file(&self, day: Date) -> Result<String, ChannelError> {
        let url = format!(
            "{}/sandbox/channels/{}/settlement-files/{}",
            self.base_url,
            self.kind.code(),
            books::day_iso(day)
        );
        let resp = self.http.get(&url).send().await.map_err(|e| {
            if e.is_timeout() {
                ChannelError::Timeout
            } else {
                ChannelError::Transport(e.to_string())
            }
        })?;
        if !resp.status().is_success() {
            return Err(ChannelError::Refused {
                code: format!("HTTP {}", resp.status().as_u16()),
                message: "settlement file".into(),
            });
        }
        resp.text()
            .await
            .map_err(|e| ChannelError::Transport(e.to_string()))
    }

    async fn sign_agreement(
        &self,
        req: &AgreementSignRequest,
    ) -> Result<AgreementOutcome, ChannelError> {
        if self.kind != Kind::QuickPay {
            return Err(ChannelError::InvalidRequest(format!(
                "{} signs no card agreements",
                self.kind.code()
            )));
        }
        match self.call("sign", super::cards::sign_fields(req)?).await {
            Ok(f) => Ok(super::cards::sign_outcome(&f)),
            Err(e) if e.certainly_not_processed() => Ok(AgreementOutcome::Failed {
                code: CHANNEL_UNAVAILABLE.into(),
                message: e.reason(),
            }),
            Err(e) => Ok(AgreementOutcome::Unknown { reason: e.reason() }),
        }
    }

    async fn payout(&self, req: &PayoutRequest) -> Result<PayOutcome, ChannelError> {
        if self.kind != Kind::QuickPay {
            return Err(ChannelError::InvalidRequest(format!(
                "{} makes no payouts",
                self.kind.code()
            )));
        }
        match self
            .call("payout", super::payouts::payout_fields(req))
            .await
        {
            Ok(f) => Ok(super::payouts::payout_outcome(req, &f)),
            Err(e) if e.certainly_not_processed() => Ok(PayOutcome::Failed {
                code: CHANNEL_UNAVAILABLE.into(),
                message: e.reason(),
                safe_to_retry_elsewhere: true,
            }),
            Err(e) => Ok(PayOutcome::Unknown { reason: e.reason() }),
        }
    }

    async fn unsign_agreement(&self, req: &AgreementUnsignRequest) -> Result<(), ChannelError> {
        let mut f = Fields::new();
        f.insert("agreement_no".into(), req.agreement_no.clone());
        let r = self.call("unsign", f).await?;
        match Self::code_of(&r) {
            "OK" => Ok(()),
            code => Err(ChannelError::Refused {
                code: code.to_string(),
                message: get(&r, "message").unwrap_or("").to_string(),
            }),
        }
    }

    async fn balance(&self) -> Result<Money, ChannelError> {
        let mut f = Fields::new();
        f.insert("currency".into(), Currency::CNY.code().into());
        let r = self.call("balance", f).await?;
        if Self::code_of(&r) != "OK" {
            return Err(ChannelError::Refused {
                code: Self::code_of(&r).to_string(),
                message: get(&r, "message").unwrap_or("").to_string(),
            });
        }
        money_of(&r)
    }
}

//! Domain records as the API shows them. Payments and refunds are also the `data` of the
//! merchant's notifications: [`ApiViews`] hands these same views to acquiring.

use paycore_acquiring::{
    MerchantViews, NextAction, Payment, PaymentStatus, Refund, RefundKind, RefundStatus,
};
use paycore_api::backoffice::MoneyObject;
use paycore_api::fields::{rfc3339, CurrencyCode, ProductCode};
use paycore_api::merchant::{
    ContractObject, ContractStatusName, CurrencyTermsObject, KeyAlgorithm, KeyStatusName,
    MerchantStatusName,
};
use paycore_api::operators::{KeyView, KybFields, MerchantView};
use paycore_api::payments::{
    Metadata, NextActionObject, Payer, PaymentObject, PaymentStatusName, RefundKindName,
    RefundObject, RefundStatusName,
};
use paycore_kernel::crypto::Algorithm;
use paycore_kernel::Money;
use paycore_merchant::{
    Contract, ContractStatus, KeyStatus, Kyb, Merchant, MerchantKey, MerchantStatus,
};

pub fn money(m: Money) -> MoneyObject {
    MoneyObject {
        minor: m.minor(),
        currency: CurrencyCode(m.currency()),
    }
}

pub fn algorithm(a: Algorithm) -> KeyAlgorithm {
    match a {
        Algorithm::Rsa2 => KeyAlgorithm::Rsa2,
        Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
        Algorithm::HmacSha256 => KeyAlgorithm::HmacSha256,
    }
}

pub fn key_algorithm(a: KeyAlgorithm) -> Algorithm {
    match a {
        KeyAlgorithm::Rsa2 => Algorithm::Rsa2,
        KeyAlgorithm::Ed25519 => Algorithm::Ed25519,
        KeyAlgorithm::HmacSha256 => Algorithm::HmacSha256,
    }
}

fn payment_status(s: PaymentStatus) -> PaymentStatusName {
    match s {
        PaymentStatus::Created => PaymentStatusName::Created,
        PaymentStatus::Processing => PaymentStatusName::Processing,
        PaymentStatus::Succeeded => PaymentStatusName::Succeeded,
        PaymentStatus::Failed => PaymentStatusName::Failed,
        PaymentStatus::Closed => PaymentStatusName::Closed,
        PaymentStatus::Canceled => PaymentStatusName::Canceled,
    }
}

/// The payer as stored: only the declared fields are shown.
fn payer(v: &serde_json::Value) -> Payer {
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Payer {
        phone: field("phone"),
        member_id: field("member_id"),
        client_ip: field("client_ip"),
    }
}

/// The metadata as stored (payments made before metadata was limited to strings show their
/// other values as JSON text).
fn metadata(v: &serde_json::Value) -> Metadata {
    let map = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    Metadata(map)
}

fn next_action(v: &Option<serde_json::Value>) -> Option<NextActionObject> {
    let action: NextAction = serde_json::from_value(v.clone()?).ok()?;
    Some(match action {
        NextAction::Redirect { url } => NextActionObject::Redirect { url },
        NextAction::QrCode { code } => NextActionObject::QrCode { code },
        NextAction::Cashier { url } => NextActionObject::Cashier { url },
    })
}

/// What paid a wallet payment, as stored with its success.
fn instruments(v: &serde_json::Value) -> Vec<paycore_api::cashier::InstrumentObject> {
    let field =
        |i: &serde_json::Value, k: &str| i.get(k).and_then(|x| x.as_str()).map(str::to_string);
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|i| paycore_api::cashier::InstrumentObject {
                    kind: field(i, "type").unwrap_or_default(),
                    amount: i.get("amount").and_then(|x| x.as_i64()).unwrap_or_default(),
                    coupon_id: field(i, "coupon_id"),
                    card_id: field(i, "card_id"),
                    coins: i.get("coins").and_then(|x| x.as_i64()),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn payment(p: &Payment) -> PaymentObject {
    PaymentObject {
        id: p.payment_id.clone(),
        object: "payment",
        merchant_id: p.merchant_id.clone(),
        out_trade_no: p.out_trade_no.clone(),
        amount: p.amount.minor(),
        currency: CurrencyCode(p.amount.currency()),
        subject: p.subject.clone(),
        product: ProductCode(p.product),
        status: payment_status(p.status),
        channel: p.channel.clone(),
        fee: p.fee.minor(),
        refunded_amount: p.refunded_amount.minor(),
        next_action: next_action(&p.next_action),
        instruments: p.instruments.as_ref().map(instruments),
        failure_code: p.failure_code.clone(),
        failure_message: p.failure_message.clone(),
        payer: payer(&p.payer),
        notify_url: p.notify_url.clone(),
        return_url: p.return_url.clone(),
        metadata: metadata(&p.metadata),
        expires_at: rfc3339(p.expire_at),
        paid_at: p.paid_at.map(rfc3339),
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
    }
}

pub fn refund(r: &Refund, p: &Payment) -> RefundObject {
    RefundObject {
        id: r.refund_id.clone(),
        object: "refund",
        merchant_id: r.merchant_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        payment_id: r.payment_id.clone(),
        amount: r.amount.minor(),
        currency: CurrencyCode(r.amount.currency()),
        fee_refund: r.fee_refund.minor(),
        reason: r.reason.clone(),
        kind: match r.kind {
            RefundKind::Merchant => RefundKindName::Merchant,
            RefundKind::Auto => RefundKindName::Auto,
            RefundKind::Cancel => RefundKindName::Cancel,
        },
        status: match r.status {
            RefundStatus::Processing => RefundStatusName::Processing,
            RefundStatus::Succeeded => RefundStatusName::Succeeded,
            RefundStatus::Failed => RefundStatusName::Failed,
        },
        failure_code: r.failure_code.clone(),
        product: ProductCode(p.product),
        channel: p.channel.clone(),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// Payments and refunds as merchants see them, for notifications and events.
pub struct ApiViews;

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    // Serializing these plain structs cannot fail; an empty object would be seen at once.
    serde_json::to_value(v).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

impl MerchantViews for ApiViews {
    fn payment(&self, p: &Payment) -> serde_json::Value {
        to_json(&payment(p))
    }

    fn refund(&self, r: &Refund, p: &Payment) -> serde_json::Value {
        to_json(&refund(r, p))
    }
}

pub fn merchant_status(s: MerchantStatus) -> MerchantStatusName {
    match s {
        MerchantStatus::Onboarding => MerchantStatusName::Onboarding,
        MerchantStatus::Active => MerchantStatusName::Active,
        MerchantStatus::Frozen => MerchantStatusName::Frozen,
    }
}

pub fn kyb_fields(k: &Kyb) -> KybFields {
    KybFields {
        legal_name: k.legal_name.clone(),
        registration_number: k.registration_number.clone(),
        country: k.country.clone(),
        address: k.address.clone(),
        contact_email: k.contact_email.clone(),
        contact_phone: k.contact_phone.clone(),
        website: k.website.clone(),
        mcc: k.mcc.clone(),
    }
}

pub fn kyb(k: KybFields) -> Kyb {
    Kyb {
        legal_name: k.legal_name,
        registration_number: k.registration_number,
        country: k.country,
        address: k.address,
        contact_email: k.contact_email,
        contact_phone: k.contact_phone,
        website: k.website,
        mcc: k.mcc,
    }
}

pub fn merchant(m: Merchant) -> MerchantView {
    MerchantView {
        kyb: kyb_fields(&m.kyb),
        merchant_id: m.merchant_id,
        name: m.name,
        status: merchant_status(m.status),
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.updated_at),
    }
}

pub fn key_status(s: KeyStatus) -> KeyStatusName {
    match s {
        KeyStatus::Active => KeyStatusName::Active,
        KeyStatus::Revoked => KeyStatusName::Revoked,
    }
}

pub fn key(k: MerchantKey, secret: Option<String>) -> KeyView {
    KeyView {
        key_id: k.key_id,
        algorithm: algorithm(k.algorithm),
        status: key_status(k.status),
        public_key_pem: k.public_key_pem,
        secret,
        created_at: rfc3339(k.created_at),
    }
}

pub fn contract_status(s: ContractStatus) -> ContractStatusName {
    match s {
        ContractStatus::Enabled => ContractStatusName::Enabled,
        ContractStatus::Disabled => ContractStatusName::Disabled,
    }
}

pub fn contract(c: Contract) -> ContractObject {
    let currencies: Vec<CurrencyTermsObject> = c
        .currencies
        .iter()
        .map(|t| CurrencyTermsObject {
            currency: CurrencyCode(t.currency),
            fixed_fee: t.fixed_fee,
            min_amount: t.min_amount,
            max_amount: t.max_amount,
        })
        .collect();
    let first = c.currencies.first();
    ContractObject {
        contract_id: c.contract_id,
        merchant_id: c.merchant_id,
        product: ProductCode(c.product),
        fee_rate_bps: c.fee_rate_bps,
        fixed_fee: first.map_or(0, |t| t.fixed_fee),
        fee_currency: CurrencyCode(first.map_or(paycore_kernel::Currency::CNY, |t| t.currency)),
        min_amount: first.and_then(|t| t.min_amount),
        max_amount: first.and_then(|t| t.max_amount),
        currencies,
        status: contract_status(c.status),
        version: c.version,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

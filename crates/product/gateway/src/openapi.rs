//! The OpenAPI document (`GET /openapi.json`): generated from the handlers and the API types,
//! then completed here with what every operation can answer — each error status with its codes
//! and the error body, the response signature headers of `/v1`, and the security schemes.

use paycore_api::ErrorCode;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use ErrorCode::*;

/// Every signed `/v1` call can be refused before its handler runs.
const SIGNED: &[ErrorCode] = &[
    InvalidSignature,
    TimestampOutOfWindow,
    ReplayedNonce,
    UnknownMerchant,
    Unauthenticated,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    MethodNotAllowed,
    Internal,
];

/// Every operator call.
const OPERATOR: &[ErrorCode] = &[
    Unauthenticated,
    Forbidden,
    RateLimited,
    MethodNotAllowed,
    Internal,
];
/// Operator calls that change something (they take a body and an `Idempotency-Key`).
const OPERATOR_WRITE: &[ErrorCode] = &[
    Unauthenticated,
    Forbidden,
    RateLimited,
    MethodNotAllowed,
    Internal,
    InvalidRequest,
    IdempotencyConflict,
    PayloadTooLarge,
    UnsupportedMediaType,
];

/// Every member call behind a login token.
const MEMBER: &[ErrorCode] = &[
    Unauthenticated,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    MethodNotAllowed,
    Internal,
];
/// Registration and login (no token yet).
const MEMBER_OPEN: &[ErrorCode] = &[
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    MethodNotAllowed,
    Internal,
];

/// What a member (wallet) operation answers besides success, if it is one.
type Answers = (&'static [ErrorCode], &'static [ErrorCode]);

fn member_errors(operation: &str) -> Option<Answers> {
    Some(match operation {
        "register" => (MEMBER_OPEN, &[InvalidState]),
        "login" => (MEMBER_OPEN, &[Unauthenticated, Forbidden]),
        "logout" => (MEMBER, &[]),
        "me" => (MEMBER, &[NotFound]),
        "send_sms" => (MEMBER, &[InvalidRequest, Forbidden, ChannelUnavailable]),
        "real_name" => (
            MEMBER,
            &[
                InvalidRequest,
                Forbidden,
                InvalidState,
                VerificationFailed,
                ChannelUnavailable,
            ],
        ),
        "pay_password" => (MEMBER, &[InvalidRequest, Forbidden, VerificationFailed]),
        "password_free_limit" => (MEMBER, &[InvalidRequest, Forbidden]),
        "bind_card" => (
            MEMBER,
            &[
                InvalidRequest,
                Forbidden,
                InvalidState,
                NotFound,
                ChannelUnavailable,
            ],
        ),
        "confirm_card" => (
            MEMBER,
            &[
                InvalidRequest,
                NotFound,
                InvalidState,
                VerificationFailed,
                ChannelUnavailable,
            ],
        ),
        "list_cards" | "balance" | "coupons" => (MEMBER, &[]),
        "top_up" => (
            MEMBER,
            &[
                LimitExceeded,
                InvalidRequest,
                Forbidden,
                NotFound,
                IdempotencyConflict,
                InvalidState,
                ChannelUnavailable,
            ],
        ),
        "withdraw" => (
            MEMBER,
            &[
                LimitExceeded,
                InvalidRequest,
                Forbidden,
                NotFound,
                IdempotencyConflict,
                InvalidState,
                InsufficientBalance,
                VerificationFailed,
                ChannelUnavailable,
            ],
        ),
        "transfer" => (
            MEMBER,
            &[
                LimitExceeded,
                InvalidRequest,
                Forbidden,
                IdempotencyConflict,
                InsufficientBalance,
                VerificationFailed,
            ],
        ),
        "unbind_card" => (
            MEMBER,
            &[InvalidRequest, NotFound, InvalidState, ChannelUnavailable],
        ),
        _ => return cashier_errors(operation),
    })
}

/// The member operations of paying at the cashier, and of credit.
fn cashier_errors(operation: &str) -> Option<Answers> {
    Some(match operation {
        "methods" | "credit_bills" => (MEMBER, &[NotFound]),
        "pay" => (
            MEMBER,
            &[
                LimitExceeded,
                InvalidRequest,
                Forbidden,
                NotFound,
                IdempotencyConflict,
                InvalidState,
                InsufficientBalance,
                VerificationFailed,
                RiskRejected,
                PaymentDeclined,
                ChannelUnavailable,
            ],
        ),
        "verify" => (
            MEMBER,
            &[
                LimitExceeded,
                InvalidRequest,
                Forbidden,
                NotFound,
                InvalidState,
                InsufficientBalance,
                VerificationFailed,
                PaymentDeclined,
                ChannelUnavailable,
            ],
        ),
        "repay" => (
            MEMBER,
            &[
                InvalidRequest,
                Forbidden,
                IdempotencyConflict,
                InsufficientBalance,
            ],
        ),
        _ => return None,
    })
}

/// What each operation answers besides success, by operation id.
fn errors(operation: &str) -> Vec<ErrorCode> {
    let (base, own) = member_errors(operation).unwrap_or_else(|| platform_errors(operation));
    let mut all: Vec<ErrorCode> = base.iter().chain(own).copied().collect();
    all.sort_by_key(|c| (c.status(), c.as_str()));
    all.dedup();
    all
}

/// What the merchant, operator and service operations answer besides success.
fn platform_errors(operation: &str) -> Answers {
    match operation {
        "create_payment" => (
            SIGNED,
            &[
                InvalidRequest,
                UnsupportedMediaType,
                ProductNotEnabled,
                IdempotencyConflict,
                InvalidState,
                LimitExceeded,
                RiskRejected,
                ChannelUnavailable,
            ],
        ),
        "create_agreement" => (
            SIGNED,
            &[
                InvalidRequest,
                UnsupportedMediaType,
                ProductNotEnabled,
                IdempotencyConflict,
                InvalidState,
                NotFound,
                ChannelUnavailable,
            ],
        ),
        "confirm_agreement" => (
            SIGNED,
            &[
                InvalidRequest,
                UnsupportedMediaType,
                NotFound,
                InvalidState,
                VerificationFailed,
            ],
        ),
        "terminate_agreement" => (SIGNED, &[InvalidRequest, NotFound, InvalidState]),
        "get_agreement" | "find_agreement" => (SIGNED, &[InvalidRequest, NotFound]),
        "get_payment" | "find_payment" | "get_refund" | "find_refund" => {
            (SIGNED, &[InvalidRequest, NotFound])
        }
        "close_payment" => (SIGNED, &[InvalidRequest, NotFound, InvalidState]),
        "cancel_payment" => (
            SIGNED,
            &[
                InvalidRequest,
                NotFound,
                InvalidState,
                InsufficientBalance,
                ChannelUnavailable,
            ],
        ),
        "create_refund" => (
            SIGNED,
            &[
                InvalidRequest,
                UnsupportedMediaType,
                NotFound,
                IdempotencyConflict,
                InvalidState,
                AmountExceedsRefundable,
                InsufficientBalance,
            ],
        ),
        "bill" | "list_notifications" => (SIGNED, &[InvalidRequest]),
        "resend_notification" => (SIGNED, &[InvalidRequest, NotFound, InvalidState]),
        "whoami" | "merchant_balance" => (SIGNED, &[]),
        "platform_keys" | "healthz" | "metrics" | "openapi" => (&[MethodNotAllowed, Internal], &[]),
        "readyz" => (&[MethodNotAllowed], &[ChannelUnavailable]),
        "channel_notify" => (
            &[MethodNotAllowed, Internal],
            &[InvalidRequest, NotFound, PayloadTooLarge],
        ),
        "channel_return" => (&[MethodNotAllowed, Internal], &[InvalidRequest, NotFound]),
        "create_merchant" | "day_end" | "create_operator" => (OPERATOR_WRITE, &[InvalidState]),
        "create_coupon_template" => (OPERATOR_WRITE, &[]),
        "issue_coupon" => (OPERATOR_WRITE, &[NotFound]),
        "set_quota" => (OPERATOR_WRITE, &[]),
        "list_quotas" => (OPERATOR, &[]),
        "get_member" => (OPERATOR, &[NotFound]),
        "change_member_status" => (OPERATOR_WRITE, &[NotFound, InvalidState]),
        "set_credit_line" | "grant_coins" => (OPERATOR_WRITE, &[NotFound, Forbidden]),
        "list_risk_rules" => (OPERATOR, &[]),
        "create_risk_rule" => (OPERATOR_WRITE, &[]),
        "set_risk_rule_status" => (OPERATOR_WRITE, &[NotFound]),
        "disable_operator" => (OPERATOR_WRITE, &[NotFound]),
        "rotate_operator" => (OPERATOR_WRITE, &[NotFound, InvalidState]),
        "list_operators" => (OPERATOR, &[]),
        "update_kyb" | "add_key" | "change_channel" => (OPERATOR_WRITE, &[NotFound]),
        "change_status" | "set_product" | "revoke_key" => {
            (OPERATOR_WRITE, &[NotFound, InvalidState])
        }
        "get_merchant" | "list_keys" | "list_products" | "account_balance" => {
            (OPERATOR, &[InvalidRequest, NotFound])
        }
        "statement" => (OPERATOR, &[InvalidRequest, NotFound]),
        "channel_balance" => (OPERATOR, &[NotFound, ChannelUnavailable]),
        "list_merchants" | "audit" | "alerts" | "daily_report" => (OPERATOR, &[InvalidRequest]),
        "trial_balance" => (OPERATOR, &[InvalidRequest, NotFound]),
        "list_channels" | "verify" => (OPERATOR, &[]),
        other if other.starts_with("sandbox_") => {
            (&[MethodNotAllowed, Internal], &[InvalidRequest, NotFound])
        }
        _ => (&[MethodNotAllowed, Internal], &[InvalidRequest]),
    }
}

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "paycore_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "PAYCORE-<ALG> merchant_id=\"…\",key_id=\"…\",timestamp=\"…\",nonce=\"…\",\
                 signature=\"…\" over METHOD\\nPATH_AND_QUERY\\ntimestamp\\nnonce\\nBODY\\n \
                 (docs/merchant-api.md)",
            ))),
        );
        components.add_security_scheme(
            "member_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "paycore",
        description = "The paycore open API: the merchant API under /v1 (signed requests and \
            responses), the member (wallet) API under /v1/members (login tokens), the operator \
            API under /admin/v1 (bearer tokens), service endpoints, \
            channel callbacks and, in sandbox mode, the sandbox channels under /sandbox. The \
            merchant contract in prose — signing, idempotency, money, errors, notifications — \
            is docs/merchant-api.md in the paycore repository."
    ),
    paths(
        crate::merchant_api::whoami,
        crate::merchant_api::platform_keys,
        crate::member_api::register,
        crate::member_api::login,
        crate::member_api::logout,
        crate::member_api::me,
        crate::member_api::send_sms,
        crate::member_api::real_name,
        crate::member_api::pay_password,
        crate::member_api::password_free_limit,
        crate::card_api::bind_card,
        crate::card_api::confirm_card,
        crate::card_api::list_cards,
        crate::card_api::unbind_card,
        crate::wallet_api::balance,
        crate::wallet_api::top_up,
        crate::wallet_api::transfer,
        crate::wallet_api::withdraw,
        crate::wallet_api::coupons,
        crate::cashier_api::methods,
        crate::cashier_api::pay,
        crate::cashier_api::verify,
        crate::cashier_api::credit_bills,
        crate::cashier_api::repay,
        crate::admin::marketing::create_coupon_template,
        crate::admin::marketing::issue_coupon,
        crate::admin::quotas::set_quota,
        crate::admin::quotas::list_quotas,
        crate::admin::members::get_member,
        crate::admin::members::change_member_status,
        crate::admin::members::set_credit_line,
        crate::admin::members::grant_coins,
        crate::admin::risk::list_risk_rules,
        crate::admin::risk::create_risk_rule,
        crate::admin::risk::set_risk_rule_status,
        crate::payment_api::create_payment,
        crate::payment_api::get_payment,
        crate::agreement_api::create_agreement,
        crate::agreement_api::confirm_agreement,
        crate::agreement_api::terminate_agreement,
        crate::agreement_api::get_agreement,
        crate::agreement_api::find_agreement,
        crate::payment_api::find_payment,
        crate::payment_api::close_payment,
        crate::payment_api::cancel_payment,
        crate::payment_api::create_refund,
        crate::payment_api::get_refund,
        crate::payment_api::find_refund,
        crate::payment_api::bill,
        crate::payment_api::merchant_balance,
        crate::notify_api::list_notifications,
        crate::notify_api::resend_notification,
        crate::callbacks::channel_notify,
        crate::callbacks::channel_return,
        crate::service::healthz,
        crate::service::readyz,
        crate::service::metrics,
        crate::service::openapi,
        crate::admin::merchants::create_merchant,
        crate::admin::merchants::list_merchants,
        crate::admin::merchants::get_merchant,
        crate::admin::merchants::update_kyb,
        crate::admin::merchants::change_status,
        crate::admin::merchants::add_key,
        crate::admin::merchants::list_keys,
        crate::admin::merchants::revoke_key,
        crate::admin::merchants::set_product,
        crate::admin::merchants::list_products,
        crate::admin::merchants::audit,
        crate::admin::operators::create_operator,
        crate::admin::operators::list_operators,
        crate::admin::operators::disable_operator,
        crate::admin::operators::rotate_operator,
        crate::admin::channels::list_channels,
        crate::admin::channels::change_channel,
        crate::admin::channels::channel_balance,
        crate::admin::channels::alerts,
        crate::admin::channels::daily_report,
        crate::admin::ledger::day_end,
        crate::admin::ledger::trial_balance,
        crate::admin::ledger::verify,
        crate::admin::ledger::account_balance,
        crate::admin::ledger::statement,
    ),
    components(schemas(paycore_api::ErrorBody, paycore_api::ErrorDetail, paycore_api::ErrorCode)),
    modifiers(&Security)
)]
struct ApiDoc;

/// The document this server serves: the platform's operations, and the sandbox's when it runs
/// the sandbox channels.
pub fn document(sandbox: bool) -> Value {
    let mut doc = ApiDoc::openapi();
    if sandbox {
        doc.merge(paycore_sandbox::openapi());
    }
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    complete(&mut doc);
    doc
}

fn error_ref() -> Value {
    json!({"$ref": "#/components/schemas/ErrorBody"})
}

/// The outline of an OpenAPI document, for the answer of `GET /openapi.json`.
fn document_schema() -> Value {
    json!({
        "type": "object",
        "required": ["openapi", "info", "paths"],
        "properties": {
            "openapi": {"type": "string"},
            "info": {
                "type": "object",
                "required": ["title", "version"],
                "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
                "additionalProperties": true
            },
            "paths": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": true}},
            "components": {"type": "object", "additionalProperties": true}
        },
        "additionalProperties": true
    })
}

/// Adds the error answers and the signature headers to every operation.
fn complete(doc: &mut Value) {
    if let Some(s) =
        doc.pointer_mut("/paths/~1openapi.json/get/responses/200/content/application~1json/schema")
    {
        *s = document_schema();
    }
    if let Some(refund) = doc.pointer_mut("/components/schemas/CreateRefund") {
        // Which payment: by the platform's id or by the merchant's number.
        refund["anyOf"] = json!([{"required": ["payment_id"]}, {"required": ["out_trade_no"]}]);
    }
    let optional_bodies = optional_bodies(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(body) = op.get_mut("requestBody") {
                let schema = body
                    .pointer("/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if optional_bodies.iter().any(|r| r == schema) {
                    body["required"] = json!(false);
                }
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            if let Some(responses) = responses {
                add_errors(responses, &errors(&id));
                if path.starts_with("/v1/") {
                    add_signature_headers(responses);
                }
            }
        }
    }
}

/// The request bodies with no required field: an empty body is taken as `{}` (see
/// `extract::JsonBody`), so for them a body is optional.
fn optional_bodies(doc: &Value) -> Vec<String> {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    schemas
        .iter()
        .filter(|(_, s)| {
            s.get("type") == Some(&json!("object"))
                && s.get("anyOf").is_none()
                && s.get("required")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
        })
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect()
}

fn add_errors(responses: &mut Map<String, Value>, codes: &[ErrorCode]) {
    let mut by_status: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
    for c in codes {
        by_status.entry(c.status()).or_default().push(c.as_str());
    }
    for (status, names) in by_status {
        let description = format!("error: {}", names.join(", "));
        let entry = responses.entry(status.to_string()).or_insert_with(|| {
            json!({"description": description, "content": {"application/json": {"schema": error_ref()}}})
        });
        // A success-shaped answer on the same status (day-end's failed checks): either body.
        if let Some(schema) = entry.pointer_mut("/content/application~1json/schema") {
            if *schema != error_ref() {
                *schema = json!({"oneOf": [schema.clone(), error_ref()]});
                if let Some(d) = entry.get_mut("description") {
                    *d = json!(format!("{}; or {description}", d.as_str().unwrap_or("")));
                }
            }
        }
    }
}

fn add_signature_headers(responses: &mut Map<String, Value>) {
    let header = |d: &str| json!({"description": d, "schema": {"type": "string"}});
    for (_, r) in responses.iter_mut() {
        let Some(r) = r.as_object_mut() else {
            continue;
        };
        let headers = r.entry("headers").or_insert_with(|| json!({}));
        if let Some(h) = headers.as_object_mut() {
            h.insert(
                "Paycore-Key-Id".into(),
                header("the platform key that signed the answer"),
            );
            h.insert(
                "Paycore-Timestamp".into(),
                header("unix seconds of the signature"),
            );
            h.insert("Paycore-Nonce".into(), header("the signature's nonce"));
            h.insert(
                "Paycore-Signature".into(),
                header("base64 signature over timestamp\\nnonce\\nBODY\\n"),
            );
            h.insert("Paycore-Request-Id".into(), header("the request's id"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every documented operation lists at least the errors every call can answer.
    #[test]
    fn every_operation_lists_its_errors_and_v1_its_signature() {
        let doc = document(true);
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 30, "{}", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let r = op["responses"].as_object().unwrap();
                assert!(r.contains_key("405"), "{method} {path}: no 405");
                if path.starts_with("/v1/") {
                    let ok = r.keys().find(|k| k.starts_with('2')).unwrap();
                    assert!(
                        r[ok]["headers"]["Paycore-Signature"].is_object(),
                        "{method} {path}"
                    );
                }
            }
        }
    }
}

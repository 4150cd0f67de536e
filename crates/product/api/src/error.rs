//! The error shape and codes of the API: HTTP status plus
//! `{"error": {"code", "message", "request_id"}}`.

use serde::Serialize;
use utoipa::ToSchema;

/// Every code the API answers, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidSignature,
    TimestampOutOfWindow,
    ReplayedNonce,
    UnknownMerchant,
    Unauthenticated,
    ProductNotEnabled,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    IdempotencyConflict,
    InvalidState,
    PayloadTooLarge,
    UnsupportedMediaType,
    InsufficientBalance,
    LimitExceeded,
    RiskRejected,
    AmountExceedsRefundable,
    VerificationFailed,
    /// The payer's bank refused a card part; nothing was charged.
    PaymentDeclined,
    RateLimited,
    Internal,
    ChannelUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidSignature,
        ErrorCode::TimestampOutOfWindow,
        ErrorCode::ReplayedNonce,
        ErrorCode::UnknownMerchant,
        ErrorCode::Unauthenticated,
        ErrorCode::ProductNotEnabled,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IdempotencyConflict,
        ErrorCode::InvalidState,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InsufficientBalance,
        ErrorCode::LimitExceeded,
        ErrorCode::RiskRejected,
        ErrorCode::AmountExceedsRefundable,
        ErrorCode::VerificationFailed,
        ErrorCode::PaymentDeclined,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::ChannelUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::InvalidSignature => "INVALID_SIGNATURE",
            ErrorCode::TimestampOutOfWindow => "TIMESTAMP_OUT_OF_WINDOW",
            ErrorCode::ReplayedNonce => "REPLAYED_NONCE",
            ErrorCode::UnknownMerchant => "UNKNOWN_MERCHANT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::ProductNotEnabled => "PRODUCT_NOT_ENABLED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::InsufficientBalance => "INSUFFICIENT_BALANCE",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::RiskRejected => "RISK_REJECTED",
            ErrorCode::AmountExceedsRefundable => "AMOUNT_EXCEEDS_REFUNDABLE",
            ErrorCode::VerificationFailed => "VERIFICATION_FAILED",
            ErrorCode::PaymentDeclined => "PAYMENT_DECLINED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::ChannelUnavailable => "CHANNEL_UNAVAILABLE",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::InvalidSignature
            | ErrorCode::TimestampOutOfWindow
            | ErrorCode::ReplayedNonce
            | ErrorCode::UnknownMerchant
            | ErrorCode::Unauthenticated => 401,
            ErrorCode::ProductNotEnabled | ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::IdempotencyConflict | ErrorCode::InvalidState => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::InsufficientBalance
            | ErrorCode::LimitExceeded
            | ErrorCode::RiskRejected
            | ErrorCode::AmountExceedsRefundable
            | ErrorCode::VerificationFailed
            | ErrorCode::PaymentDeclined => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::ChannelUnavailable => 503,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What was wrong, for a person.
    pub message: String,
    /// The request's id (also in the `Paycore-Request-Id` header); quote it to support.
    pub request_id: String,
}

//! API errors: the codes and statuses of `api.md`, mapped from each module's errors in this
//! one place, always as `{"error": {"code", "message", "request_id"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paycore_core::acquiring::AcquiringError;
use paycore_core::merchant::MerchantError;
use paycore_store::StoreError;
use serde::Serialize;

use crate::observe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    PayloadTooLarge,
    InvalidSignature,
    TimestampOutOfWindow,
    ReplayedNonce,
    UnknownMerchant,
    Unauthenticated,
    ProductNotEnabled,
    Forbidden,
    NotFound,
    IdempotencyConflict,
    InvalidState,
    InsufficientBalance,
    LimitExceeded,
    RiskRejected,
    AmountExceedsRefundable,
    VerificationFailed,
    RateLimited,
    Internal,
    ChannelUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::InvalidSignature => "INVALID_SIGNATURE",
            ErrorCode::TimestampOutOfWindow => "TIMESTAMP_OUT_OF_WINDOW",
            ErrorCode::ReplayedNonce => "REPLAYED_NONCE",
            ErrorCode::UnknownMerchant => "UNKNOWN_MERCHANT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::ProductNotEnabled => "PRODUCT_NOT_ENABLED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::InsufficientBalance => "INSUFFICIENT_BALANCE",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::RiskRejected => "RISK_REJECTED",
            ErrorCode::AmountExceedsRefundable => "AMOUNT_EXCEEDS_REFUNDABLE",
            ErrorCode::VerificationFailed => "VERIFICATION_FAILED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::ChannelUnavailable => "CHANNEL_UNAVAILABLE",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidSignature
            | ErrorCode::TimestampOutOfWindow
            | ErrorCode::ReplayedNonce
            | ErrorCode::UnknownMerchant
            | ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::ProductNotEnabled | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::IdempotencyConflict | ErrorCode::InvalidState => StatusCode::CONFLICT,
            ErrorCode::InsufficientBalance
            | ErrorCode::LimitExceeded
            | ErrorCode::RiskRejected
            | ErrorCode::AmountExceedsRefundable
            | ErrorCode::VerificationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ChannelUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such object")
    }

    /// An internal failure: the cause chain goes to the error log, the client sees only the
    /// code and request id.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(target: "error", code = "INTERNAL", message = %err, cause = %chain);
        Self::new(
            ErrorCode::Internal,
            "internal error; quote the request_id to support",
        )
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_string(),
                message: self.message,
                request_id: observe::current_request_id(),
            },
        };
        let mut resp = (self.code.status(), axum::Json(body)).into_response();
        resp.extensions_mut().insert(self.code);
        resp
    }
}

impl From<MerchantError> for ApiError {
    fn from(e: MerchantError) -> Self {
        match e {
            MerchantError::NotFound | MerchantError::KeyNotFound => ApiError::not_found(),
            MerchantError::Invalid(m) => ApiError::invalid(m),
            MerchantError::IllegalTransition(t) => {
                ApiError::new(ErrorCode::InvalidState, t.to_string())
            }
            MerchantError::Concurrent => ApiError::new(ErrorCode::InvalidState, e.to_string()),
            MerchantError::Money(m) => ApiError::invalid(m.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

impl From<AcquiringError> for ApiError {
    fn from(e: AcquiringError) -> Self {
        let code = match &e {
            AcquiringError::Invalid(_) | AcquiringError::ChannelMessage(_) => {
                ErrorCode::InvalidRequest
            }
            AcquiringError::NotFound => return ApiError::not_found(),
            AcquiringError::ProductNotEnabled(_) => ErrorCode::ProductNotEnabled,
            AcquiringError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            AcquiringError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            AcquiringError::InvalidState(_) | AcquiringError::IllegalTransition(_) => {
                ErrorCode::InvalidState
            }
            AcquiringError::ExceedsRefundable { .. } => ErrorCode::AmountExceedsRefundable,
            AcquiringError::InsufficientBalance(_) => ErrorCode::InsufficientBalance,
            AcquiringError::RiskRejected(_) => ErrorCode::RiskRejected,
            AcquiringError::ChannelUnavailable(_) => ErrorCode::ChannelUnavailable,
            AcquiringError::Merchant(MerchantError::NotFound) => return ApiError::not_found(),
            AcquiringError::Money(m) => return ApiError::invalid(m.to_string()),
            _ => return ApiError::internal(&e),
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

//! API errors: each module's errors mapped to the codes of the API in this one place, always
//! answered as `{"error": {"code", "message", "request_id"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paycore_acquiring::AcquiringError;
use paycore_api::{ErrorBody, ErrorCode, ErrorDetail};
use paycore_merchant::MerchantError;
use paycore_notify::NotifyError;
use paycore_operators::OperatorError;
use paycore_store::StoreError;

use crate::observe;

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

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                request_id: observe::current_request_id(),
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
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
            AcquiringError::InvalidState(_)
            | AcquiringError::IllegalTransition(_)
            | AcquiringError::Concurrent(_) => ErrorCode::InvalidState,
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

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::NotFound => ApiError::not_found(),
            NotifyError::Invalid(m) => ApiError::invalid(m),
            NotifyError::IllegalTransition(t) => {
                ApiError::new(ErrorCode::InvalidState, t.to_string())
            }
            NotifyError::Concurrent => ApiError::new(ErrorCode::InvalidState, e.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::Invalid(m) => ApiError::invalid(m),
            OperatorError::NotFound => ApiError::new(ErrorCode::NotFound, e.to_string()),
            OperatorError::InvalidState(m) => ApiError::new(ErrorCode::InvalidState, m),
            OperatorError::KeyReused | OperatorError::InProgress => {
                ApiError::new(ErrorCode::IdempotencyConflict, e.to_string())
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

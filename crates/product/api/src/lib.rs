//! The request and response types of paycore's open API (`/v1`) and operator API
//! (`/admin/v1`), with their OpenAPI schemas. What the server enforces is what these say: the
//! generated document (`GET /openapi.json`) describes every body field by field. The merchant
//! contract in prose is `docs/merchant-api.md`.

pub mod agreements;
pub mod backoffice;
pub mod cashier;
pub mod error;
pub mod fields;
pub mod marketing;
pub mod members;
pub mod merchant;
pub mod operators;
pub mod payments;
pub mod quota;
pub mod risk;
pub mod service;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};

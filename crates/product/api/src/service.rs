//! Service endpoints: liveness and readiness.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `sqlite`, `postgres` or `unreachable`.
    pub database: String,
}

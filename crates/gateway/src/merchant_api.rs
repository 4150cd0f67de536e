//! The merchant API (`/v1`) this far: who am I, and the platform's public keys.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;

use crate::admin::ContractView;
use crate::auth::AuthedMerchant;
use crate::error::ApiResult;
use crate::signing::PublishedKey;
use crate::{rfc3339, AppState};

#[derive(Serialize, utoipa::ToSchema)]
pub struct MerchantKeyRef {
    pub key_id: String,
    pub algorithm: String,
    pub status: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub merchant_id: String,
    pub name: String,
    pub status: String,
    /// The key this request was signed with.
    pub key_id: String,
    pub keys: Vec<MerchantKeyRef>,
    pub products: Vec<ContractView>,
    pub created_at: String,
    pub updated_at: String,
}

/// Who am I: proves a merchant's integration (signing, keys, clock) end to end.
#[utoipa::path(get, path = "/v1/merchant", tag = "merchants",
    responses((status = 200, body = WhoAmI), (status = 401, body = crate::error::ErrorBody)),
    security(("paycore_signature" = [])))]
pub async fn whoami(
    State(app): State<AppState>,
    Extension(me): Extension<Arc<AuthedMerchant>>,
) -> ApiResult<Json<WhoAmI>> {
    let m = app.merchants.get(&me.merchant_id).await?;
    let keys = app.merchants.keys(&me.merchant_id).await?;
    let products = app.merchants.contracts(&me.merchant_id).await?;
    Ok(Json(WhoAmI {
        merchant_id: m.merchant_id,
        name: m.name,
        status: m.status.as_str().to_string(),
        key_id: me.key_id.clone(),
        keys: keys
            .into_iter()
            .map(|k| MerchantKeyRef {
                key_id: k.key_id,
                algorithm: k.algorithm.as_str().to_string(),
                status: k.status.as_str().to_string(),
            })
            .collect(),
        products: products.into_iter().map(Into::into).collect(),
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.updated_at),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlatformKeyList {
    pub keys: Vec<PublishedKey>,
}

/// The platform's public keys, to verify response and notification signatures. No
/// authentication needed: a client fetches these before it can check anything.
#[utoipa::path(get, path = "/v1/platform/keys", tag = "merchants",
    responses((status = 200, body = PlatformKeyList)))]
pub async fn platform_keys(State(app): State<AppState>) -> Json<PlatformKeyList> {
    Json(PlatformKeyList {
        keys: app.platform.published().to_vec(),
    })
}

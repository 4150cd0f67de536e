//! Who am I, and the platform's public keys.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use paycore_api::fields::rfc3339;
use paycore_api::merchant::{MerchantKeyRef, PlatformKeyList, WhoAmI};

use crate::auth::AuthedMerchant;
use crate::error::ApiResult;
use crate::views;
use crate::AppState;

/// Who am I: proves a merchant's integration (signing, keys, clock) end to end.
#[utoipa::path(get, path = "/v1/merchant", tag = "merchants",
    responses((status = 200, body = WhoAmI)), security(("paycore_signature" = [])))]
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
        status: views::merchant_status(m.status),
        key_id: me.key_id.clone(),
        keys: keys
            .into_iter()
            .map(|k| MerchantKeyRef {
                key_id: k.key_id,
                algorithm: views::algorithm(k.algorithm),
                status: views::key_status(k.status),
            })
            .collect(),
        products: products.into_iter().map(views::contract).collect(),
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.updated_at),
    }))
}

/// The platform's public keys, to verify response and notification signatures. No
/// authentication needed: a client fetches these before it can check anything.
#[utoipa::path(get, path = "/v1/platform/keys", tag = "merchants",
    responses((status = 200, body = PlatformKeyList)))]
pub async fn platform_keys(State(app): State<AppState>) -> Json<PlatformKeyList> {
    Json(PlatformKeyList {
        keys: app.platform.published(),
    })
}

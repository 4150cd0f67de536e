//! Operator calls for merchants: onboarding, KYB, status, keys, contracts, and the audit trail.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::fields::rfc3339;
use paycore_api::merchant::{ContractObject, ContractStatusName, KeyAlgorithm};
use paycore_api::operators::{
    AuditEntry, ChangeStatus, CreateKey, CreateMerchant, KeyView, KybFields, MerchantEventName,
    MerchantView, SetProduct,
};
use paycore_kernel::Currency;
use paycore_merchant::{ContractStatus, ContractTerms, CurrencyTerms, MerchantEvent, NewKey};
use paycore_operators::Operator;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::views;
use crate::AppState;

#[derive(Deserialize)]
pub struct Page {
    pub after: Option<String>,
    pub limit: Option<i64>,
}

fn actor(op: &Operator) -> String {
    format!("operator:{}", op.operator_id)
}

/// Create a merchant (in sandbox mode it is active at once; otherwise it is onboarding until
/// its KYB is complete and an operator activates it).
#[utoipa::path(post, path = "/admin/v1/merchants", tag = "operators", request_body = CreateMerchant,
    responses((status = 201, body = MerchantView)), security(("operator" = [])))]
pub async fn create_merchant(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    JsonBody(req): JsonBody<CreateMerchant>,
) -> ApiResult<(StatusCode, Json<MerchantView>)> {
    let kyb = views::kyb(req.kyb.unwrap_or_default());
    let m = app.merchants.create(&req.name, &kyb, &actor(&op)).await?;
    Ok((StatusCode::CREATED, Json(views::merchant(m))))
}

/// Merchants in creation order, a page at a time.
#[utoipa::path(get, path = "/admin/v1/merchants", tag = "operators",
    params(("after" = Option<String>, Query, description = "the last merchant id of the previous page"),
           ("limit" = Option<i64>, Query, description = "1 to 500 (default 100)", minimum = 1, maximum = 500)),
    responses((status = 200, body = [MerchantView])), security(("operator" = [])))]
pub async fn list_merchants(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<Json<Vec<MerchantView>>> {
    let list = app
        .merchants
        .list(
            p.after.as_deref(),
            crate::extract::page_limit(p.limit, 100, 500)?,
        )
        .await?;
    Ok(Json(list.into_iter().map(views::merchant).collect()))
}

#[utoipa::path(get, path = "/admin/v1/merchants/{merchant_id}", tag = "operators",
    params(("merchant_id" = String, Path)),
    responses((status = 200, body = MerchantView)), security(("operator" = [])))]
pub async fn get_merchant(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MerchantView>> {
    Ok(Json(views::merchant(app.merchants.get(&id).await?)))
}

/// Replace the KYB fields that are given (others are kept).
#[utoipa::path(patch, path = "/admin/v1/merchants/{merchant_id}", tag = "operators",
    params(("merchant_id" = String, Path)),
    request_body = KybFields, responses((status = 200, body = MerchantView)), security(("operator" = [])))]
pub async fn update_kyb(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    JsonBody(kyb): JsonBody<KybFields>,
) -> ApiResult<Json<MerchantView>> {
    let m = app.merchants.update_kyb(&id, &views::kyb(kyb)).await?;
    Ok(Json(views::merchant(m)))
}

/// Move the merchant through its status machine (activation needs complete KYB).
#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/status", tag = "operators",
    params(("merchant_id" = String, Path)),
    request_body = ChangeStatus, responses((status = 200, body = MerchantView)), security(("operator" = [])))]
pub async fn change_status(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<ChangeStatus>,
) -> ApiResult<Json<MerchantView>> {
    if req
        .reason
        .as_deref()
        .is_some_and(|r| !paycore_api::fields::printable(r) || r.chars().count() > 256)
    {
        return Err(ApiError::invalid(
            "reason must be at most 256 printable characters",
        ));
    }
    let event = match req.event {
        MerchantEventName::Activate => MerchantEvent::Activate,
        MerchantEventName::Freeze => MerchantEvent::Freeze,
        MerchantEventName::Unfreeze => MerchantEvent::Unfreeze,
    };
    let m = app
        .merchants
        .transition(&id, event, &actor(&op), req.reason.as_deref())
        .await?;
    Ok(Json(views::merchant(m)))
}

/// Register a key: a public key (RSA2 ≥ 2048 bits, Ed25519) in PEM, or an HMAC secret the
/// platform generates and shows in this answer only.
#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/keys", tag = "operators",
    params(("merchant_id" = String, Path)),
    request_body = CreateKey,
    responses((status = 201, description = "a new key", body = KeyView),
              (status = 200, description = "this public key was registered before", body = KeyView)),
    security(("operator" = [])))]
pub async fn add_key(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    let algorithm = views::key_algorithm(req.algorithm);
    let new = match (req.algorithm, req.public_key_pem.as_deref()) {
        (KeyAlgorithm::HmacSha256, None) => NewKey::Hmac,
        (KeyAlgorithm::HmacSha256, Some(_)) => {
            return Err(ApiError::invalid(
                "HMAC-SHA256 keys are generated by the platform; send no public_key_pem",
            ))
        }
        (_, Some(pem)) => NewKey::PublicKey { algorithm, pem },
        (_, None) => {
            return Err(ApiError::invalid(
                "public_key_pem is required for RSA2 and ED25519",
            ))
        }
    };
    let (key, secret, created) = app.merchants.add_key(&id, new).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(views::key(key, secret.map(|s| s.into_inner()))),
    ))
}

#[utoipa::path(get, path = "/admin/v1/merchants/{merchant_id}/keys", tag = "operators",
    params(("merchant_id" = String, Path)),
    responses((status = 200, body = [KeyView])), security(("operator" = [])))]
pub async fn list_keys(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<KeyView>>> {
    app.merchants.get(&id).await?;
    let keys = app.merchants.keys(&id).await?;
    Ok(Json(
        keys.into_iter().map(|k| views::key(k, None)).collect(),
    ))
}

/// Revoke a key: requests signed with it are refused from now on.
#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/keys/{key_id}/revoke", tag = "operators",
    params(("merchant_id" = String, Path), ("key_id" = String, Path)),
    responses((status = 200, body = KeyView)), security(("operator" = [])))]
pub async fn revoke_key(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    ApiPath((id, key_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<KeyView>> {
    let key = app.merchants.revoke_key(&id, &key_id, &actor(&op)).await?;
    Ok(Json(views::key(key, None)))
}

fn terms(req: SetProduct) -> ApiResult<ContractTerms> {
    let top = req.fixed_fee.is_some()
        || req.fee_currency.is_some()
        || req.min_amount.is_some()
        || req.max_amount.is_some();
    let currencies = match (req.currencies, top) {
        (Some(_), true) => {
            return Err(ApiError::invalid(
                "give either currencies or fee_currency/fixed_fee/min_amount/max_amount",
            ))
        }
        (Some(list), false) => list
            .into_iter()
            .map(|c| CurrencyTerms {
                currency: c.currency.0,
                fixed_fee: c.fixed_fee,
                min_amount: c.min_amount,
                max_amount: c.max_amount,
            })
            .collect(),
        (None, _) => vec![CurrencyTerms {
            currency: req.fee_currency.map_or(Currency::CNY, |c| c.0),
            fixed_fee: req.fixed_fee.map_or(0, |f| f.0),
            min_amount: req.min_amount.map(|a| a.0),
            max_amount: req.max_amount.map(|a| a.0),
        }],
    };
    Ok(ContractTerms {
        fee_rate_bps: req.fee_rate_bps,
        currencies,
        status: match req.status {
            None | Some(ContractStatusName::Enabled) => ContractStatus::Enabled,
            Some(ContractStatusName::Disabled) => ContractStatus::Disabled,
        },
    })
}

/// Set the merchant's contract for a product: the fee rate, and the currencies it accepts with
/// each one's fixed fee and limits. The same terms again change nothing; new terms are a new
/// version.
#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/products", tag = "operators",
    params(("merchant_id" = String, Path)),
    request_body = SetProduct, responses((status = 200, body = ContractObject)), security(("operator" = [])))]
pub async fn set_product(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<SetProduct>,
) -> ApiResult<Json<ContractObject>> {
    let product = req.product.0;
    let terms = terms(req)?;
    let c = app.merchants.set_contract(&id, product, &terms).await?;
    Ok(Json(views::contract(c)))
}

#[utoipa::path(get, path = "/admin/v1/merchants/{merchant_id}/products", tag = "operators",
    params(("merchant_id" = String, Path)),
    responses((status = 200, body = [ContractObject])), security(("operator" = [])))]
pub async fn list_products(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<ContractObject>>> {
    app.merchants.get(&id).await?;
    let list = app.merchants.contracts(&id).await?;
    Ok(Json(list.into_iter().map(views::contract).collect()))
}

/// Operator actions, newest first.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "operators",
    params(("limit" = Option<i64>, Query, description = "1 to 1000 (default 100)", minimum = 1, maximum = 1000)),
    responses((status = 200, body = [AuditEntry])), security(("operator" = [])))]
pub async fn audit(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<Page>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let entries = app
        .operators
        .audit_log(crate::extract::page_limit(p.limit, 100, 1000)?)
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditEntry {
                operator: e.operator,
                role: e.role,
                client_address: e.client,
                route: e.route,
                target: e.target,
                outcome: e.outcome,
                action: e.action,
                detail: e.detail,
                at: rfc3339(e.at),
            })
            .collect(),
    ))
}

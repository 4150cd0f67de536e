//! The operator API (`/admin/v1`): bearer tokens with roles, every change audited, and
//! `Idempotency-Key` on creating calls so that a deployment script can safely run twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use paycore_core::merchant::{
    Contract, ContractStatus, ContractTerms, Kyb, Merchant, MerchantEvent, MerchantKey, NewKey,
};
use paycore_core::product::Product;
use paycore_kernel::crypto::{random_token, sha256_hex, Algorithm};
use paycore_kernel::{Currency, Money};
use paycore_store::{Db, Row, StoreError};
use serde::{Deserialize, Serialize};

use crate::auth::read_body;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{JsonBody, NonNegative};
use crate::{rfc3339, AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
    pub role: Role,
}

/// Operator tokens, stored as SHA-256 hashes (a token is a 40-character random string, so a
/// fast hash is enough; nothing to brute-force).
pub struct Operators {
    db: Db,
    cache: Mutex<HashMap<String, Operator>>,
}

impl Operators {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Registers `token` (from `PAYCORE_ADMIN_TOKEN`) unless it is known already.
    pub async fn ensure(
        &self,
        name: &str,
        token: &str,
        role: Role,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operators (name, token_hash, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(name)
        .bind(sha256_hex(token.as_bytes()))
        .bind(role.as_str())
        .bind(now)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    /// On a database without operators, creates an admin and returns its token (shown once).
    pub async fn bootstrap(&self, now: i64) -> Result<Option<String>, ApiError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM operators")
            .fetch_one(self.db.writer())
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(StoreError::from)?;
        if n > 0 {
            return Ok(None);
        }
        let token = random_token(40).map_err(|e| ApiError::internal(&e))?;
        self.ensure("admin", &token, Role::Admin, now).await?;
        Ok(Some(token))
    }

    async fn find(&self, token: &str) -> Result<Option<Operator>, StoreError> {
        let hash = sha256_hex(token.as_bytes());
        if let Some(op) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(Some(op.clone()));
        }
        let row = sqlx::query("SELECT name, role FROM operators WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(self.db.reader())
            .await?;
        let op = match row {
            Some(r) => {
                let role: String = r.try_get("role")?;
                Role::parse(&role).map(|role| Operator {
                    name: r.try_get("name").unwrap_or_default(),
                    role,
                })
            }
            None => None,
        };
        if let Some(op) = &op {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(hash, op.clone());
        }
        Ok(op)
    }
}

/// Authenticates the operator, enforces the role, replays idempotent requests and audits
/// every change.
pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match guarded(app, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn guarded(app: AppState, req: Request, next: Next) -> ApiResult<Response> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "operator token required (Authorization: Bearer …)",
            )
        })?;
    let op = app
        .operators
        .find(token.trim())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "unknown operator token"))?;
    let writes = req.method() != Method::GET && req.method() != Method::HEAD;
    if writes && op.role == Role::Viewer {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "viewers cannot change anything",
        ));
    }
    if !writes {
        let mut req = req;
        req.extensions_mut().insert(op);
        return Ok(next.run(req).await);
    }
    let idem_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut parts, body) = req.into_parts();
    let body = read_body(body, app.config.max_body_bytes).await?;
    let action = format!("{} {}", parts.method, parts.uri.path());
    let request_hash = sha256_hex(&[action.as_bytes(), b"\n", &body].concat());
    if let Some(key) = &idem_key {
        if key.is_empty() || key.len() > 128 {
            return Err(ApiError::invalid(
                "Idempotency-Key must be 1 to 128 characters",
            ));
        }
        if let Some(replay) =
            idempotent_replay(&app.db, key, &request_hash, app.clock.unix_millis()).await?
        {
            return Ok(replay);
        }
    }
    parts.extensions.insert(op.clone());
    let detail = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if let Some(key) = &idem_key {
        let stored = redact_secrets(&bytes);
        sqlx::query(
            "UPDATE operator_requests SET status_code = $1, response = $2 WHERE idempotency_key = $3",
        )
        .bind(i64::from(parts.status.as_u16()))
        .bind(stored)
        .bind(key)
        .execute(app.db.writer())
        .await
        .map_err(StoreError::from)?;
    }
    sqlx::query(
        "INSERT INTO audit_log (operator, action, target, detail, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&op.name)
    .bind(&action)
    .bind(parts.status.as_u16().to_string())
    .bind(detail)
    .bind(app.clock.unix_millis())
    .execute(app.db.writer())
    .await
    .map_err(StoreError::from)?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Reserves the key, or answers with what the first request got.
async fn idempotent_replay(
    db: &Db,
    key: &str,
    hash: &str,
    now: i64,
) -> ApiResult<Option<Response>> {
    let reserved = sqlx::query(
        "INSERT INTO operator_requests (idempotency_key, operation, request_hash, status_code, response,
            created_at) VALUES ($1, '', $2, 0, '', $3) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(key)
    .bind(hash)
    .bind(now)
    .execute(db.writer())
    .await
    .map_err(StoreError::from)?;
    if reserved.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT request_hash, status_code, response FROM operator_requests WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(db.writer())
        .await
        .map_err(StoreError::from)?;
    let stored_hash: String = row.try_get("request_hash").map_err(StoreError::from)?;
    let status: i64 = row.try_get("status_code").map_err(StoreError::from)?;
    if stored_hash != hash {
        return Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            "Idempotency-Key was used with a different request",
        ));
    }
    if status == 0 {
        return Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            "a request with this Idempotency-Key is still in progress",
        ));
    }
    let body: String = row.try_get("response").map_err(StoreError::from)?;
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Some(resp))
}

/// A shown-once secret is not stored for replays.
fn redact_secrets(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            if map.remove("secret").is_some() {
                map.insert("secret_redacted".into(), serde_json::Value::Bool(true));
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

// ---- resources ----

#[derive(Serialize, utoipa::ToSchema)]
pub struct MerchantView {
    pub merchant_id: String,
    pub name: String,
    /// onboarding | active | frozen
    pub status: String,
    #[schema(value_type = Object)]
    pub kyb: Kyb,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Merchant> for MerchantView {
    fn from(m: Merchant) -> Self {
        MerchantView {
            merchant_id: m.merchant_id,
            name: m.name,
            status: m.status.as_str().to_string(),
            kyb: m.kyb,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub algorithm: String,
    /// active | revoked
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    /// The HMAC secret, in the answer that created it and never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
}

impl KeyView {
    pub fn new(k: MerchantKey, secret: Option<String>) -> Self {
        KeyView {
            key_id: k.key_id,
            algorithm: k.algorithm.as_str().to_string(),
            status: k.status.as_str().to_string(),
            public_key_pem: k.public_key_pem,
            secret,
            created_at: rfc3339(k.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContractView {
    pub contract_id: String,
    pub merchant_id: String,
    pub product: String,
    pub fee_rate_bps: u32,
    pub fixed_fee: i64,
    pub fee_currency: String,
    pub min_amount: Option<i64>,
    pub max_amount: Option<i64>,
    /// enabled | disabled
    pub status: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Contract> for ContractView {
    fn from(c: Contract) -> Self {
        ContractView {
            contract_id: c.contract_id,
            merchant_id: c.merchant_id,
            product: c.product.as_str().to_string(),
            fee_rate_bps: c.fee_rate_bps,
            fixed_fee: c.fixed_fee.minor(),
            fee_currency: c.fixed_fee.currency().code().to_string(),
            min_amount: c.min_amount,
            max_amount: c.max_amount,
            status: c.status.as_str().to_string(),
            version: c.version,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchant {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub kyb: Kyb,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// RSA2 | ED25519 | HMAC-SHA256
    pub algorithm: String,
    pub public_key_pem: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetProduct {
    pub product: String,
    pub fee_rate_bps: u32,
    #[schema(value_type = Option<i64>)]
    pub fixed_fee: Option<NonNegative>,
    /// Currency of the fixed fee and the limits (default CNY).
    pub fee_currency: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub min_amount: Option<crate::extract::Amount>,
    #[schema(value_type = Option<i64>)]
    pub max_amount: Option<crate::extract::Amount>,
    /// enabled (default) | disabled
    pub status: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    /// activate | freeze | unfreeze
    pub event: String,
    pub reason: Option<String>,
}

#[derive(Deserialize)]
pub struct Page {
    pub after: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(post, path = "/admin/v1/merchants", tag = "operators", request_body = CreateMerchant,
    responses((status = 201, body = MerchantView)), security(("operator" = [])))]
pub async fn create_merchant(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    JsonBody(req): JsonBody<CreateMerchant>,
) -> ApiResult<(StatusCode, Json<MerchantView>)> {
    let m = app.merchants.create(&req.name, &req.kyb).await?;
    tracing::info!(target: "detail", operator = %op.name, merchant_id = %m.merchant_id, "merchant created");
    Ok((StatusCode::CREATED, Json(m.into())))
}

#[utoipa::path(get, path = "/admin/v1/merchants", tag = "operators",
    params(("after" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = [MerchantView])), security(("operator" = [])))]
pub async fn list_merchants(
    State(app): State<AppState>,
    Query(p): Query<Page>,
) -> ApiResult<Json<Vec<MerchantView>>> {
    let list = app
        .merchants
        .list(p.after.as_deref(), p.limit.unwrap_or(100))
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/admin/v1/merchants/{merchant_id}", tag = "operators",
    responses((status = 200, body = MerchantView)), security(("operator" = [])))]
pub async fn get_merchant(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<MerchantView>> {
    Ok(Json(app.merchants.get(&id).await?.into()))
}

#[utoipa::path(patch, path = "/admin/v1/merchants/{merchant_id}", tag = "operators",
    request_body = Object, responses((status = 200, body = MerchantView)), security(("operator" = [])))]
pub async fn update_kyb(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(kyb): JsonBody<Kyb>,
) -> ApiResult<Json<MerchantView>> {
    Ok(Json(app.merchants.update_kyb(&id, &kyb).await?.into()))
}

#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/status", tag = "operators",
    request_body = ChangeStatus, responses((status = 200, body = MerchantView)), security(("operator" = [])))]
pub async fn change_status(
    State(app): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ChangeStatus>,
) -> ApiResult<Json<MerchantView>> {
    let event = MerchantEvent::parse(&req.event)?;
    let m = app
        .merchants
        .transition(
            &id,
            event,
            &format!("operator:{}", op.name),
            req.reason.as_deref(),
        )
        .await?;
    Ok(Json(m.into()))
}

#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/keys", tag = "operators",
    request_body = CreateKey, responses((status = 201, body = KeyView), (status = 200, body = KeyView)),
    security(("operator" = [])))]
pub async fn add_key(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    let algorithm: Algorithm = req
        .algorithm
        .parse()
        .map_err(|_| ApiError::invalid("algorithm must be RSA2, ED25519 or HMAC-SHA256"))?;
    let new = match (algorithm, req.public_key_pem.as_deref()) {
        (Algorithm::HmacSha256, None) => NewKey::Hmac,
        (Algorithm::HmacSha256, Some(_)) => {
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
        Json(KeyView::new(key, secret.map(|s| s.into_inner()))),
    ))
}

#[utoipa::path(get, path = "/admin/v1/merchants/{merchant_id}/keys", tag = "operators",
    responses((status = 200, body = [KeyView])), security(("operator" = [])))]
pub async fn list_keys(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<KeyView>>> {
    app.merchants.get(&id).await?;
    let keys = app.merchants.keys(&id).await?;
    Ok(Json(
        keys.into_iter().map(|k| KeyView::new(k, None)).collect(),
    ))
}

#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/keys/{key_id}/revoke", tag = "operators",
    responses((status = 200, body = KeyView)), security(("operator" = [])))]
pub async fn revoke_key(
    State(app): State<AppState>,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<KeyView>> {
    Ok(Json(KeyView::new(
        app.merchants.revoke_key(&id, &key_id).await?,
        None,
    )))
}

#[utoipa::path(post, path = "/admin/v1/merchants/{merchant_id}/products", tag = "operators",
    request_body = SetProduct, responses((status = 200, body = ContractView)), security(("operator" = [])))]
pub async fn set_product(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<SetProduct>,
) -> ApiResult<Json<ContractView>> {
    let product: Product = req
        .product
        .parse()
        .map_err(|e: paycore_core::product::UnknownProduct| ApiError::invalid(e.to_string()))?;
    let currency = Currency::from_code(req.fee_currency.as_deref().unwrap_or("CNY"))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let status = match req.status.as_deref() {
        None => ContractStatus::Enabled,
        Some(s) => ContractStatus::parse(s)?,
    };
    let terms = ContractTerms {
        fee_rate_bps: req.fee_rate_bps,
        fixed_fee: Money::from_minor(req.fixed_fee.map(|f| f.0).unwrap_or(0), currency),
        min_amount: req.min_amount.map(|a| a.0),
        max_amount: req.max_amount.map(|a| a.0),
        status,
    };
    Ok(Json(
        app.merchants
            .set_contract(&id, product, &terms)
            .await?
            .into(),
    ))
}

#[utoipa::path(get, path = "/admin/v1/merchants/{merchant_id}/products", tag = "operators",
    responses((status = 200, body = [ContractView])), security(("operator" = [])))]
pub async fn list_products(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ContractView>>> {
    app.merchants.get(&id).await?;
    let list = app.merchants.contracts(&id).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub operator: String,
    pub action: String,
    pub status: String,
    pub detail: String,
    pub at: String,
}

#[utoipa::path(get, path = "/admin/v1/audit", tag = "operators",
    params(("limit" = Option<i64>, Query)), responses((status = 200, body = [AuditEntry])), security(("operator" = [])))]
pub async fn audit(
    State(app): State<AppState>,
    Query(p): Query<Page>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let rows = sqlx::query(
        "SELECT operator, action, target, detail, at FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(p.limit.unwrap_or(100).clamp(1, 1000))
    .fetch_all(app.db.reader())
    .await
    .map_err(StoreError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(AuditEntry {
            operator: r.try_get("operator").map_err(StoreError::from)?,
            action: r.try_get("action").map_err(StoreError::from)?,
            status: r.try_get("target").map_err(StoreError::from)?,
            detail: r.try_get("detail").map_err(StoreError::from)?,
            at: rfc3339(r.try_get("at").map_err(StoreError::from)?),
        });
    }
    Ok(Json(out))
}

pub fn routes(app: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/merchants",
            post(create_merchant).get(list_merchants),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}",
            get(get_merchant).patch(update_kyb),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/status",
            post(change_status),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/keys",
            post(add_key).get(list_keys),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/keys/{key_id}/revoke",
            post(revoke_key),
        )
        .route(
            "/admin/v1/merchants/{merchant_id}/products",
            post(set_product).get(list_products),
        )
        .route("/admin/v1/audit", get(audit))
        .layer(axum::middleware::from_fn_with_state(app, guard))
}

pub type SharedOperators = Arc<Operators>;

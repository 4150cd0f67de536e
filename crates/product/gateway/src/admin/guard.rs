//! The guard in front of `/admin/v1`: bearer tokens with roles, `Idempotency-Key` replays on
//! changing calls (so a deployment script can safely run twice), and the audit trail of every
//! change.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paycore_api::ErrorCode;
use paycore_kernel::crypto::sha256_hex;
use paycore_operators::{NewAudit, Operator, Replay, Role};

use crate::auth::read_body;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Authenticates the operator, enforces the role, replays idempotent requests and audits
/// every change.
pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match guarded(app, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn operator(app: &AppState, authorization: Option<String>) -> ApiResult<Operator> {
    let token = authorization
        .as_deref()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "operator token required (Authorization: Bearer …)",
            )
        })?;
    app.operators
        .find(token.trim())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "unknown operator token"))
}

async fn guarded(app: AppState, req: Request, next: Next) -> ApiResult<Response> {
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let op = operator(&app, authorization).await?;
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
        if let Replay::Answer(stored) = app
            .operators
            .reserve_request(key, &request_hash, app.clock.unix_millis())
            .await?
        {
            return Ok(replayed(stored.status, stored.body));
        }
    }
    parts.extensions.insert(op.clone());
    let detail = audit_detail(&body[..body.len().min(2048)]);
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if let Some(key) = &idem_key {
        app.operators
            .store_response(key, parts.status.as_u16(), &redact_secrets(&bytes))
            .await?;
    }
    app.operators
        .audit(&NewAudit {
            operator: &op.name,
            action: &action,
            outcome: &parts.status.as_u16().to_string(),
            detail: &detail,
            at: app.clock.unix_millis(),
        })
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replayed(status: u16, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// The request as the audit trail keeps it: a JSON object without secrets, anything else as a
/// JSON string (its control characters escaped).
fn audit_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => redact_secrets(body),
        _ => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()).to_string(),
    }
}

/// A shown-once secret is stored neither for replays nor in the audit trail.
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

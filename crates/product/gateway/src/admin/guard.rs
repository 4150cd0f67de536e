//! The guard in front of `/admin/v1`: bearer tokens, the role each route needs (the route
//! table in [`super::ROUTES`]), throttling of failed authentication per client address,
//! `Idempotency-Key` replays on changing calls (so a deployment script can safely run twice),
//! and the audit trail of every call — succeeded, refused or forbidden.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paycore_api::ErrorCode;
use paycore_kernel::crypto::{random_token, sha256_hex};
use paycore_operators::{audit_companion, NewAudit, Operator, Replay};
use paycore_store::unit::companion::with_companion;

use crate::auth::read_body;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The window of [`crate::GatewayConfig::operator_auth_failures`].
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// A bound on the addresses remembered (a flood from many addresses starts the map over).
const MAX_ADDRESSES: usize = 100_000;

/// Failed operator authentications by client address, in fixed windows.
#[derive(Default)]
pub struct AuthFailures(Mutex<HashMap<IpAddr, (Instant, u32)>>);

impl AuthFailures {
    fn blocked(&self, ip: IpAddr, allowed: u32) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        allowed > 0
            && map
                .get(&ip)
                .is_some_and(|(since, n)| since.elapsed() < FAILURE_WINDOW && *n >= allowed)
    }

    fn failed(&self, ip: IpAddr) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ADDRESSES {
            map.clear();
        }
        let e = map.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= FAILURE_WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

/// Who called, from where, and what: the facts every audit row carries.
struct Call {
    client: String,
    ip: Option<IpAddr>,
    method: Method,
    action: String,
    route: String,
    target: String,
}

impl Call {
    fn of(req: &Request) -> Call {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let path = req.uri().path().to_string();
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        Call {
            client: ip.map(|i| i.to_string()).unwrap_or_default(),
            ip,
            method: req.method().clone(),
            action: format!("{} {path}", req.method()),
            target: target(&route, &path),
            route,
        }
    }
}

/// The path's values where the route has parameters (`/merchants/{merchant_id}/keys/{key_id}`
/// → `M1/K1`): what the call acted on.
fn target(route: &str, path: &str) -> String {
    route
        .split('/')
        .zip(path.split('/'))
        .filter(|(r, _)| r.starts_with('{'))
        .map(|(_, p)| p)
        .collect::<Vec<_>>()
        .join("/")
}

pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let call = Call::of(&req);
    let limit = app.config.operator_auth_failures;
    if call
        .ip
        .is_some_and(|ip| app.auth_failures.blocked(ip, limit))
    {
        metrics::counter!("paycore_admin_auth_throttled_total").increment(1);
        return ApiError::new(
            ErrorCode::RateLimited,
            "too many failed operator authentications from this address; try again later",
        )
        .into_response();
    }
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let op = match operator(&app, authorization).await {
        Ok(op) => op,
        Err(e) => {
            // Only a refused token counts against the address, not a failure of ours.
            if let (Some(ip), ErrorCode::Unauthenticated) = (call.ip, e.code) {
                app.auth_failures.failed(ip);
            }
            audit(&app, &call, None, &e.code.status().to_string(), "").await;
            return e.into_response();
        }
    };
    match allowed(&call, &op) {
        Ok(()) => {}
        Err(e) => {
            audit(&app, &call, Some(&op), "403", "").await;
            return e.into_response();
        }
    }
    match guarded(&app, &call, op.clone(), req, next).await {
        Ok(r) => r,
        Err(e) => {
            audit(&app, &call, Some(&op), &e.code.status().to_string(), "").await;
            e.into_response()
        }
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
        .find(token.trim(), app.clock.unix_millis())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "unknown, disabled or expired operator token",
            )
        })
}

/// The route's declared permission against the operator's role. A route with none declared
/// is refused to everyone: a new route cannot ship open.
fn allowed(call: &Call, op: &Operator) -> ApiResult<()> {
    let needed = super::permission(call.method.as_str(), &call.route);
    match needed {
        Some(p) if op.role.may(p) => Ok(()),
        Some(p) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "the {} role may not do this (it needs the {} permission)",
                op.role.as_str(),
                p.as_str()
            ),
        )),
        // No route matched: let the router answer 404 (or 405).
        None if call.route.is_empty() => Ok(()),
        None => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this route has no declared permission",
        )),
    }
}

async fn guarded(
    app: &AppState,
    call: &Call,
    op: Operator,
    req: Request,
    next: Next,
) -> ApiResult<Response> {
    let writes = req.method() != Method::GET && req.method() != Method::HEAD;
    if !writes {
        let mut req = req;
        req.extensions_mut().insert(op.clone());
        return Ok(run_audited(app, call, &op, "", req, next).await);
    }
    let idem_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut parts, body) = req.into_parts();
    let body = read_body(body, app.config.max_body_bytes).await?;
    let request_hash = sha256_hex(&[call.action.as_bytes(), b"\n", &body].concat());
    if let Some(key) = &idem_key {
        if let Replay::Answer(stored) = app
            .operators
            .reserve_request(key, &request_hash, app.clock.unix_millis())
            .await?
        {
            let outcome = format!("{} (replayed)", stored.status);
            audit(app, call, Some(&op), &outcome, "").await;
            return Ok(replayed(stored.status, stored.body));
        }
    }
    parts.extensions.insert(op.clone());
    let detail = audit_detail(&body[..body.len().min(2048)]);
    let req = Request::from_parts(parts, Body::from(body));
    let resp = run_audited(app, call, &op, &detail, req, next).await;
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if let Some(key) = &idem_key {
        app.operators
            .store_response(key, parts.status.as_u16(), &redact_secrets(&bytes))
            .await?;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Runs the call with its audit row waiting to join the first transaction it makes, so that a
/// change and its row commit together (outcome `ok`). A call that changed nothing — a read, a
/// refusal by the handler, a failure before any write — is recorded afterwards with the status
/// it answered; one that changed something and then failed gets that second row as well.
async fn run_audited(
    app: &AppState,
    call: &Call,
    op: &Operator,
    detail: &str,
    req: Request,
    next: Next,
) -> Response {
    let Ok(call_ref) = random_token(32) else {
        let resp = next.run(req).await;
        audit(app, call, Some(op), resp.status().as_str(), detail).await;
        return resp;
    };
    let entry = NewAudit {
        operator: &op.operator_id,
        role: op.role.as_str(),
        client: &call.client,
        action: &call.action,
        route: &call.route,
        target: &call.target,
        outcome: "ok",
        detail,
        at: app.clock.unix_millis(),
    }
    .to_entry();
    let companion = audit_companion(entry, call_ref.clone());
    let resp = with_companion(companion, next.run(req)).await;
    let status = resp.status();
    let committed = app.operators.audited(&call_ref).await.unwrap_or_else(|e| {
        tracing::error!(target: "error", code = "AUDIT_READ", message = %e);
        false
    });
    match (committed, status.is_success()) {
        (true, true) => {}
        (true, false) => audit(app, call, Some(op), status.as_str(), "").await,
        (false, _) => audit(app, call, Some(op), status.as_str(), detail).await,
    }
    resp
}

/// Records one call. A failure to write the audit row is logged as an error; the call's own
/// answer stands (it has happened).
async fn audit(app: &AppState, call: &Call, op: Option<&Operator>, outcome: &str, detail: &str) {
    let entry = NewAudit {
        operator: op.map(|o| o.operator_id.as_str()).unwrap_or("-"),
        role: op.map(|o| o.role.as_str()).unwrap_or(""),
        client: &call.client,
        action: &call.action,
        route: &call.route,
        target: &call.target,
        outcome,
        detail,
        at: app.clock.unix_millis(),
    };
    if let Err(e) = app.operators.audit(&entry).await {
        tracing::error!(target: "error", code = "AUDIT_WRITE", message = %e, action = %call.action);
    }
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
            for field in ["secret", "token"] {
                if map.remove(field).is_some() {
                    map.insert(format!("{field}_redacted"), serde_json::Value::Bool(true));
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_target_is_the_paths_values() {
        assert_eq!(
            super::target(
                "/admin/v1/merchants/{merchant_id}/keys/{key_id}/revoke",
                "/admin/v1/merchants/M1/keys/K1/revoke"
            ),
            "M1/K1"
        );
        assert_eq!(
            super::target("/admin/v1/merchants", "/admin/v1/merchants"),
            ""
        );
    }
}

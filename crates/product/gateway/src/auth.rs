//! Merchant authentication (S1), exactly as `api.md` says:
//!
//! `Authorization: PAYCORE-<ALG> merchant_id="…",key_id="…",timestamp="…",nonce="…",signature="…"`
//! over `METHOD\nPATH_AND_QUERY\ntimestamp\nnonce\nBODY\n`, a ±300 s window, and nonces
//! remembered (in the database, so a restart does not reopen the window) until the request
//! could no longer pass the window check.
//!
//! The checks run in a fixed order, so the same bad request always gets the same answer, and
//! nothing is written before the signature has been verified.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use governor::{DefaultKeyedRateLimiter, Quota};
use paycore_kernel::crypto::Algorithm;
use paycore_merchant::{MerchantError, MerchantStatus};
use paycore_store::{Db, StoreError};

use crate::error::ApiError;
use crate::observe::MerchantTag;
use crate::AppState;
use paycore_api::ErrorCode;

/// The authenticated merchant, for handlers.
#[derive(Debug, Clone)]
pub struct AuthedMerchant {
    pub merchant_id: String,
    pub key_id: String,
    pub status: MerchantStatus,
}

#[derive(Debug, PartialEq, Eq)]
pub struct AuthHeader {
    pub algorithm: Algorithm,
    pub merchant_id: String,
    pub key_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
}

fn unauthenticated(m: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, m)
}

/// Parses the header strictly: known algorithm, each of the five parameters once, quoted.
pub fn parse_header(value: &str) -> Result<AuthHeader, ApiError> {
    let rest = value
        .strip_prefix("PAYCORE-")
        .ok_or_else(|| unauthenticated("Authorization must use the PAYCORE-<ALG> scheme"))?;
    let (alg, params) = rest
        .split_once(' ')
        .ok_or_else(|| unauthenticated("Authorization has no parameters"))?;
    let algorithm: Algorithm = alg
        .parse()
        .map_err(|_| unauthenticated("unknown signature algorithm (RSA2, ED25519, HMAC-SHA256)"))?;
    let mut fields: [Option<&str>; 5] = [None; 5];
    const NAMES: [&str; 5] = ["merchant_id", "key_id", "timestamp", "nonce", "signature"];
    for part in params.trim().split(',') {
        let (name, quoted) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| unauthenticated("Authorization parameters must be name=\"value\""))?;
        let value = quoted
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains('"'))
            .ok_or_else(|| unauthenticated("Authorization parameter values must be quoted"))?;
        let slot = NAMES
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| unauthenticated(&format!("unknown Authorization parameter {name:?}")))?;
        if fields[slot].replace(value).is_some() {
            return Err(unauthenticated(&format!(
                "Authorization parameter {name} repeated"
            )));
        }
    }
    let get = |i: usize| {
        fields[i]
            .filter(|v| !v.is_empty() && v.len() <= 1024)
            .ok_or_else(|| unauthenticated(&format!("Authorization needs {}", NAMES[i])))
    };
    let (merchant_id, key_id, ts, nonce, signature) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
    let timestamp = ts
        .parse::<i64>()
        .ok()
        .filter(|_| ts.len() <= 12 && ts.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| unauthenticated("timestamp must be unix seconds"))?;
    if !(16..=64).contains(&nonce.len()) || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(unauthenticated(
            "nonce must be 16 to 64 characters of [A-Za-z0-9]",
        ));
    }
    Ok(AuthHeader {
        algorithm,
        merchant_id: merchant_id.to_string(),
        key_id: key_id.to_string(),
        timestamp,
        nonce: nonce.to_string(),
        signature: signature.to_string(),
    })
}

/// The bytes a merchant signs.
pub fn signed_string(
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut s = Vec::with_capacity(method.len() + path_and_query.len() + body.len() + 48);
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        ts.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ] {
        s.extend_from_slice(part);
        s.push(b'\n');
    }
    s
}

/// Remembered nonces, per merchant. Concurrent requests share commits: a writer task takes
/// the nonces waiting and inserts them in one transaction, so a burst of requests costs one
/// durable commit instead of one each.
pub struct NonceStore {
    db: Db,
    queue: tokio::sync::mpsc::Sender<NonceRequest>,
}

type NonceRequest = (
    String,
    String,
    i64,
    tokio::sync::oneshot::Sender<Result<bool, String>>,
);

/// Most nonces one commit takes.
const NONCE_BATCH: usize = 512;

impl NonceStore {
    pub fn new(db: Db) -> Self {
        let (queue, rx) = tokio::sync::mpsc::channel(4 * NONCE_BATCH);
        tokio::spawn(nonce_writer(db.clone(), rx));
        Self { db, queue }
    }

    /// Records the nonce; false when the merchant used it before (a replay).
    pub async fn remember(
        &self,
        merchant_id: &str,
        nonce: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Corrupt("the nonce writer has stopped".into());
        self.queue
            .send((
                merchant_id.to_string(),
                nonce.to_string(),
                expires_at,
                reply,
            ))
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(StoreError::Corrupt)
    }

    /// Forgets nonces whose requests can no longer pass the timestamp check.
    pub async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM api_nonces WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.writer())
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected())
    }
}

async fn nonce_writer(db: Db, mut rx: tokio::sync::mpsc::Receiver<NonceRequest>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < NONCE_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (rows, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|(m, n, e, reply)| ((m, n, e), reply))
            .unzip();
        match insert_nonces(&db, rows).await {
            Ok(fresh) => {
                for (reply, f) in replies.into_iter().zip(fresh) {
                    let _ = reply.send(Ok(f));
                }
            }
            Err(e) => {
                // Nothing of the batch was recorded: every request of it fails (a 500, no effect).
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// One unit of work for the batch (on the embedded database it shares its commit with the
/// other writers' units), answered at its commit: a nonce lost in a crash harms nobody, and
/// the request's own effects commit after it. True for each nonce not seen before.
async fn insert_nonces(db: &Db, rows: Vec<(String, String, i64)>) -> Result<Vec<bool>, StoreError> {
    db.unit_committed(move |tx| {
        Box::pin(async move {
            let mut fresh = Vec::with_capacity(rows.len());
            for (merchant_id, nonce, expires_at) in &rows {
                let done = tx
                    .execute(
                        "INSERT INTO api_nonces (merchant_id, nonce, expires_at) VALUES ($1, $2, $3)
                         ON CONFLICT (merchant_id, nonce) DO NOTHING",
                        &[
                            merchant_id.as_str().into(),
                            nonce.as_str().into(),
                            (*expires_at).into(),
                        ],
                    )
                    .await?;
                fresh.push(done == 1);
            }
            Ok::<_, StoreError>(fresh)
        })
    })
    .await
}

/// Requests per second per merchant, with a burst.
pub struct RateLimits {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    /// `per_second` 0 turns limiting off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter }
    }

    pub(crate) fn allow(&self, merchant_id: &str) -> bool {
        match &self.limiter {
            Some(l) => l.check_key(&merchant_id.to_string()).is_ok(),
            None => true,
        }
    }

    pub fn forget_idle(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
        }
    }
}

/// Reads the body within the size limit (413 beyond it).
pub async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    })
}

pub async fn authenticate(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match check(&app, req).await {
        Ok((req, merchant_id)) => {
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(MerchantTag(merchant_id));
            resp
        }
        Err((err, merchant)) => {
            let mut resp = err.into_response();
            if let Some(m) = merchant {
                resp.extensions_mut().insert(MerchantTag(m));
            }
            resp
        }
    }
}

type Refusal = (ApiError, Option<String>);

fn refuse(code: ErrorCode, message: impl Into<String>, merchant: &Option<String>) -> Refusal {
    (ApiError::new(code, message), merchant.clone())
}

async fn check(app: &AppState, req: Request) -> Result<(Request, String), Refusal> {
    let limit = app.config.max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
            &None,
        ));
    }
    let auth = header_of(app, &req)?;
    let tag = Some(auth.merchant_id.clone());
    let key = verifying_key(app, &auth, &tag).await?;
    let (parts, body) = req.into_parts();
    let body = read_body(body, limit).await.map_err(|e| (e, tag.clone()))?;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let message = signed_string(
        parts.method.as_str(),
        path_and_query,
        auth.timestamp,
        &auth.nonce,
        &body,
    );
    let signature = B64
        .decode(&auth.signature)
        .map_err(|_| refuse(ErrorCode::InvalidSignature, "signature is not base64", &tag))?;
    if key.key.verify(&message, &signature).is_err() {
        return Err(refuse(
            ErrorCode::InvalidSignature,
            "signature does not verify",
            &tag,
        ));
    }
    admit(app, &auth, key.merchant_status, &tag).await?;
    let mut req = Request::from_parts(parts, Body::from(body));
    req.extensions_mut().insert(Arc::new(AuthedMerchant {
        merchant_id: auth.merchant_id.clone(),
        key_id: auth.key_id,
        status: key.merchant_status,
    }));
    Ok((req, auth.merchant_id))
}

/// The `Authorization` header, parsed, with its timestamp inside the window.
fn header_of(app: &AppState, req: &Request) -> Result<AuthHeader, Refusal> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| (unauthenticated("missing Authorization header"), None))?
        .to_str()
        .map_err(|_| (unauthenticated("Authorization header is not ASCII"), None))?;
    let auth = parse_header(header).map_err(|e| (e, None))?;
    let now = app.clock.unix_seconds();
    let window = app.config.timestamp_window_secs;
    if (auth.timestamp - now).abs() > window {
        return Err(refuse(
            ErrorCode::TimestampOutOfWindow,
            format!("timestamp is more than {window} s from the server's clock ({now})"),
            &Some(auth.merchant_id.clone()),
        ));
    }
    Ok(auth)
}

/// The merchant's active key named by the header, of the header's algorithm.
async fn verifying_key(
    app: &AppState,
    auth: &AuthHeader,
    tag: &Option<String>,
) -> Result<paycore_merchant::AuthKey, Refusal> {
    let key = match app
        .merchants
        .auth_key(&auth.merchant_id, &auth.key_id)
        .await
    {
        Ok(k) => k,
        Err(MerchantError::NotFound) => {
            return Err(refuse(
                ErrorCode::UnknownMerchant,
                "unknown merchant_id",
                tag,
            ))
        }
        Err(MerchantError::KeyNotFound) => {
            return Err(refuse(
                ErrorCode::InvalidSignature,
                "unknown or revoked key_id for this merchant",
                tag,
            ))
        }
        Err(e) => return Err((e.into(), tag.clone())),
    };
    if key.key.algorithm() != auth.algorithm {
        return Err(refuse(
            ErrorCode::InvalidSignature,
            format!(
                "key {} is a {} key, not {}",
                auth.key_id,
                key.key.algorithm(),
                auth.algorithm
            ),
            tag,
        ));
    }
    Ok(key)
}

/// After the signature: the merchant may call, within its rate, with a fresh nonce.
async fn admit(
    app: &AppState,
    auth: &AuthHeader,
    status: MerchantStatus,
    tag: &Option<String>,
) -> Result<(), Refusal> {
    if !status.may_call_api() {
        return Err(refuse(ErrorCode::Forbidden, "merchant is frozen", tag));
    }
    if !app.rate_limits.allow(&auth.merchant_id) {
        return Err(refuse(
            ErrorCode::RateLimited,
            "too many requests; slow down",
            tag,
        ));
    }
    let window = app.config.timestamp_window_secs;
    let fresh = app
        .nonces
        .remember(&auth.merchant_id, &auth.nonce, auth.timestamp + window + 1)
        .await
        .map_err(|e| (ApiError::from(e), tag.clone()))?;
    if !fresh {
        return Err(refuse(
            ErrorCode::ReplayedNonce,
            "nonce was used before",
            tag,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"PAYCORE-ED25519 merchant_id="m1",key_id="k1",timestamp="1700000000",nonce="abcdefghijklmnop",signature="c2ln""#;

    #[test]
    fn parses_a_good_header() {
        let h = parse_header(OK).unwrap();
        assert_eq!(h.algorithm, Algorithm::Ed25519);
        assert_eq!(h.merchant_id, "m1");
        assert_eq!(h.timestamp, 1_700_000_000);
        assert_eq!(h.signature, "c2ln");
    }

    #[test]
    fn refuses_malformed_headers() {
        let bad = [
            "",
            "Bearer x",
            "PAYCORE-MD5 merchant_id=\"m\"",
            &OK.replace("nonce=\"abcdefghijklmnop\"", "nonce=\"short\""),
            &OK.replace("nonce=\"abcdefghijklmnop\"", "nonce=\"abcdefghijklmnop!\""),
            &OK.replace("timestamp=\"1700000000\"", "timestamp=\"-1\""),
            &OK.replace("timestamp=\"1700000000\"", "timestamp=\"17e8\""),
            &OK.replace("key_id=\"k1\"", "key_id=k1"),
            &OK.replace(",signature=\"c2ln\"", ""),
            &format!("{OK},nonce=\"abcdefghijklmnop\""),
            &format!("{OK},extra=\"1\""),
        ];
        for h in bad {
            let e = parse_header(h).unwrap_err();
            assert_eq!(e.code, ErrorCode::Unauthenticated, "{h}");
        }
    }

    #[test]
    fn signed_string_matches_the_contract() {
        let s = signed_string("POST", "/v1/payments?x=1", 17, "nnnn", b"{}");
        assert_eq!(s, b"POST\n/v1/payments?x=1\n17\nnnnn\n{}\n");
        let g = signed_string("GET", "/v1/merchant", 17, "nnnn", b"");
        assert_eq!(g, b"GET\n/v1/merchant\n17\nnnnn\n\n");
    }
}

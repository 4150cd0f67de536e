//! What every request must be before a handler sees it: free of NUL characters, in its path,
//! its query and its body. No field of the API has a use for them, PostgreSQL cannot store them
//! in text, and refusing them at the door (rather than wherever a value reaches the database)
//! makes both engines answer the same `INVALID_REQUEST`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::read_body;
use crate::error::ApiError;
use crate::AppState;

pub async fn refuse_nul(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let refused = || ApiError::invalid("requests must not contain NUL characters").into_response();
    if req
        .uri()
        .path_and_query()
        .is_some_and(|pq| percent_nul(pq.as_str().as_bytes()))
    {
        return refused();
    }
    let headers = req.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "0");
    if !has_body {
        return next.run(req).await;
    }
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if bytes.contains(&0) || json_nul(&bytes) || (form && percent_nul(&bytes)) {
        return refused();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// `%00`: a NUL, percent-encoded.
fn percent_nul(s: &[u8]) -> bool {
    s.windows(3).any(|w| w == b"%00")
}

/// `\u0000` as a JSON escape: each backslash escapes the character after it, so `\\u0000` is
/// text, not a NUL.
fn json_nul(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' {
            if s.get(i + 1..i + 6) == Some(b"u0000".as_slice()) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(json_nul(br#"{"a":"x\u0000"}"#));
        assert!(json_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!json_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_nul(br#"{"a":"\u0001 and \n"}"#));
        assert!(percent_nul(b"/v1/notifications?object_id=a%00b"));
        assert!(!percent_nul(b"/v1/payments?out_trade_no=A%200"));
    }
}

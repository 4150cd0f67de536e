//! The sandbox channels' wire formats. Every message is a flat map of string fields; each
//! channel encodes it its own way (form, JSON, flat XML) and signs it its own way (HMAC as a
//! field in hex, upper hex with the key appended, base64 in a header, or Ed25519).
//! Shared by the sandbox server (channel side) and the connectors (platform side), so both ends
//! cannot drift apart.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_kernel::crypto::VerifyingKey;
use paycore_kernel::crypto::{hmac_sha256, Algorithm, PlatformSigner};
use paycore_kernel::Secret;

pub type Fields = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("signing failed: {0}")]
    Key(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Form,
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Form => "application/x-www-form-urlencoded",
            Format::Json => "application/json",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// `sign` field: lowercase hex HMAC-SHA256 of the canonical string.
    FieldHmacHex,
    /// `sign` field: upper hex HMAC-SHA256 of `canonical&key=<secret>` (WeChat style).
    FieldHmacUpperWithKey,
    /// `sign` field: base64 HMAC-SHA256 of the canonical string.
    FieldHmacB64,
    /// `sign` field: base64 Ed25519 signature of the canonical string (Alipay style).
    FieldEd25519B64,
    /// A header carrying base64 HMAC-SHA256 of the raw body.
    HeaderHmacB64(&'static str),
}

/// How one channel speaks: the format, and who signs what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSpec {
    pub format: Format,
    /// Requests from the platform to the channel.
    pub request_sign: Sign,
    /// Answers, notifications and browser returns from the channel.
    pub response_sign: Sign,
}

/// One channel's key material. The sandbox holds all of it; a platform connector holds the
/// shared secret and the channel's public key only.
#[derive(Clone)]
pub struct ChannelKeys {
    pub shared: Secret<Vec<u8>>,
    pub signer: Option<Arc<PlatformSigner>>,
    pub verifier: Option<VerifyingKey>,
}

impl std::fmt::Debug for ChannelKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelKeys(***)")
    }
}

impl ChannelKeys {
    /// The platform's view: no private key of the channel.
    pub fn public_part(&self) -> Result<ChannelKeys, WireError> {
        let verifier = match (&self.verifier, &self.signer) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(s)) => Some(
                VerifyingKey::from_public_pem(Algorithm::Ed25519, &s.public_key_pem())
                    .map_err(|e| WireError::Key(e.to_string()))?,
            ),
            (None, None) => None,
        };
        Ok(ChannelKeys {
            shared: self.shared.clone(),
            signer: None,
            verifier,
        })
    }
}

/// An encoded message ready to send.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// `k=v&k=v` over sorted keys, without `sign` and without empty values.
pub fn canonical(fields: &Fields) -> String {
    fields
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn field_signature(sign: Sign, fields: &Fields, keys: &ChannelKeys) -> Result<String, WireError> {
    let canon = canonical(fields);
    let secret = keys.shared.expose();
    Ok(match sign {
        Sign::FieldHmacHex => hex(&hmac_sha256(secret, canon.as_bytes())),
        Sign::FieldHmacUpperWithKey => {
            let key = String::from_utf8_lossy(secret);
            hex(&hmac_sha256(
                secret,
                format!("{canon}&key={key}").as_bytes(),
            ))
            .to_uppercase()
        }
        Sign::FieldHmacB64 => B64.encode(hmac_sha256(secret, canon.as_bytes())),
        Sign::FieldEd25519B64 => {
            let signer = keys
                .signer
                .as_ref()
                .ok_or_else(|| WireError::Key("no Ed25519 signing key".into()))?;
            B64.encode(signer.sign(canon.as_bytes()))
        }
        Sign::HeaderHmacB64(_) => return Err(WireError::Key("header signature".into())),
    })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn verify_field(sign: Sign, fields: &Fields, keys: &ChannelKeys) -> Result<(), WireError> {
    let given = fields.get("sign").ok_or(WireError::BadSignature)?;
    match sign {
        Sign::FieldEd25519B64 => {
            let sig = B64.decode(given).map_err(|_| WireError::BadSignature)?;
            let verifier = match &keys.verifier {
                Some(v) => v.clone(),
                None => keys
                    .public_part()?
                    .verifier
                    .ok_or(WireError::BadSignature)?,
            };
            verifier
                .verify(canonical(fields).as_bytes(), &sig)
                .map_err(|_| WireError::BadSignature)
        }
        _ => {
            let expected = field_signature(sign, fields, keys)?;
            if constant_eq(expected.as_bytes(), given.as_bytes()) {
                Ok(())
            } else {
                Err(WireError::BadSignature)
            }
        }
    }
}

/// Checks the signature of already-decoded fields (field signatures only).
pub fn verify(sign: Sign, fields: &Fields, keys: &ChannelKeys) -> Result<(), WireError> {
    match sign {
        Sign::HeaderHmacB64(_) => Err(WireError::BadSignature),
        _ => verify_field(sign, fields, keys),
    }
}

/// Signs (per `sign`) and encodes `fields` in `format`.
pub fn encode(
    format: Format,
    sign: Sign,
    fields: &Fields,
    keys: &ChannelKeys,
) -> Result<Encoded, WireError> {
    let mut fields = fields.clone();
    fields.remove("sign");
    let mut headers = Vec::new();
    let body = match sign {
        Sign::HeaderHmacB64(name) => {
            let body = serialize(format, &fields)?;
            let mac = B64.encode(hmac_sha256(keys.shared.expose(), body.as_bytes()));
            headers.push((name.to_string(), mac));
            body
        }
        _ => {
            let sig = field_signature(sign, &fields, keys)?;
            fields.insert("sign".into(), sig);
            serialize(format, &fields)?
        }
    };
    Ok(Encoded {
        content_type: format.content_type(),
        headers,
        body,
    })
}

/// Decodes `body` in `format` and checks its signature per `sign`.
pub fn decode(
    format: Format,
    sign: Sign,
    headers: &[(String, String)],
    body: &[u8],
    keys: &ChannelKeys,
) -> Result<Fields, WireError> {
    let text = std::str::from_utf8(body).map_err(|_| WireError::Malformed("not UTF-8".into()))?;
    if let Sign::HeaderHmacB64(name) = sign {
        let given = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .ok_or(WireError::BadSignature)?;
        let given = B64.decode(given).map_err(|_| WireError::BadSignature)?;
        let mac = hmac_sha256(keys.shared.expose(), body);
        if !constant_eq(&mac, &given) {
            return Err(WireError::BadSignature);
        }
        return deserialize(format, text);
    }
    let fields = deserialize(format, text)?;
    verify_field(sign, &fields, keys)?;
    Ok(fields)
}

fn serialize(format: Format, fields: &Fields) -> Result<String, WireError> {
    match format {
        Format::Form => {
            serde_urlencoded::to_string(fields).map_err(|e| WireError::Malformed(e.to_string()))
        }
        Format::Json => {
            serde_json::to_string(fields).map_err(|e| WireError::Malformed(e.to_string()))
        }
        Format::Xml => {
            let mut s = String::from("<xml>");
            for (k, v) in fields {
                s.push_str(&format!("<{k}>{}</{k}>", xml_escape(v)));
            }
            s.push_str("</xml>");
            Ok(s)
        }
    }
}

pub fn deserialize(format: Format, text: &str) -> Result<Fields, WireError> {
    match format {
        Format::Form => {
            serde_urlencoded::from_str(text).map_err(|e| WireError::Malformed(e.to_string()))
        }
        Format::Json => serde_json::from_str(text).map_err(|e| WireError::Malformed(e.to_string())),
        Format::Xml => parse_flat_xml(text),
    }
}

fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(v: &str) -> String {
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// `<xml><k>v</k>…</xml>`, one level deep: all the WeChat-like channel speaks.
fn parse_flat_xml(text: &str) -> Result<Fields, WireError> {
    let bad = |m: &str| WireError::Malformed(format!("xml: {m}"));
    let inner = text
        .trim()
        .strip_prefix("<xml>")
        .and_then(|t| t.strip_suffix("</xml>"))
        .ok_or_else(|| bad("missing <xml> root"))?;
    let mut fields = Fields::new();
    let mut rest = inner.trim_start();
    // A limit on everything: no message of ours has more fields than this.
    for _ in 0..256 {
        if rest.is_empty() {
            return Ok(fields);
        }
        let after_lt = rest.strip_prefix('<').ok_or_else(|| bad("expected <"))?;
        let close = after_lt.find('>').ok_or_else(|| bad("unclosed tag"))?;
        let name = &after_lt[..close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("bad tag name"));
        }
        let body = &after_lt[close + 1..];
        let end_tag = format!("</{name}>");
        let end = body.find(&end_tag).ok_or_else(|| bad("missing end tag"))?;
        fields.insert(name.to_string(), xml_unescape(&body[..end]));
        rest = body[end + end_tag.len()..].trim_start();
    }
    Err(bad("too many fields"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ChannelKeys {
        ChannelKeys {
            shared: Secret::new(b"s3cret".to_vec()),
            signer: Some(Arc::new(PlatformSigner::generate().unwrap())),
            verifier: None,
        }
    }

    fn sample() -> Fields {
        let mut f = Fields::new();
        f.insert("amount".into(), "100".into());
        f.insert("subject".into(), "a<b & \"c\"".into());
        f.insert("empty".into(), String::new());
        f
    }

    #[test]
    fn every_format_and_signature_round_trips_and_detects_tampering() {
        let k = keys();
        let public = k.public_part().unwrap();
        let signs = [
            Sign::FieldHmacHex,
            Sign::FieldHmacUpperWithKey,
            Sign::FieldHmacB64,
            Sign::FieldEd25519B64,
            Sign::HeaderHmacB64("x-sign"),
        ];
        for format in [Format::Form, Format::Json, Format::Xml] {
            for sign in signs {
                let e = encode(format, sign, &sample(), &k).unwrap();
                let got = decode(format, sign, &e.headers, e.body.as_bytes(), &public).unwrap();
                assert_eq!(got.get("subject"), sample().get("subject"));
                let tampered = e.body.replace("100", "900");
                assert_eq!(
                    decode(format, sign, &e.headers, tampered.as_bytes(), &public),
                    Err(WireError::BadSignature),
                    "{format:?} {sign:?}"
                );
            }
        }
    }

    #[test]
    fn canonical_sorts_and_skips_sign_and_empty() {
        let mut f = sample();
        f.insert("sign".into(), "x".into());
        assert_eq!(canonical(&f), "amount=100&subject=a<b & \"c\"");
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse_flat_xml("<xml><a>1</b></xml>").is_err());
        assert!(parse_flat_xml("<a>1</a>").is_err());
    }
}

//! The sandbox quick-pay bank's card agreements (快捷协议), both sides: the bank signs a card
//! with a code it texts to the card's phone and is paid (and pays out, [`super::payouts`]) by
//! the agreement number afterwards; the platform's connector asks for that in the bank's wire
//! format.
//!
//! The bank's rules, to script with: a number that fails Luhn is refused (`CARD_INVALID`), a
//! card whose last four digits are `0002` is not supported (`CARD_NOT_SUPPORTED`), an expiry in
//! the past is `CARD_EXPIRED`; a wrong code counts a try, three end the signing.

use paycore_channels::{AgreementOutcome, AgreementSignRequest, ChannelError};
use paycore_kernel::crypto::{hmac_sha256, random_bytes, random_token};
use paycore_store::Row;

use super::books::SandboxError;
use super::wire::Fields;
use super::SandboxState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignState {
    Pending,
    Signed,
    Unsigned,
    Failed,
}
paycore_kernel::named!(SignState { Pending => "pending", Signed => "signed",
    Unsigned => "unsigned", Failed => "failed" });

pub(crate) fn answer(code: &str, message: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("code".into(), code.into());
    f.insert("message".into(), message.into());
    f
}

/// `MM/YY` not before this month (sandbox time).
fn expired(expiry: &str, now_ms: i64) -> bool {
    let Some((m, y)) = expiry.split_once('/') else {
        return true;
    };
    let (Ok(m), Ok(y)) = (m.parse::<u8>(), y.parse::<i32>()) else {
        return true;
    };
    let now = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    !(1..=12).contains(&m) || (2000 + y, m) < (now.year(), u8::from(now.month()))
}

fn mac(key: &[u8], parts: &[&str]) -> String {
    hmac_sha256(key, parts.join("\n").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `sign`: the first call (no `sms_code`) checks the card and texts a code; the second
/// confirms it and answers the agreement number. Signing a signed card answers it again.
pub(crate) async fn sign(
    st: &SandboxState,
    key: &[u8],
    f: &Fields,
) -> Result<Fields, SandboxError> {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let (sign_id, pan) = (get("sign_id"), get("pan"));
    let row = sqlx::query(
        "SELECT pan_mac, code_mac, attempts, status, agreement_no FROM sandbox_card_agreements
         WHERE sign_id = $1",
    )
    .bind(sign_id)
    .fetch_optional(st.db().writer())
    .await?;
    match row {
        Some(r) if get("sms_code").is_empty() => {
            let status: String = r.try_get("status")?;
            Ok(answer(
                "SIGN_IN_PROGRESS",
                &format!("this signing is {status}"),
            ))
        }
        Some(r) => confirm(st, key, sign_id, get("sms_code"), &r).await,
        None if sign_id.is_empty() || !paycore_kernel::pii::luhn_valid(pan) => {
            Ok(answer("CARD_INVALID", "card number"))
        }
        None if pan.ends_with("0002") => Ok(answer("CARD_NOT_SUPPORTED", "not supported")),
        None if expired(get("expiry"), st.clock().unix_millis()) => {
            Ok(answer("CARD_EXPIRED", "the card has expired"))
        }
        None if get("holder_name").trim().is_empty() || get("phone").is_empty() => {
            Ok(answer("INVALID_REQUEST", "holder and phone are required"))
        }
        None => start(st, key, sign_id, pan, get("phone")).await,
    }
}

async fn start(
    st: &SandboxState,
    key: &[u8],
    sign_id: &str,
    pan: &str,
    phone: &str,
) -> Result<Fields, SandboxError> {
    let n =
        u32::from_be_bytes(random_bytes::<4>().map_err(|e| SandboxError::Crypto(e.to_string()))?);
    let code = format!("{:06}", n % 1_000_000);
    let now = st.clock().unix_millis();
    sqlx::query(
        "INSERT INTO sandbox_card_agreements (sign_id, pan_mac, last4, phone, code_mac, attempts,
            status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7)
         ON CONFLICT (sign_id) DO NOTHING",
    )
    .bind(sign_id)
    .bind(mac(key, &["pan", pan]))
    .bind(&pan[pan.len() - 4..])
    .bind(phone)
    .bind(mac(key, &["code", sign_id, &code]))
    .bind(SignState::Pending.as_str())
    .bind(now)
    .execute(st.db().writer())
    .await?;
    let text = format!(
        "[Sandbox Bank] Code {code} binds your card ending {} for quick pay. Valid 5 minutes.",
        &pan[pan.len() - 4..]
    );
    super::sms::record_sms(st.db(), st.clock(), phone, &text, Some(&code)).await?;
    let mut f = answer("OK", "code sent");
    f.insert("status".into(), "needs_verification".into());
    Ok(f)
}

async fn confirm(
    st: &SandboxState,
    key: &[u8],
    sign_id: &str,
    code: &str,
    row: &sqlx::any::AnyRow,
) -> Result<Fields, SandboxError> {
    let status: String = row.try_get("status")?;
    if status == SignState::Signed.as_str() {
        let mut f = answer("OK", "signed");
        f.insert(
            "agreement_no".into(),
            row.try_get::<String, _>("agreement_no")?,
        );
        return Ok(f);
    }
    let attempts: i64 = row.try_get("attempts")?;
    if status != SignState::Pending.as_str() || attempts >= 3 {
        return Ok(answer("SIGN_FAILED", "this signing has ended: start again"));
    }
    let right = paycore_kernel::crypto::constant_time_eq(
        mac(key, &["code", sign_id, code]).as_bytes(),
        row.try_get::<String, _>("code_mac")?.as_bytes(),
    );
    let now = st.clock().unix_millis();
    let agreement = format!(
        "QA{}",
        random_token(24).map_err(|e| SandboxError::Crypto(e.to_string()))?
    );
    let (to, no) = match right {
        true => (SignState::Signed, Some(agreement.as_str())),
        false if attempts + 1 >= 3 => (SignState::Failed, None),
        false => (SignState::Pending, None),
    };
    let moved = sqlx::query(
        "UPDATE sandbox_card_agreements SET attempts = attempts + 1, status = $1,
            agreement_no = $2, updated_at = $3 WHERE sign_id = $4 AND attempts = $5 AND status = $6",
    )
    .bind(to.as_str())
    .bind(no)
    .bind(now)
    .bind(sign_id)
    .bind(attempts)
    .bind(SignState::Pending.as_str())
    .execute(st.db().writer())
    .await?;
    if !right || moved.rows_affected() != 1 {
        return Ok(answer("VERIFICATION_FAILED", "the code is wrong"));
    }
    let mut f = answer("OK", "signed");
    f.insert("agreement_no".into(), agreement);
    Ok(f)
}

/// `unsign`: the agreement ends; paying by it is refused from then on.
pub(crate) async fn unsign(st: &SandboxState, f: &Fields) -> Result<Fields, SandboxError> {
    let no = f.get("agreement_no").map(String::as_str).unwrap_or("");
    sqlx::query(
        "UPDATE sandbox_card_agreements SET status = $1, updated_at = $2
         WHERE agreement_no = $3 AND status = $4",
    )
    .bind(SignState::Unsigned.as_str())
    .bind(st.clock().unix_millis())
    .bind(no)
    .bind(SignState::Signed.as_str())
    .execute(st.db().writer())
    .await?;
    Ok(answer("OK", "unsigned"))
}

/// Whether a payment may be taken by this agreement.
pub(crate) async fn active(st: &SandboxState, agreement_no: &str) -> Result<bool, SandboxError> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM sandbox_card_agreements WHERE agreement_no = $1 AND status = $2",
    )
    .bind(agreement_no)
    .bind(SignState::Signed.as_str())
    .fetch_optional(st.db().reader())
    .await?;
    Ok(row.is_some())
}

/// The connector's side: the sign request's fields in the bank's wire format.
pub(crate) fn sign_fields(req: &AgreementSignRequest) -> Result<Fields, ChannelError> {
    let card = req
        .card
        .as_ref()
        .ok_or_else(|| ChannelError::InvalidRequest("a card is needed to sign".into()))?;
    let mut f = Fields::new();
    f.insert("sign_id".into(), req.agreement_attempt_id.to_string());
    f.insert("pan".into(), card.pan.expose().clone());
    f.insert("holder_name".into(), card.holder_name.clone());
    f.insert("expiry".into(), card.expiry.clone());
    f.insert("phone".into(), card.phone.clone());
    if let Some(cvv) = &card.cvv {
        f.insert("cvv".into(), cvv.expose().clone());
    }
    if let Some(code) = &req.verification_code {
        f.insert("sms_code".into(), code.clone());
    }
    Ok(f)
}

/// The bank's answer to `sign` as an outcome.
pub(crate) fn sign_outcome(f: &Fields) -> AgreementOutcome {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    match (get("code").as_str(), get("status").as_str()) {
        ("OK", "needs_verification") => AgreementOutcome::NeedsVerification,
        ("OK", _) if !get("agreement_no").is_empty() => AgreementOutcome::Signed {
            agreement_no: get("agreement_no"),
        },
        ("OK", _) => AgreementOutcome::Unknown {
            reason: "the bank answered OK without an agreement".into(),
        },
        (code, _) => AgreementOutcome::Failed {
            code: code.to_string(),
            message: get("message"),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_is_checked_by_month() {
        let jan_2027 = 1_799_000_000_000;
        assert!(super::expired("12/25", jan_2027));
        assert!(!super::expired("12/30", jan_2027));
        assert!(super::expired("13/30", jan_2027));
    }
}

//! The sandbox quick-pay bank's payouts: money paid to a card by its agreement (a member's
//! withdrawal), both sides — the bank's books and answers, and the connector's request and
//! reading of them.

use paycore_kernel::crypto::random_token;
use paycore_store::Row;

use super::books::SandboxError;
use super::cards::{active, answer, SignState};
use super::wire::Fields;
use super::SandboxState;

/// `payout`: pays `amount` to the card of a signed agreement (a member's withdrawal). The same
/// attempt again answers what it already is and pays nothing twice. A declined payout
/// (behaviour `decline_rate`) is `PAYOUT_DECLINED`.
pub(crate) async fn payout(
    st: &SandboxState,
    f: &Fields,
    declined: bool,
) -> Result<Fields, SandboxError> {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let attempt = get("attempt_id");
    if let Some(done) = payout_of(st, attempt).await? {
        return Ok(done);
    }
    let amount: i64 = get("amount").parse().unwrap_or(0);
    if attempt.is_empty() || amount <= 0 || get("currency") != "CNY" {
        return Ok(answer(
            "INVALID_REQUEST",
            "attempt, amount and currency (CNY)",
        ));
    }
    let (status, fail) = match active(st, get("agreement_no")).await? {
        false => (SignState::Failed, Some("AGREEMENT_INVALID")),
        true if declined => (SignState::Failed, Some("PAYOUT_DECLINED")),
        true => (SignState::Signed, None),
    };
    let txn = format!(
        "PO{}",
        random_token(20).map_err(|e| SandboxError::Crypto(e.to_string()))?
    );
    sqlx::query(
        "INSERT INTO sandbox_payouts (attempt_id, agreement_no, amount, currency, status, txn_id,
            fail_code, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (attempt_id) DO NOTHING",
    )
    .bind(attempt)
    .bind(get("agreement_no"))
    .bind(amount)
    .bind("CNY")
    .bind(status.as_str())
    .bind(txn)
    .bind(fail)
    .bind(st.clock().unix_millis())
    .execute(st.db().writer())
    .await?;
    Ok(payout_of(st, attempt)
        .await?
        .unwrap_or_else(|| answer("INTERNAL", "payout lost")))
}

/// A recorded payout as the bank answers it (`signed` stands for paid).
async fn payout_of(st: &SandboxState, attempt: &str) -> Result<Option<Fields>, SandboxError> {
    let row = sqlx::query(
        "SELECT amount, currency, status, txn_id, fail_code FROM sandbox_payouts
         WHERE attempt_id = $1",
    )
    .bind(attempt)
    .fetch_optional(st.db().writer())
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let status: String = r.try_get("status")?;
    let mut f = match status == SignState::Signed.as_str() {
        true => answer("OK", "paid"),
        false => {
            let code: Option<String> = r.try_get("fail_code")?;
            answer(code.as_deref().unwrap_or("PAYOUT_FAILED"), "not paid")
        }
    };
    f.insert("txn_id".into(), r.try_get::<String, _>("txn_id")?);
    f.insert("amount".into(), r.try_get::<i64, _>("amount")?.to_string());
    f.insert("currency".into(), r.try_get::<String, _>("currency")?);
    Ok(Some(f))
}

/// The connector's side of a payout: its fields, and the bank's answer as an outcome.
pub(crate) fn payout_fields(req: &paycore_channels::connector::PayoutRequest) -> Fields {
    let mut f = Fields::new();
    f.insert("attempt_id".into(), req.payout_attempt_id.to_string());
    f.insert("amount".into(), req.amount.minor().to_string());
    f.insert("currency".into(), req.amount.currency().code().into());
    f.insert("agreement_no".into(), req.account.clone());
    f.insert("account_name".into(), req.account_name.clone());
    f
}

pub(crate) fn payout_outcome(
    req: &paycore_channels::connector::PayoutRequest,
    f: &Fields,
) -> paycore_channels::PayOutcome {
    use paycore_channels::PayOutcome;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    match get("code").as_str() {
        "OK" if get("amount") == req.amount.minor().to_string() => PayOutcome::Succeeded {
            channel_txn_id: get("txn_id"),
            amount: req.amount,
        },
        "OK" => PayOutcome::Unknown {
            reason: "the bank paid another amount".into(),
        },
        code => PayOutcome::Failed {
            code: code.to_string(),
            message: get("message"),
            safe_to_retry_elsewhere: false,
        },
    }
}

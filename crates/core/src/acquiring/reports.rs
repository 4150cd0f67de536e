//! What merchants read: payments and refunds as the API shows them, the daily bill (M10) and
//! their balances (M11).

use paycore_kernel::{Currency, Money};
use paycore_store::Row;
use serde::Serialize;
use serde_json::{json, Value};

use super::model::*;
use super::{Acquiring, AcquiringError};

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A payment as the API shows it.
pub fn payment_json(p: &Payment) -> Value {
    json!({
        "id": p.payment_id,
        "object": "payment",
        "merchant_id": p.merchant_id,
        "out_trade_no": p.out_trade_no,
        "amount": p.amount.minor(),
        "currency": p.amount.currency().code(),
        "subject": p.subject,
        "product": p.product.as_str(),
        "status": p.status.as_str(),
        "channel": p.channel,
        "fee": p.fee.minor(),
        "refunded_amount": p.refunded_amount.minor(),
        "next_action": p.next_action,
        "failure_code": p.failure_code,
        "failure_message": p.failure_message,
        "payer": p.payer,
        "notify_url": p.notify_url,
        "return_url": p.return_url,
        "metadata": p.metadata,
        "expires_at": rfc3339(p.expire_at),
        "paid_at": p.paid_at.map(rfc3339),
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
    })
}

pub fn refund_json(r: &Refund) -> Value {
    json!({
        "id": r.refund_id,
        "object": "refund",
        "merchant_id": r.merchant_id,
        "out_refund_no": r.out_refund_no,
        "payment_id": r.payment_id,
        "amount": r.amount.minor(),
        "currency": r.amount.currency().code(),
        "fee_refund": r.fee_refund.minor(),
        "reason": r.reason,
        "kind": r.kind,
        "status": r.status.as_str(),
        "failure_code": r.failure_code,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct MerchantBalance {
    pub currency: String,
    /// Paid to the merchant, not settled yet (minor units).
    pub pending_settlement: i64,
    /// Settled to the merchant's balance.
    pub available: i64,
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

impl Acquiring {
    /// The merchant's statement for an accounting day (`yyyymmdd`): a header, a line per
    /// payment, refund and fee, then a totals line per currency. Amounts in minor units.
    pub async fn bill(&self, merchant_id: &str, day: i64) -> Result<String, AcquiringError> {
        let mut out =
            String::from("type,id,merchant_no,payment_id,amount,currency,fee,net,channel,time\n");
        let payments = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE merchant_id = $1 AND accounting_day = $2 ORDER BY paid_at, id"
        )))
        .bind(merchant_id)
        .bind(day)
        .fetch_all(self.db.reader())
        .await?;
        let refunds = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE merchant_id = $1 AND accounting_day = $2 AND status = 'succeeded' ORDER BY updated_at, id"
        )))
        .bind(merchant_id)
        .bind(day)
        .fetch_all(self.db.reader())
        .await?;
        let mut totals: std::collections::BTreeMap<&'static str, (i64, i64, i64, i64, i64)> =
            Default::default();
        for row in &payments {
            let p = payment_from_row(row)?;
            let c = p.amount.currency();
            let t = totals.entry(c.code()).or_default();
            t.0 += 1;
            t.1 += p.amount.minor();
            t.3 += p.fee.minor();
            let channel = p.channel.clone().unwrap_or_default();
            out.push_str(&format!(
                "payment,{},{},{},{},{},0,{},{},{}\n",
                p.payment_id,
                csv(&p.out_trade_no),
                p.payment_id,
                p.amount.minor(),
                c.code(),
                p.amount.minor(),
                csv(&channel),
                rfc3339(p.paid_at.unwrap_or(p.updated_at))
            ));
            out.push_str(&format!(
                "fee,{},{},{},{},{},{},{},{},{}\n",
                p.payment_id,
                csv(&p.out_trade_no),
                p.payment_id,
                -p.fee.minor(),
                c.code(),
                p.fee.minor(),
                -p.fee.minor(),
                csv(&channel),
                rfc3339(p.paid_at.unwrap_or(p.updated_at))
            ));
            if p.status == PaymentStatus::Canceled {
                // Reversed the same day: the cancel is a line of its own.
                t.2 += p.amount.minor();
                t.3 -= p.fee.minor();
                out.push_str(&format!(
                    "cancel,{},{},{},{},{},{},{},{},{}\n",
                    p.payment_id,
                    csv(&p.out_trade_no),
                    p.payment_id,
                    -p.amount.minor(),
                    c.code(),
                    -p.fee.minor(),
                    -(p.amount.minor() - p.fee.minor()),
                    csv(&channel),
                    rfc3339(p.updated_at)
                ));
            }
        }
        for row in &refunds {
            let r = refund_from_row(row)?;
            let c = r.amount.currency();
            let t = totals.entry(c.code()).or_default();
            t.2 += r.amount.minor();
            t.3 -= r.fee_refund.minor();
            out.push_str(&format!(
                "refund,{},{},{},{},{},{},{},,{}\n",
                r.refund_id,
                csv(&r.out_refund_no),
                r.payment_id,
                -r.amount.minor(),
                c.code(),
                -r.fee_refund.minor(),
                -(r.amount.minor() - r.fee_refund.minor()),
                rfc3339(r.updated_at)
            ));
        }
        for (code, (count, paid, refunded, fees, _)) in totals {
            out.push_str(&format!(
                "total,{count} payments,,,{},{code},{fees},{},,\n",
                paid - refunded,
                paid - refunded - fees
            ));
        }
        Ok(out)
    }

    /// The merchant's balances from the ledger, per currency it has accounts in.
    pub async fn balances(
        &self,
        merchant_id: &str,
    ) -> Result<Vec<MerchantBalance>, AcquiringError> {
        let rows = sqlx::query("SELECT DISTINCT currency FROM payments WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_all(self.db.reader())
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let code: String = r.try_get("currency")?;
            let currency = Currency::from_code(&code)?;
            let bal = |subject: &str| {
                paycore_ledger::accounts::account_no(subject, merchant_id, currency.code(), 0)
            };
            let pending = self
                .ledger
                .balance(&bal("224101"))
                .await
                .map(|b| b.posted)
                .unwrap_or(Money::zero(currency));
            let available = self
                .ledger
                .balance(&bal("224102"))
                .await
                .map(|b| b.posted)
                .unwrap_or(Money::zero(currency));
            out.push(MerchantBalance {
                currency: code,
                pending_settlement: pending.minor(),
                available: available.minor(),
            });
        }
        Ok(out)
    }
}

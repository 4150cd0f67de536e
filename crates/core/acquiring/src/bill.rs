//! What merchants read about their money: the daily bill (M10) and their balances (M11). Each
//! line of the bill is one voucher on the merchant's pending settlement, so the bill's net total
//! is exactly what the ledger moved that day.

use std::collections::{BTreeMap, HashSet};

use paycore_kernel::{Currency, Money};
use paycore_ledger::LedgerError;
use paycore_store::Row;
use serde::Serialize;

use crate::error::AcquiringError;
use crate::machines::{PaymentStatus, RefundStatus};
use crate::model::*;
use crate::posting::{balance_account, pending_account};
use crate::Acquiring;

#[derive(Debug, Clone, Serialize)]
pub struct MerchantBalance {
    pub currency: String,
    /// Paid to the merchant, not settled yet (minor units).
    pub pending_settlement: i64,
    /// Settled to the merchant's balance.
    pub available: i64,
}

fn rfc3339(ms: i64) -> String {
    paycore_notify::rfc3339(ms).unwrap_or_default()
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// One line: what it is, its ids, the gross amount and the fee (signed as they move the
/// merchant's money), the channel and the time.
struct Line<'a> {
    kind: &'a str,
    id: &'a str,
    merchant_no: &'a str,
    payment_id: &'a str,
    amount: Money,
    fee: Money,
    channel: &'a str,
    at: i64,
}

#[derive(Default)]
struct Totals {
    count: u64,
    amount: Option<Money>,
    fee: Option<Money>,
}

fn add(total: &mut Option<Money>, m: Money) -> Result<(), AcquiringError> {
    *total = Some(match total {
        Some(t) => t.checked_add(m)?,
        None => m,
    });
    Ok(())
}

struct Bill {
    out: String,
    totals: BTreeMap<&'static str, Totals>,
}

impl Bill {
    fn new() -> Self {
        Bill {
            out: String::from(
                "type,id,merchant_no,payment_id,amount,currency,fee,net,channel,time\n",
            ),
            totals: BTreeMap::new(),
        }
    }

    /// Writes a line; the fee line of a payment is its own line (its amount is the fee).
    fn push(&mut self, l: &Line<'_>) -> Result<(), AcquiringError> {
        let net = l.amount.checked_sub(l.fee)?;
        self.out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            l.kind,
            l.id,
            csv(l.merchant_no),
            l.payment_id,
            l.amount.minor(),
            l.amount.currency().code(),
            l.fee.minor(),
            net.minor(),
            csv(l.channel),
            rfc3339(l.at)
        ));
        let t = self.totals.entry(l.amount.currency().code()).or_default();
        if l.kind == "payment" {
            t.count += 1;
        }
        add(&mut t.amount, l.amount)?;
        add(&mut t.fee, l.fee)
    }

    fn finish(mut self) -> Result<String, AcquiringError> {
        for (code, t) in &self.totals {
            let (Some(amount), Some(fee)) = (t.amount, t.fee) else {
                continue;
            };
            self.out.push_str(&format!(
                "total,{} payments,,,{},{code},{},{},,\n",
                t.count,
                amount.minor(),
                fee.minor(),
                amount.checked_sub(fee)?.minor()
            ));
        }
        Ok(self.out)
    }
}

impl Acquiring {
    /// The merchant's statement for an accounting day (`yyyymmdd`): a header, a line per
    /// payment, fee, refund, cancel, late charge and automatic refund, then a totals line per
    /// currency. Amounts in minor units; `net` is what the line moved for the merchant.
    pub async fn bill(&self, merchant_id: &str, day: i64) -> Result<String, AcquiringError> {
        let payments = self
            .db
            .read(
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments
                     WHERE merchant_id = $1 AND accounting_day = $2 ORDER BY paid_at, id"
                ),
                &[merchant_id.into(), day.into()],
            )
            .await?;
        let refunds = self
            .db
            .read(
                &format!(
                    "SELECT {REFUND_COLUMNS} FROM refunds WHERE merchant_id = $1
                       AND ((accounting_day = $2 AND status = $3) OR (charge_day = $2 AND kind = $4))
                     ORDER BY updated_at, id"
                ),
                &[
                    merchant_id.into(),
                    day.into(),
                    RefundStatus::Succeeded.as_str().into(),
                    RefundKind::Auto.as_str().into(),
                ],
            )
            .await?;
        let payments = payments
            .iter()
            .map(payment_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let refunds = refunds
            .iter()
            .map(refund_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut bill = Bill::new();
        let canceled_by_refund: HashSet<&str> = refunds
            .iter()
            .filter(|r| r.kind == RefundKind::Cancel)
            .map(|r| r.payment_id.as_str())
            .collect();
        for p in &payments {
            self.payment_lines(&mut bill, p, &canceled_by_refund)?;
        }
        // A cancel is the merchant's cancel of its payment: shown under the payment's ids.
        let mut trade_nos: std::collections::HashMap<String, String> = payments
            .iter()
            .map(|p| (p.payment_id.clone(), p.out_trade_no.clone()))
            .collect();
        for r in refunds.iter().filter(|r| r.kind == RefundKind::Cancel) {
            if !trade_nos.contains_key(&r.payment_id) {
                let p = self.payment_by_id(&r.payment_id).await?;
                trade_nos.insert(p.payment_id, p.out_trade_no);
            }
        }
        for r in &refunds {
            refund_lines(&mut bill, r, day, &trade_nos)?;
        }
        bill.finish()
    }

    fn payment_lines(
        &self,
        bill: &mut Bill,
        p: &Payment,
        canceled_by_refund: &HashSet<&str>,
    ) -> Result<(), AcquiringError> {
        let zero = Money::zero(p.amount.currency());
        let channel = p.channel.as_deref().unwrap_or_default();
        let at = p.paid_at.unwrap_or(p.updated_at);
        let line = |kind, amount, fee| Line {
            kind,
            id: &p.payment_id,
            merchant_no: &p.out_trade_no,
            payment_id: &p.payment_id,
            amount,
            fee,
            channel,
            at,
        };
        bill.push(&line("payment", p.amount, zero))?;
        bill.push(&line("fee", zero, p.fee))?;
        // Cancels made before they were refunds of their own show as a line of the payment.
        if p.status == PaymentStatus::Canceled
            && !canceled_by_refund.contains(p.payment_id.as_str())
        {
            bill.push(&Line {
                at: p.updated_at,
                ..line("cancel", p.amount.checked_neg()?, p.fee.checked_neg()?)
            })?;
        }
        Ok(())
    }

    /// The merchant's balances from the ledger, per currency it has taken payments in.
    pub async fn balances(
        &self,
        merchant_id: &str,
    ) -> Result<Vec<MerchantBalance>, AcquiringError> {
        let rows = sqlx::query(
            "SELECT DISTINCT currency FROM payments WHERE merchant_id = $1 ORDER BY currency",
        )
        .bind(merchant_id)
        .fetch_all(self.db.reader())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let currency = Currency::from_code(&r.try_get::<String, _>("currency")?)?;
            out.push(MerchantBalance {
                currency: currency.code().to_string(),
                pending_settlement: self
                    .posted(&pending_account(merchant_id, currency), currency)
                    .await?
                    .minor(),
                available: self
                    .posted(&balance_account(merchant_id, currency), currency)
                    .await?
                    .minor(),
            });
        }
        Ok(out)
    }

    /// An account's posted balance; an account never opened holds nothing.
    async fn posted(&self, account_no: &str, currency: Currency) -> Result<Money, AcquiringError> {
        match self.ledger.balance(account_no).await {
            Ok(b) => Ok(b.posted),
            Err(LedgerError::AccountNotFound(_)) => Ok(Money::zero(currency)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The lines of one refund on `day`: its late charge (an automatic refund's charge was booked
/// when the refund was made) and the money going back.
fn refund_lines(
    bill: &mut Bill,
    r: &Refund,
    day: i64,
    trade_nos: &std::collections::HashMap<String, String>,
) -> Result<(), AcquiringError> {
    let zero = Money::zero(r.amount.currency());
    let (id, merchant_no) = match r.kind {
        RefundKind::Cancel => (
            r.payment_id.as_str(),
            trade_nos.get(&r.payment_id).map_or("", String::as_str),
        ),
        _ => (r.refund_id.as_str(), r.out_refund_no.as_str()),
    };
    let line = |kind, amount, fee, at| Line {
        kind,
        id,
        merchant_no,
        payment_id: &r.payment_id,
        amount,
        fee,
        channel: "",
        at,
    };
    if r.kind == RefundKind::Auto && r.charge_day == Some(day) {
        bill.push(&line("late_charge", r.amount, zero, r.created_at))?;
    }
    if r.status == RefundStatus::Succeeded && r.accounting_day == Some(day) {
        let kind = match r.kind {
            RefundKind::Merchant => "refund",
            RefundKind::Cancel => "cancel",
            RefundKind::Auto => "auto_refund",
        };
        bill.push(&line(
            kind,
            r.amount.checked_neg()?,
            r.fee_refund.checked_neg()?,
            r.updated_at,
        ))?;
    }
    Ok(())
}

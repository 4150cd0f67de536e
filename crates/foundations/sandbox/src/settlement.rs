//! Daily settlement files (对账文件): one CSV per channel and day, made from the channel's own
//! books, with the differences its behaviour asks for.

use paycore_kernel::{Currency, Money};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::behaviour::SettlementDifferences;
use super::books::{day_number, Charge};

pub const HEADER: &str = "channel_txn_id,attempt_id,type,amount,currency,fee,time";

/// One line of a settlement file. `amount` and `fee` are positive; `kind` says the direction
/// (`pay` in, `refund` and `cancel` out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    pub channel_txn_id: String,
    pub attempt_id: String,
    pub kind: String,
    pub amount: Money,
    pub fee: Money,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("settlement file line {line}: {message}")]
pub struct SettlementParseError {
    pub line: usize,
    pub message: String,
}

fn line_of(c: &Charge) -> SettlementLine {
    SettlementLine {
        channel_txn_id: c.channel_txn_id.clone(),
        attempt_id: c.attempt_id.clone(),
        kind: c.kind.clone(),
        amount: c.amount,
        fee: c.fee,
        at: c.at,
    }
}

/// The lines of `day` after the injected differences.
pub fn lines_for_day(
    day: Date,
    charges: &[Charge],
    diff: &SettlementDifferences,
) -> Vec<SettlementLine> {
    let missing = diff.missing_lines as usize;
    let changed = diff.changed_amounts as usize;
    let mut lines: Vec<SettlementLine> = charges.iter().skip(missing).map(line_of).collect();
    for l in lines.iter_mut().take(changed) {
        l.amount = Money::from_minor(
            l.amount.minor().saturating_add(diff.amount_delta),
            l.amount.currency(),
        );
    }
    let at = day.midnight().assume_utc();
    for i in 0..diff.extra_lines {
        lines.push(SettlementLine {
            channel_txn_id: format!("XT{}{:04}", day_number(day), i + 1),
            attempt_id: format!("{}{:024}", day_number(day), i + 1),
            kind: "pay".into(),
            amount: Money::from_minor(100, Currency::CNY),
            fee: Money::zero(Currency::CNY),
            at,
        });
    }
    lines
}

pub fn to_csv(lines: &[SettlementLine]) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for l in lines {
        let time = l.at.format(&Rfc3339).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            l.channel_txn_id,
            l.attempt_id,
            l.kind,
            l.amount.to_major_string(),
            l.amount.currency().code(),
            l.fee.to_major_string(),
            time
        ));
    }
    out
}

/// Reads a settlement file back (for reconciliation and tests).
pub fn parse_settlement_csv(csv: &str) -> Result<Vec<SettlementLine>, SettlementParseError> {
    let mut out = Vec::new();
    let mut lines = csv.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == HEADER => {}
        _ => {
            return Err(SettlementParseError {
                line: 1,
                message: "missing header".into(),
            })
        }
    }
    for (i, raw) in lines {
        if raw.trim().is_empty() {
            continue;
        }
        let err = |m: String| SettlementParseError {
            line: i + 1,
            message: m,
        };
        let cols: Vec<&str> = raw.split(',').collect();
        let [txn, attempt, kind, amount, currency, fee, time] = cols.as_slice() else {
            return Err(err(format!("expected 7 columns, got {}", cols.len())));
        };
        let currency = Currency::from_code(currency).map_err(|e| err(e.to_string()))?;
        out.push(SettlementLine {
            channel_txn_id: txn.to_string(),
            attempt_id: attempt.to_string(),
            kind: kind.to_string(),
            amount: Money::parse_major(amount, currency).map_err(|e| err(e.to_string()))?,
            fee: Money::parse_major(fee, currency).map_err(|e| err(e.to_string()))?,
            at: OffsetDateTime::parse(time, &Rfc3339).map_err(|e| err(e.to_string()))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn charge(n: i64) -> Charge {
        Charge {
            kind: "pay".into(),
            channel_txn_id: format!("T{n}"),
            attempt_id: format!("A{n}"),
            amount: Money::from_minor(n * 100, Currency::CNY),
            fee: Money::from_minor(n, Currency::CNY),
            at: datetime!(2026-11-22 10:00 UTC),
        }
    }

    #[test]
    fn differences_are_applied_and_the_file_round_trips() {
        let charges: Vec<Charge> = (1..=4).map(charge).collect();
        let diff = SettlementDifferences {
            missing_lines: 1,
            extra_lines: 2,
            changed_amounts: 1,
            amount_delta: 5,
        };
        let lines = lines_for_day(date!(2026 - 11 - 22), &charges, &diff);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].channel_txn_id, "T2");
        assert_eq!(lines[0].amount.minor(), 205);
        assert_eq!(lines[1].amount.minor(), 300);
        assert_eq!(lines[4].channel_txn_id, "XT202611220002");
        let csv = to_csv(&lines);
        assert_eq!(parse_settlement_csv(&csv).unwrap(), lines);
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(parse_settlement_csv("nope").is_err());
        assert!(parse_settlement_csv(&format!("{HEADER}\na,b,c")).is_err());
    }
}

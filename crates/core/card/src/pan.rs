//! Card numbers: digits, Luhn, the shipped BIN table, masking; and the expiry.

use paycore_kernel::Secret;

use crate::CardError;

/// What the BIN table says of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub bank: String,
    pub brand: String,
    /// `debit` or `credit`.
    pub card_type: String,
}

struct Bin {
    prefix: &'static str,
    issuer: Issuer,
}

/// The table, read and checked once: a malformed line is a build defect, found by the test
/// that reads it.
fn table() -> &'static [Bin] {
    static TABLE: std::sync::OnceLock<Vec<Bin>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("bins.csv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut p = l.split(',');
                let (prefix, bank, brand, kind) = (p.next()?, p.next()?, p.next()?, p.next()?);
                let ok = prefix.bytes().all(|b| b.is_ascii_digit())
                    && matches!(kind, "debit" | "credit");
                ok.then(|| Bin {
                    prefix,
                    issuer: Issuer {
                        bank: bank.into(),
                        brand: brand.into(),
                        card_type: kind.into(),
                    },
                })
            })
            .collect()
    })
}

/// The issuer of the longest matching prefix.
pub fn issuer(pan: &str) -> Option<Issuer> {
    table()
        .iter()
        .filter(|b| pan.starts_with(b.prefix))
        .max_by_key(|b| b.prefix.len())
        .map(|b| b.issuer.clone())
}

/// A card number from input: spaces dropped, 12 to 19 digits, passing Luhn. The errors never
/// repeat the number.
pub fn normalize(raw: &Secret<String>) -> Result<Secret<String>, CardError> {
    let pan: String = raw.expose().chars().filter(|c| *c != ' ').collect();
    let b = pan.as_bytes();
    if !(12..=19).contains(&b.len()) || !b.iter().all(u8::is_ascii_digit) {
        return Err(CardError::Invalid("pan must be 12 to 19 digits".into()));
    }
    if !paycore_kernel::pii::luhn_valid(&pan) {
        return Err(CardError::Invalid(
            "pan is not a valid card number (check digit)".into(),
        ));
    }
    Ok(Secret::new(pan))
}

/// First six, last four: `622202******0128`.
pub fn mask(first6: &str, last4: &str, len: usize) -> String {
    format!("{first6}{}{last4}", "*".repeat(len.saturating_sub(10)))
}

/// `MM/YY`, this month or later (`now` is a Unix time in milliseconds).
pub fn check_expiry(expiry: &str, now_ms: i64) -> Result<(), CardError> {
    let bad = || CardError::Invalid("expiry must be MM/YY".into());
    let (m, y) = expiry.split_once('/').ok_or_else(bad)?;
    if m.len() != 2 || y.len() != 2 {
        return Err(bad());
    }
    let (m, y): (u8, i32) = (m.parse().map_err(|_| bad())?, y.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    let now = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000).map_err(|_| bad())?;
    if (2000 + y, m) < (now.year(), u8::from(now.month())) {
        return Err(CardError::Invalid("the card has expired".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bin_table_reads_whole_and_finds_issuers() {
        let lines = include_str!("bins.csv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert_eq!(
            table().len(),
            lines,
            "every line of bins.csv is well formed"
        );
        let i = issuer("6222021234567890").unwrap();
        assert_eq!(
            (i.brand.as_str(), i.card_type.as_str()),
            ("UnionPay", "debit")
        );
        assert_eq!(issuer("4111111111111111").unwrap().card_type, "credit");
        assert!(issuer("9999991234567890").is_none());
    }

    #[test]
    fn numbers_pass_luhn_and_errors_never_echo_them() {
        let ok = Secret::new("4111 1111 1111 1111".to_string());
        assert_eq!(normalize(&ok).unwrap().expose(), "4111111111111111");
        let bad = Secret::new("4111111111111112".to_string());
        let e = normalize(&bad).unwrap_err().to_string();
        assert!(!e.contains("4111"), "{e}");
        assert!(normalize(&Secret::new("41111".to_string())).is_err());
        assert_eq!(mask("411111", "1111", 16), "411111******1111");
    }

    #[test]
    fn expiry_is_month_and_year_not_past() {
        let jan_2027 = 1_799_000_000_000;
        assert!(check_expiry("01/27", jan_2027).is_ok());
        assert!(check_expiry("12/26", jan_2027).is_err());
        for bad in ["1/27", "13/27", "01-27", "ab/cd"] {
            assert!(check_expiry(bad, jan_2027).is_err(), "{bad}");
        }
    }
}

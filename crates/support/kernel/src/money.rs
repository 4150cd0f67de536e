//! Money (E4): an integer amount of minor units plus a `Currency` that knows its exponent.
//!
//! Every operation is checked (mixed currencies and overflow are errors, never panics or
//! wrap-around), every division names its rounding, and splits always add up to the whole.
//! No floating point anywhere.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency mismatch: {left} vs {right}")]
    CurrencyMismatch {
        left: &'static str,
        right: &'static str,
    },
    #[error("amount overflow")]
    Overflow,
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("cannot parse amount: {0}")]
    Parse(String),
    #[error("invalid allocation ratios (empty or all zero)")]
    InvalidRatios,
    #[error("division by zero")]
    DivisionByZero,
}

/// Longest piece of caller input echoed back in an error: errors end up in logs and responses.
const ECHO_MAX: usize = 32;

fn echo(s: &str) -> String {
    s.chars().take(ECHO_MAX).collect()
}

// ---------------------------------------------------------------------------------------------
// Currency
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct CurrencyInfo {
    code: &'static str,
    numeric: u16,
    exponent: u8,
}

/// An ISO 4217 currency. Copy, one pointer wide; only the constants below exist, so every
/// `Currency` has a known exponent.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(&'static CurrencyInfo);

macro_rules! currencies {
    ($($name:ident = ($numeric:expr, $exp:expr)),+ $(,)?) => {
        impl Currency {
            $(
                pub const $name: Currency = Currency(&CurrencyInfo {
                    code: stringify!($name),
                    numeric: $numeric,
                    exponent: $exp,
                });
            )+

            /// Every supported currency, in declaration order.
            pub const ALL: &'static [Currency] = &[$(Currency::$name),+];
        }
    };
}

currencies! {
    CNY = (156, 2),
    USD = (840, 2),
    EUR = (978, 2),
    GBP = (826, 2),
    JPY = (392, 0),
    HKD = (344, 2),
    KRW = (410, 0),
    SGD = (702, 2),
    BHD = (48, 3),
    KWD = (414, 3),
    AUD = (36, 2),
    CAD = (124, 2),
    CHF = (756, 2),
    MOP = (446, 2),
    OMR = (512, 3),
    VND = (704, 0),
    // The platform's virtual coin (虚币): not a national currency, so an X-code as ISO 4217
    // keeps them for units outside it, numeric 0 (none), whole coins only.
    XPC = (0, 0),
}

/// Exponents above this would make `10^exponent` a poor fit for i64 amounts; ISO stops at 4.
const MAX_EXPONENT: u8 = 4;

impl Currency {
    /// ISO 4217 alphabetic code, e.g. "CNY".
    pub fn code(self) -> &'static str {
        self.0.code
    }

    /// ISO 4217 numeric code, e.g. 156 for CNY.
    pub fn numeric(self) -> u16 {
        self.0.numeric
    }

    /// Number of minor-unit digits: 2 for CNY, 0 for JPY, 3 for BHD.
    pub fn exponent(self) -> u8 {
        self.0.exponent
    }

    pub fn all() -> &'static [Currency] {
        Self::ALL
    }

    /// Case-sensitive: "cny" is not a currency code, and accepting it would make two spellings
    /// of the same value reach storage.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.code() == code)
            .ok_or_else(|| MoneyError::UnknownCurrency(echo(code)))
    }

    pub fn from_numeric(numeric: u16) -> Option<Currency> {
        Self::ALL.iter().copied().find(|c| c.numeric() == numeric)
    }

    /// Minor units per major unit (10^exponent).
    fn scale(self) -> i64 {
        debug_assert!(self.exponent() <= MAX_EXPONENT);
        10i64.pow(u32::from(self.exponent()))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;

        impl serde::de::Visitor<'_> for CodeVisitor {
            type Value = Currency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 4217 currency code such as \"CNY\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Currency, E> {
                Currency::from_code(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(CodeVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Rounding
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rounding {
    /// Nearest; exact halves away from zero (2.5 -> 3, -2.5 -> -3).
    HalfUp,
    /// Nearest; exact halves to the even neighbour (2.5 -> 2, 3.5 -> 4). Banker's rounding.
    HalfEven,
    /// Toward zero (truncate).
    Down,
    /// Away from zero.
    Up,
}

/// `numerator / denominator` rounded as `mode` says. The caller computes the numerator in i128
/// so that products of two i64 never overflow before the division.
pub fn div_round(numerator: i128, denominator: i128, mode: Rounding) -> Result<i64, MoneyError> {
    if denominator == 0 {
        return Err(MoneyError::DivisionByZero);
    }
    // Only i128::MIN / -1 fails here, and its quotient cannot fit an i64 anyway.
    let q = numerator
        .checked_div(denominator)
        .ok_or(MoneyError::Overflow)?;
    let r = numerator
        .checked_rem(denominator)
        .ok_or(MoneyError::Overflow)?;

    let away = if r == 0 {
        false
    } else {
        let r_abs = r.unsigned_abs();
        // Distance from the remainder to the next multiple; compared instead of `2 * r` so that
        // nothing overflows even for denominators near i128::MAX.
        let rest = denominator.unsigned_abs() - r_abs;
        match mode {
            Rounding::Down => false,
            Rounding::Up => true,
            Rounding::HalfUp => r_abs >= rest,
            Rounding::HalfEven => r_abs > rest || (r_abs == rest && q % 2 != 0),
        }
    };

    let rounded = if away {
        // The exact quotient has the sign of numerator * denominator; `q` may be 0 so its own
        // sign cannot tell.
        let step = if (numerator < 0) == (denominator < 0) {
            1
        } else {
            -1
        };
        q.checked_add(step).ok_or(MoneyError::Overflow)?
    } else {
        q
    };
    i64::try_from(rounded).map_err(|_| MoneyError::Overflow)
}

// ---------------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------------

/// An amount in minor units (fen, cents; yen for JPY; fils for BHD) of one currency.
///
/// Deliberately no `+`/`-` operators and no `PartialOrd`: both could only be total by panicking
/// or by comparing amounts of different currencies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub const fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub const fn minor(&self) -> i64 {
        self.minor
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    pub const fn is_zero(&self) -> bool {
        self.minor == 0
    }

    pub const fn is_positive(&self) -> bool {
        self.minor > 0
    }

    pub const fn is_negative(&self) -> bool {
        self.minor < 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency.code(),
                right: other.currency.code(),
            })
        }
    }

    fn with_minor(&self, minor: i64) -> Money {
        Money::from_minor(minor, self.currency)
    }

    pub fn checked_add(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        self.minor
            .checked_add(other.minor)
            .map(|m| self.with_minor(m))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|m| self.with_minor(m))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_neg(&self) -> Result<Money, MoneyError> {
        self.minor
            .checked_neg()
            .map(|m| self.with_minor(m))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul_int(&self, factor: i64) -> Result<Money, MoneyError> {
        self.minor
            .checked_mul(factor)
            .map(|m| self.with_minor(m))
            .ok_or(MoneyError::Overflow)
    }

    /// Ordering is only meaningful within one currency.
    pub fn cmp_same(&self, other: Money) -> Result<Ordering, MoneyError> {
        self.same_currency(&other)?;
        Ok(self.minor.cmp(&other.minor))
    }

    /// `self * num / den`, rounded. The product is formed in i128, so only the final result can
    /// overflow.
    pub fn mul_ratio(&self, num: i64, den: i64, mode: Rounding) -> Result<Money, MoneyError> {
        let product = i128::from(self.minor) * i128::from(num);
        div_round(product, i128::from(den), mode).map(|m| self.with_minor(m))
    }

    /// A fee or rate in basis points (1 bp = 0.01%): 30 bps of 10.00 CNY is 0.03 CNY.
    pub fn percent_bps(&self, bps: u32, mode: Rounding) -> Result<Money, MoneyError> {
        let product = i128::from(self.minor) * i128::from(bps);
        div_round(product, 10_000, mode).map(|m| self.with_minor(m))
    }

    /// Splits `self` into parts proportional to `ratios` that add up exactly to `self`.
    ///
    /// Each part is first rounded toward zero; the few minor units left over go one at a time
    /// to the parts with the largest dropped fractions (earlier part first on ties). A negative
    /// amount is split as the mirror image of its absolute value. A zero ratio always gets zero.
    pub fn allocate(&self, ratios: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let total = ratios
            .iter()
            .try_fold(0u128, |acc, &r| acc.checked_add(u128::from(r)))
            .ok_or(MoneyError::Overflow)?;
        if total == 0 {
            return Err(MoneyError::InvalidRatios);
        }

        // |amount| <= 2^63 and ratio < 2^64, so the product stays below 2^127.
        let amount = u128::from(self.minor.unsigned_abs());
        let mut parts = Vec::with_capacity(ratios.len());
        let mut fractions = Vec::with_capacity(ratios.len());
        let mut handed_out = 0u128;
        for (i, &r) in ratios.iter().enumerate() {
            let exact = amount * u128::from(r);
            let part = exact / total;
            handed_out += part;
            parts.push(part);
            fractions.push((exact % total, i));
        }

        // Fewer leftover units than parts with a nonzero fraction (their fractions sum to
        // `leftover * total` and each is below `total`), so every unit lands on such a part.
        let leftover = amount - handed_out;
        fractions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in fractions.iter().take(leftover_len(leftover)) {
            if let Some(p) = parts.get_mut(i) {
                *p += 1;
            }
        }

        self.signed_parts(parts)
    }

    /// Splits `self` into `n` parts that differ by at most one minor unit, the larger ones
    /// first: 1.00 / 3 = 0.34, 0.33, 0.33. Same result as `allocate(&[1; n])`.
    pub fn allocate_even(&self, n: usize) -> Result<Vec<Money>, MoneyError> {
        if n == 0 {
            return Err(MoneyError::InvalidRatios);
        }
        let amount = u128::from(self.minor.unsigned_abs());
        let count = n as u128;
        let base = amount / count;
        let extra = amount % count;
        let parts = (0..count)
            .map(|i| if i < extra { base + 1 } else { base })
            .collect();
        self.signed_parts(parts)
    }

    /// Turns unsigned magnitudes (each at most |self|) back into amounts with self's sign.
    fn signed_parts(&self, parts: Vec<u128>) -> Result<Vec<Money>, MoneyError> {
        let negative = self.minor < 0;
        parts
            .into_iter()
            .map(|p| {
                let p = i128::try_from(p).map_err(|_| MoneyError::Overflow)?;
                let signed = if negative { -p } else { p };
                i64::try_from(signed)
                    .map(|m| self.with_minor(m))
                    .map_err(|_| MoneyError::Overflow)
            })
            .collect()
    }

    /// Parses a decimal amount in major units: "12.34" CNY is 1234 fen.
    ///
    /// Grammar: `-? digit+ ( '.' digit{1,exponent} )?`, the fraction only for currencies with a
    /// minor unit. Anything else (spaces, '+', exponents, thousands separators, more decimals
    /// than the currency has) is rejected rather than guessed at.
    pub fn parse_major(s: &str, currency: Currency) -> Result<Money, MoneyError> {
        let bad = || MoneyError::Parse(format!("{:?} is not a {} amount", echo(s), currency));

        let (negative, unsigned) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let exponent = usize::from(currency.exponent());
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return Err(bad());
        }
        let frac_digits = match frac_part {
            None => "",
            Some(f) if all_digits(f) && f.len() <= exponent => f,
            Some(_) => return Err(bad()),
        };

        // Accumulate the magnitude in i128 with checks: leading zeros may make the text long
        // but never the value, and i64::MIN's magnitude needs one more than i64::MAX.
        let mut magnitude: i128 = 0;
        let digits = int_part
            .bytes()
            .chain(frac_digits.bytes())
            .chain(std::iter::repeat_n(b'0', exponent - frac_digits.len()));
        for b in digits {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(b - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        let signed = if negative { -magnitude } else { magnitude };
        i64::try_from(signed)
            .map(|m| Money::from_minor(m, currency))
            .map_err(|_| MoneyError::Overflow)
    }

    /// Formats in major units with exactly `exponent` decimals: "12.34", "-0.05", "1234" (JPY),
    /// "1.234" (BHD). `parse_major` reads it back to the same amount.
    pub fn to_major_string(&self) -> String {
        let exponent = usize::from(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = self.currency.scale().unsigned_abs();
        let major = magnitude / scale;
        let minor = magnitude % scale;
        format!("{sign}{major}.{minor:0exponent$}")
    }
}

/// The leftover of an allocation is below the number of parts, which is a `usize`.
fn leftover_len(leftover: u128) -> usize {
    usize::try_from(leftover).unwrap_or(usize::MAX)
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MODES: [Rounding; 4] = [
        Rounding::HalfUp,
        Rounding::HalfEven,
        Rounding::Down,
        Rounding::Up,
    ];

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::CNY)
    }

    fn minors(parts: &[Money]) -> Vec<i64> {
        parts.iter().map(Money::minor).collect()
    }

    #[test]
    fn currency_table() {
        let expected = [
            ("CNY", 156, 2),
            ("USD", 840, 2),
            ("EUR", 978, 2),
            ("GBP", 826, 2),
            ("JPY", 392, 0),
            ("HKD", 344, 2),
            ("KRW", 410, 0),
            ("SGD", 702, 2),
            ("BHD", 48, 3),
            ("KWD", 414, 3),
        ];
        for (code, numeric, exponent) in expected {
            let c = Currency::from_code(code).unwrap();
            assert_eq!(c.code(), code);
            assert_eq!(c.numeric(), numeric);
            assert_eq!(c.exponent(), exponent);
            assert_eq!(c.to_string(), code);
            assert_eq!(code.parse::<Currency>().unwrap(), c);
            assert_eq!(Currency::from_numeric(numeric), Some(c));
        }
        assert!(Currency::ALL.iter().all(|c| c.exponent() <= MAX_EXPONENT));
        // Codes and numerics are unique, so lookups are unambiguous.
        for (i, a) in Currency::ALL.iter().enumerate() {
            for b in &Currency::ALL[i + 1..] {
                assert_ne!(a.code(), b.code());
                assert_ne!(a.numeric(), b.numeric());
            }
        }
    }

    #[test]
    fn currency_codes_are_case_sensitive() {
        assert_eq!(
            Currency::from_code("cny"),
            Err(MoneyError::UnknownCurrency("cny".into()))
        );
        assert!(Currency::from_code("").is_err());
        assert!(Currency::from_code("CNY ").is_err());
        assert!(Currency::from_code("XXX").is_err());
    }

    #[test]
    fn currency_serde_is_the_code() {
        use serde::de::value::{Error as DeError, StrDeserializer};
        use serde::de::IntoDeserializer;

        let de: StrDeserializer<'_, DeError> = "JPY".into_deserializer();
        assert_eq!(Currency::deserialize(de).unwrap(), Currency::JPY);
        let de: StrDeserializer<'_, DeError> = "jpy".into_deserializer();
        assert!(Currency::deserialize(de).is_err());
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(cny(1234).to_string(), "12.34 CNY");
        assert_eq!(format!("{:?}", cny(-5)), "-0.05 CNY");
        assert_eq!(
            Money::from_minor(1234, Currency::JPY).to_string(),
            "1234 JPY"
        );
        assert_eq!(
            Money::from_minor(1234, Currency::BHD).to_string(),
            "1.234 BHD"
        );
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let usd = Money::from_minor(1, Currency::USD);
        let err = MoneyError::CurrencyMismatch {
            left: "CNY",
            right: "USD",
        };
        assert_eq!(cny(1).checked_add(usd), Err(err.clone()));
        assert_eq!(cny(1).checked_sub(usd), Err(err.clone()));
        assert_eq!(cny(1).cmp_same(usd), Err(err));
        assert_eq!(cny(1).cmp_same(cny(2)), Ok(Ordering::Less));
        assert_eq!(cny(1).checked_add(cny(2)), Ok(cny(3)));
        assert_eq!(cny(1).checked_sub(cny(2)), Ok(cny(-1)));
        assert_eq!(cny(2).cmp_same(cny(2)), Ok(Ordering::Equal));
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(cny(i64::MAX).checked_add(cny(1)), Err(MoneyError::Overflow));
        assert_eq!(cny(i64::MIN).checked_sub(cny(1)), Err(MoneyError::Overflow));
        assert_eq!(cny(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(cny(i64::MAX).checked_mul_int(2), Err(MoneyError::Overflow));
        assert_eq!(cny(-7).checked_mul_int(3), Ok(cny(-21)));
        // The intermediate product overflows i64 but not i128: still exact.
        assert_eq!(
            cny(i64::MAX).mul_ratio(3, 3, Rounding::Down),
            Ok(cny(i64::MAX))
        );
        assert_eq!(
            cny(i64::MAX).mul_ratio(2, 1, Rounding::Down),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            cny(1).mul_ratio(1, 0, Rounding::Down),
            Err(MoneyError::DivisionByZero)
        );
    }

    #[test]
    fn rounding_modes_on_known_values() {
        // (numerator, denominator, HalfUp, HalfEven, Down, Up)
        let cases: [(i128, i128, i64, i64, i64, i64); 10] = [
            (25, 10, 3, 2, 2, 3),
            (35, 10, 4, 4, 3, 4),
            (-25, 10, -3, -2, -2, -3),
            (25, -10, -3, -2, -2, -3),
            (-35, -10, 4, 4, 3, 4),
            (24, 10, 2, 2, 2, 3),
            (26, 10, 3, 3, 2, 3),
            (5, 10, 1, 0, 0, 1),
            (-5, 10, -1, 0, 0, -1),
            (30, 10, 3, 3, 3, 3),
        ];
        for (n, d, hu, he, down, up) in cases {
            assert_eq!(div_round(n, d, Rounding::HalfUp), Ok(hu), "{n}/{d}");
            assert_eq!(div_round(n, d, Rounding::HalfEven), Ok(he), "{n}/{d}");
            assert_eq!(div_round(n, d, Rounding::Down), Ok(down), "{n}/{d}");
            assert_eq!(div_round(n, d, Rounding::Up), Ok(up), "{n}/{d}");
        }
        assert_eq!(
            div_round(1, 0, Rounding::Up),
            Err(MoneyError::DivisionByZero)
        );
        assert_eq!(
            div_round(i128::MIN, -1, Rounding::Up),
            Err(MoneyError::Overflow)
        );
        assert_eq!(div_round(i128::MAX, i128::MAX, Rounding::HalfEven), Ok(1));
    }

    #[test]
    fn fees_in_basis_points() {
        assert_eq!(cny(1000).percent_bps(30, Rounding::HalfUp), Ok(cny(3)));
        // 0.6% of 0.99 CNY = 0.594 fen.
        assert_eq!(cny(99).percent_bps(60, Rounding::HalfUp), Ok(cny(1)));
        assert_eq!(cny(99).percent_bps(60, Rounding::Down), Ok(cny(0)));
        assert_eq!(cny(-99).percent_bps(60, Rounding::Up), Ok(cny(-1)));
        assert_eq!(
            cny(i64::MAX).percent_bps(10_000, Rounding::Down),
            Ok(cny(i64::MAX))
        );
    }

    #[test]
    fn allocation_examples() {
        assert_eq!(
            minors(&cny(100).allocate(&[1, 1, 1]).unwrap()),
            [34, 33, 33]
        );
        assert_eq!(
            minors(&cny(-100).allocate(&[1, 1, 1]).unwrap()),
            [-34, -33, -33]
        );
        assert_eq!(minors(&cny(5).allocate(&[3, 7]).unwrap()), [2, 3]);
        // 0.5 each: tie goes to the earlier part.
        assert_eq!(minors(&cny(1).allocate(&[1, 1]).unwrap()), [1, 0]);
        // Largest fraction wins: 10 * 1/6 = 1.67, 10 * 2/6 = 3.33, 10 * 3/6 = 5.
        assert_eq!(minors(&cny(10).allocate(&[1, 2, 3]).unwrap()), [2, 3, 5]);
        assert_eq!(minors(&cny(7).allocate(&[0, 1, 0]).unwrap()), [0, 7, 0]);
        assert_eq!(
            minors(&cny(i64::MIN).allocate(&[1, 1]).unwrap()),
            [i64::MIN / 2, i64::MIN / 2]
        );
        assert_eq!(
            minors(&cny(i64::MAX).allocate(&[u64::MAX, u64::MAX, 1]).unwrap())
                .iter()
                .map(|&m| i128::from(m))
                .sum::<i128>(),
            i128::from(i64::MAX)
        );
        assert_eq!(cny(1).allocate(&[]), Err(MoneyError::InvalidRatios));
        assert_eq!(cny(1).allocate(&[0, 0]), Err(MoneyError::InvalidRatios));
        assert_eq!(minors(&cny(100).allocate_even(3).unwrap()), [34, 33, 33]);
        assert_eq!(cny(100).allocate_even(0), Err(MoneyError::InvalidRatios));
    }

    #[test]
    fn jpy_has_no_minor_unit() {
        let jpy = Currency::JPY;
        assert_eq!(
            Money::parse_major("1234", jpy),
            Ok(Money::from_minor(1234, jpy))
        );
        assert_eq!(
            Money::parse_major("-7", jpy),
            Ok(Money::from_minor(-7, jpy))
        );
        for bad in ["12.0", "12.", "12.5", ".5"] {
            assert!(
                matches!(Money::parse_major(bad, jpy), Err(MoneyError::Parse(_))),
                "{bad}"
            );
        }
        assert_eq!(Money::from_minor(1234, jpy).to_major_string(), "1234");
        assert_eq!(Money::from_minor(-5, jpy).to_major_string(), "-5");
        // 0.3% of 100 yen is 0.3 yen: no fraction to keep, so the rounding decides.
        let hundred = Money::from_minor(100, jpy);
        assert_eq!(
            hundred.percent_bps(30, Rounding::HalfUp).unwrap().minor(),
            0
        );
        assert_eq!(hundred.percent_bps(30, Rounding::Up).unwrap().minor(), 1);
        assert_eq!(
            minors(&Money::from_minor(1000, jpy).allocate_even(3).unwrap()),
            [334, 333, 333]
        );
    }

    #[test]
    fn bhd_has_three_decimals() {
        let bhd = Currency::BHD;
        assert_eq!(
            Money::parse_major("1.234", bhd),
            Ok(Money::from_minor(1234, bhd))
        );
        assert_eq!(
            Money::parse_major("1.2", bhd),
            Ok(Money::from_minor(1200, bhd))
        );
        assert_eq!(
            Money::parse_major("-0.005", bhd),
            Ok(Money::from_minor(-5, bhd))
        );
        assert!(matches!(
            Money::parse_major("1.2345", bhd),
            Err(MoneyError::Parse(_))
        ));
        assert_eq!(Money::from_minor(1234, bhd).to_major_string(), "1.234");
        assert_eq!(Money::from_minor(-5, bhd).to_major_string(), "-0.005");
        assert_eq!(Money::from_minor(1000, bhd).to_major_string(), "1.000");
        // 2.5% of 0.010 BHD = 0.25 fils.
        let ten_fils = Money::from_minor(10, bhd);
        assert_eq!(
            ten_fils.percent_bps(250, Rounding::HalfUp).unwrap().minor(),
            0
        );
        assert_eq!(ten_fils.percent_bps(250, Rounding::Up).unwrap().minor(), 1);
    }

    #[test]
    fn parse_major_edges() {
        let ok = |s: &str| Money::parse_major(s, Currency::CNY);
        assert_eq!(ok("12.34"), Ok(cny(1234)));
        assert_eq!(ok("12.3"), Ok(cny(1230)));
        assert_eq!(ok("12"), Ok(cny(1200)));
        assert_eq!(ok("-0.05"), Ok(cny(-5)));
        assert_eq!(ok("-0"), Ok(cny(0)));
        assert_eq!(ok("0007.00"), Ok(cny(700)));
        assert_eq!(ok("92233720368547758.07"), Ok(cny(i64::MAX)));
        assert_eq!(ok("-92233720368547758.08"), Ok(cny(i64::MIN)));
        assert_eq!(ok("92233720368547758.08"), Err(MoneyError::Overflow));
        assert_eq!(
            ok("99999999999999999999999999999999999999999"),
            Err(MoneyError::Overflow)
        );
        for bad in [
            "", "-", ".", "1.", ".1", "+1", " 1", "1 ", "1.234", "1e3", "1,000", "--1", "1.-2",
            "1.2.3", "１２", "0x10", "-.5",
        ] {
            assert!(matches!(ok(bad), Err(MoneyError::Parse(_))), "{bad:?}");
        }
    }

    fn currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::ALL)
    }

    fn mode() -> impl Strategy<Value = Rounding> {
        proptest::sample::select(MODES.to_vec())
    }

    proptest! {
        #[test]
        fn add_sub_are_inverse(a: i64, b: i64, c in currency()) {
            let (x, y) = (Money::from_minor(a, c), Money::from_minor(b, c));
            match x.checked_add(y) {
                Ok(sum) => {
                    prop_assert_eq!(Some(sum.minor()), a.checked_add(b));
                    prop_assert_eq!(sum.checked_sub(y), Ok(x));
                }
                Err(e) => {
                    prop_assert_eq!(e, MoneyError::Overflow);
                    prop_assert!(a.checked_add(b).is_none());
                }
            }
        }

        #[test]
        fn add_is_commutative(a: i64, b: i64, c in currency()) {
            let (x, y) = (Money::from_minor(a, c), Money::from_minor(b, c));
            prop_assert_eq!(x.checked_add(y), y.checked_add(x));
        }

        #[test]
        fn mixed_currency_always_errors(a: i64, b: i64, c1 in currency(), c2 in currency()) {
            prop_assume!(c1 != c2);
            let (x, y) = (Money::from_minor(a, c1), Money::from_minor(b, c2));
            let mismatch = |r: Result<Money, MoneyError>| {
                matches!(r, Err(MoneyError::CurrencyMismatch { .. }))
            };
            prop_assert!(mismatch(x.checked_add(y)));
            prop_assert!(mismatch(x.checked_sub(y)));
            prop_assert!(
                matches!(x.cmp_same(y), Err(MoneyError::CurrencyMismatch { .. })),
                "cmp_same across currencies"
            );
        }

        #[test]
        fn allocation_adds_up_and_is_fair(
            a: i64,
            ratios in proptest::collection::vec(0u64..=u64::from(u32::MAX), 1..12),
        ) {
            prop_assume!(ratios.iter().any(|&r| r > 0));
            let whole = cny(a);
            let parts = whole.allocate(&ratios).unwrap();
            prop_assert_eq!(parts.len(), ratios.len());
            let sum: i128 = parts.iter().map(|p| i128::from(p.minor())).sum();
            prop_assert_eq!(sum, i128::from(a));
            let total: i128 = ratios.iter().map(|&r| i128::from(r)).sum();
            for (p, &r) in parts.iter().zip(&ratios) {
                prop_assert_eq!(p.currency(), Currency::CNY);
                // |part - a * r / total| < 1, scaled by total to stay in integers.
                let diff = i128::from(p.minor()) * total - i128::from(a) * i128::from(r);
                prop_assert!(diff.abs() < total, "part {} ratio {} of {}", p.minor(), r, a);
                if r == 0 {
                    prop_assert!(p.is_zero());
                }
            }
        }

        #[test]
        fn allocate_even_matches_equal_ratios(a: i64, n in 1usize..20) {
            prop_assert_eq!(cny(a).allocate_even(n), cny(a).allocate(&vec![1; n]));
        }

        #[test]
        fn rounding_stays_within_one_unit(
            n in -(1i128 << 80)..(1i128 << 80),
            d in any::<i64>().prop_filter("nonzero", |d| *d != 0),
            m in mode(),
        ) {
            let d = i128::from(d);
            match div_round(n, d, m) {
                Ok(r) => {
                    // r*d fits: |r| <= |n/d| + 1 <= 2^80 + 1 and |d| <= 2^63.
                    let rd = i128::from(r) * d;
                    prop_assert!((rd - n).abs() < d.abs(), "{} / {} -> {}", n, d, r);
                    match m {
                        Rounding::Down => prop_assert!(rd.abs() <= n.abs()),
                        Rounding::Up => prop_assert!(rd.abs() >= n.abs()),
                        Rounding::HalfUp | Rounding::HalfEven => {
                            prop_assert!(2 * (rd - n).abs() <= d.abs());
                        }
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e, MoneyError::Overflow);
                    let q = n / d;
                    prop_assert!(q >= i128::from(i64::MAX) || q <= i128::from(i64::MIN));
                }
            }
        }

        #[test]
        fn half_even_and_half_up_differ_only_on_exact_halves(n: i64, d: i64) {
            prop_assume!(d != 0);
            let (n, d) = (i128::from(n), i128::from(d));
            let hu = div_round(n, d, Rounding::HalfUp);
            let he = div_round(n, d, Rounding::HalfEven);
            let exact_half = 2 * (n % d).abs() == d.abs();
            if !exact_half {
                prop_assert_eq!(hu, he);
            } else if let (Ok(hu), Ok(he)) = (hu, he) {
                // On a half, HalfEven lands on the even neighbour; HalfUp differs iff that
                // neighbour is the one toward zero.
                prop_assert_eq!(he % 2, 0);
                prop_assert!((hu - he).abs() <= 1);
            }
        }

        #[test]
        fn parse_reads_back_what_format_wrote(a: i64, c in currency()) {
            let m = Money::from_minor(a, c);
            prop_assert_eq!(Money::parse_major(&m.to_major_string(), c), Ok(m));
        }

        #[test]
        fn full_percentage_is_identity(a: i64, m in mode(), c in currency()) {
            let x = Money::from_minor(a, c);
            prop_assert_eq!(x.percent_bps(10_000, m), Ok(x));
            prop_assert_eq!(x.mul_ratio(7, 7, m), Ok(x));
        }

        #[test]
        fn percent_matches_mul_ratio(a: i64, bps: u32, m in mode()) {
            prop_assert_eq!(
                cny(a).percent_bps(bps, m),
                cny(a).mul_ratio(i64::from(bps), 10_000, m)
            );
        }
    }
}

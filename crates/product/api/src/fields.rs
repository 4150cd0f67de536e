//! The API's field types: what the server enforces is what the OpenAPI document says.
//! Amounts are integers of minor units within 1 … 10^15; currencies and products are names
//! from fixed lists; merchants' numbers, days and ids have patterns.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use paycore_kernel::product::Product;
use paycore_kernel::Currency;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// The largest amount accepted (10^15 minor units); larger is a mistake, not a sale.
pub const MAX_MINOR_UNITS: i64 = 1_000_000_000_000_000;

/// The pattern of the merchant's own numbers (`out_trade_no`, `out_refund_no`).
pub const MERCHANT_NO_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
/// The pattern of a platform id (32 digits).
pub const ID_PATTERN: &str = "^[0-9]{32}$";
/// The pattern of an accounting day.
pub const DAY_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// A JSON integer of minor units, at least `MIN`, at most [`MAX_MINOR_UNITS`]. Fractions,
/// strings, negatives and numbers that are too large are refused with a message saying which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MinorUnits<const MIN: i64>(pub i64);

/// An amount: positive.
pub type Amount = MinorUnits<1>;
/// A fee or a limit that may be zero.
pub type NonNegative = MinorUnits<0>;

impl<'de, const MIN: i64> Deserialize<'de> for MinorUnits<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: i64>(PhantomData<()>);
        impl<const MIN: i64> Visitor<'_> for V<MIN> {
            type Value = MinorUnits<MIN>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    f,
                    "an integer number of minor units from {MIN} to {MAX_MINOR_UNITS}"
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                let v = i64::try_from(v)
                    .ok()
                    .filter(|v| *v <= MAX_MINOR_UNITS)
                    .ok_or_else(|| {
                        E::custom(format!("amount is too large: at most {MAX_MINOR_UNITS}"))
                    })?;
                if v < MIN {
                    return Err(E::custom(format!("amount must be at least {MIN}")));
                }
                Ok(MinorUnits(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if v < MIN {
                    return Err(E::custom(format!("amount must be at least {MIN}")));
                }
                self.visit_u64(v as u64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.is_finite() && v.abs() > MAX_MINOR_UNITS as f64 {
                    return Err(E::custom(format!(
                        "amount is too large: at most {MAX_MINOR_UNITS}"
                    )));
                }
                Err(E::custom(
                    "amount must be an integer in the currency's minor unit (no fractions, no exponent)",
                ))
            }
        }
        d.deserialize_any(V::<MIN>(PhantomData))
    }
}

impl<const MIN: i64> PartialSchema for MinorUnits<MIN> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Integer))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(MIN))
            .maximum(Some(MAX_MINOR_UNITS))
            .description(Some("minor units of the currency (fen, cent, yen, fils)"))
            .into()
    }
}

impl<const MIN: i64> ToSchema for MinorUnits<MIN> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(if MIN >= 1 {
            "Amount"
        } else {
            "NonNegativeAmount"
        })
    }
}

fn string_enum(names: Vec<&'static str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(names))
        .description(Some(description))
        .into()
}

/// An ISO 4217 alphabetic currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyCode(pub Currency);

impl Serialize for CurrencyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.code())
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        Currency::from_code(&s)
            .map(CurrencyCode)
            .map_err(|_| de::Error::custom(format!("unknown currency {s:?} (ISO 4217, e.g. CNY)")))
    }
}

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Currency::all().iter().map(|c| c.code()).collect(),
            "ISO 4217 alphabetic currency code",
        )
    }
}

impl ToSchema for CurrencyCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

/// A payment product of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductCode(pub Product);

impl Serialize for ProductCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for ProductCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse::<Product>()
            .map(ProductCode)
            .map_err(|_| de::Error::custom(format!("unknown product {s:?}")))
    }
}

impl PartialSchema for ProductCode {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Product::ALL.iter().map(|p| p.as_str()).collect(),
            "a payment product",
        )
    }
}

impl ToSchema for ProductCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Product")
    }
}

/// RFC 3339 from unix milliseconds, as the API shows times.
pub fn rfc3339(unix_millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `YYYY-MM-DD` → `yyyymmdd`, or `None` for anything else.
pub fn day_number(day: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(day, &fmt).ok()?;
    Some(i64::from(d.year()) * 10_000 + i64::from(u8::from(d.month())) * 100 + i64::from(d.day()))
}

/// Text a person wrote (a subject, a name, a reason): no control characters.
pub fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A value that deserializes only from a JSON object. serde's derived structs also take an
/// array of their fields in order (`[null, null]` for a two-field struct); the API does not.
#[derive(Debug, Clone)]
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Obj)
    }
}

/// `deserialize_with` for an optional object field.
pub fn object_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Obj<T>>::deserialize(d)?.map(|o| o.0))
}

/// `deserialize_with` for an optional list of objects.
pub fn objects_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Ok(Option::<Vec<Obj<T>>>::deserialize(d)?.map(|v| v.into_iter().map(|o| o.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<i64, String> {
        serde_json::from_str::<Amount>(s)
            .map(|a| a.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn amounts_are_positive_integers_up_to_ten_to_the_fifteen() {
        assert_eq!(parse("1"), Ok(1));
        assert_eq!(parse("1000000000000000"), Ok(MAX_MINOR_UNITS));
        for bad in [
            "0",
            "-1",
            "1.5",
            "1e3",
            "\"100\"",
            "null",
            "true",
            "10000000000000001",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
        assert!(parse("12.5").unwrap_err().contains("integer"));
        assert!(parse("10000000000000001")
            .unwrap_err()
            .contains("too large"));
        assert!(parse("99999999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(serde_json::from_str::<NonNegative>("0").unwrap().0, 0);
    }

    #[test]
    fn currencies_and_products_are_names() {
        let c: CurrencyCode = serde_json::from_str("\"JPY\"").unwrap();
        assert_eq!(c.0.code(), "JPY");
        assert!(serde_json::from_str::<CurrencyCode>("\"XYZ\"").is_err());
        let p: ProductCode = serde_json::from_str("\"QUICK_PAY\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"QUICK_PAY\"");
        assert!(serde_json::from_str::<ProductCode>("\"quick_pay\"").is_err());
        assert_eq!(day_number("2026-12-02"), Some(20261202));
        assert_eq!(day_number("2026-13-02"), None);
    }
}

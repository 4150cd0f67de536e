//! Request bodies: strict JSON (wrong types and unknown fields are `INVALID_REQUEST`) and
//! amounts as positive integers of minor units, refused before any business code sees them.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequest, Request};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};

use crate::auth::read_body;
use crate::error::ApiError;
use crate::AppState;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req.into_body(), app.config.max_body_bytes).await?;
        // An empty body is an empty object: calls whose fields are all optional need none.
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        let value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// The largest amount accepted at the edge (10^15 minor units); larger is a mistake, not a sale.
pub const MAX_MINOR_UNITS: i64 = 1_000_000_000_000_000;

/// A JSON integer of minor units, at least `MIN`. Fractions, strings, negatives and numbers
/// above [`MAX_MINOR_UNITS`] are refused with a message that says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorUnits<const MIN: i64>(pub i64);

/// An amount: positive.
pub type Amount = MinorUnits<1>;
/// A fee or limit that may be zero.
pub type NonNegative = MinorUnits<0>;

impl<'de, const MIN: i64> Deserialize<'de> for MinorUnits<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: i64>(PhantomData<()>);
        impl<const MIN: i64> Visitor<'_> for V<MIN> {
            type Value = MinorUnits<MIN>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an integer number of minor units, at least {MIN}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                let v = i64::try_from(v)
                    .ok()
                    .filter(|v| *v <= MAX_MINOR_UNITS)
                    .ok_or_else(|| E::custom(format!("amount is above {MAX_MINOR_UNITS}")))?;
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
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom(
                    "amount must be an integer in the currency's minor unit (no fractions, no exponent)",
                ))
            }
        }
        d.deserialize_any(V::<MIN>(PhantomData))
    }
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
    fn amounts_are_positive_integers() {
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
        assert_eq!(serde_json::from_str::<NonNegative>("0").unwrap().0, 0);
    }
}

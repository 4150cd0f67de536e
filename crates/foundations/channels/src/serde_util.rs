//! Serde for types of other crates that do not implement it themselves.

/// `Product` as its API name (`"NET_BANK"`).
pub mod product {
    use paycore_kernel::product::Product;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Product, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Product, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A list of `Product`s as their API names.
pub mod products {
    use paycore_kernel::product::Product;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ps: &[Product], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ps.len()))?;
        for p in ps {
            seq.serialize_element(p.as_str())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Product>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

//! The sandbox identity service (公安身份核验, as a test double): it answers whether a name
//! and a resident identity number belong together. Its registry holds everyone, except that
//! numbers whose sequence digits (15 to 17) are `999` belong to no one — the way to script a
//! mismatch.

/// Whether the sandbox registry has `id_number` under `name`.
pub fn identity_matches(name: &str, id_number: &str) -> bool {
    let name = name.trim();
    !name.is_empty() && id_number.len() == 18 && id_number.get(14..17) != Some("999")
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_with_sequence_999_match_no_one() {
        assert!(super::identity_matches("张三", "11010519491231002X"));
        assert!(!super::identity_matches("张三", "110105194912319999"));
        assert!(!super::identity_matches(" ", "11010519491231002X"));
    }
}

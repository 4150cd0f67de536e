//! Personal data as the platform checks and shows it: card numbers' check digit, masked phones.

/// Whether a string of 12 to 19 ASCII digits passes the Luhn check digit.
pub fn luhn_valid(pan: &str) -> bool {
    let b = pan.as_bytes();
    if !(12..=19).contains(&b.len()) || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            match i % 2 {
                1 if d * 2 > 9 => d * 2 - 9,
                1 => d * 2,
                _ => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The first 3 and last 4 characters, the rest hidden: `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let c: Vec<char> = phone.chars().collect();
    if c.len() <= 7 {
        return "*".repeat(c.len());
    }
    let head: String = c[..3].iter().collect();
    let tail: String = c[c.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(c.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_masks() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("6222021234567890128"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("41111111111"));
        assert!(!luhn_valid("4111a11111111111"));
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("+85291234567"), "+85*****4567");
        assert_eq!(mask_phone("12345"), "*****");
    }
}

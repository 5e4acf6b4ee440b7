//! Python `str` behaviour the transform relies on, for ASCII text.

use crate::Decline;

/// ASCII characters for which Python's `str.isspace()` is true.
#[inline]
fn py_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// `text.strip()` of an ASCII string.
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii() && py_space(c as u8))
}

/// `ingest.parser.rules.as_int` of a string: `Ok(None)` where it gives None (not
/// `-?[0-9]+` once stripped, or 20 characters or more); `Err` for non-ASCII text, which
/// Python strips with Unicode rules (not worth reproducing).
pub fn as_int_str(text: &str) -> Result<Option<i64>, Decline> {
    if !text.is_ascii() {
        return Err(Decline);
    }
    let stripped = py_strip(text);
    if stripped.len() >= 20 {
        return Ok(None);
    }
    let (negative, digits) = match stripped.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, stripped),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let magnitude = digits
        .bytes()
        .fold(0i128, |acc, c| acc * 10 + i128::from(c - b'0'));
    let value = if negative { -magnitude } else { magnitude };
    Ok(i64::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(as_int_str(" 12 ").ok(), Some(Some(12)));
        assert_eq!(as_int_str("-0").ok(), Some(Some(0)));
        assert_eq!(as_int_str("007").ok(), Some(Some(7)));
        assert_eq!(as_int_str("-").ok(), Some(None));
        assert_eq!(as_int_str("+5").ok(), Some(None));
        assert_eq!(as_int_str("--5").ok(), Some(None));
        assert!(as_int_str("\u{661}").is_err());
        assert_eq!(as_int_str("9223372036854775807").ok(), Some(Some(i64::MAX)));
        assert_eq!(as_int_str("9223372036854775808").ok(), Some(None));
        assert_eq!(as_int_str("-9223372036854775808").ok(), Some(None));
        assert!(as_int_str("٣").is_err());
    }
}

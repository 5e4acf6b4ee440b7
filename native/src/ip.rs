//! `_client_ip` of ingest/parser/transform.py: Python's `ipaddress` rules (CPython 3.11),
//! IPv4-mapped IPv6 written as IPv4, IPv6 compressed like `str(IPv6Address)`.

use std::borrow::Cow;

use crate::text::py_strip;

/// Dotted-decimal IPv4 as `ipaddress.IPv4Address` accepts it (and as the transform's
/// regex matches it): four decimal octets <= 255, no leading zeros. `str()` of such an
/// address is the input itself.
pub fn ipv4(text: &str) -> Option<u32> {
    let mut value = 0u32;
    let mut count = 0;
    for octet in text.split('.') {
        count += 1;
        if count > 4 || octet.is_empty() || octet.len() > 3 {
            return None;
        }
        let bytes = octet.as_bytes();
        if !bytes.iter().all(u8::is_ascii_digit) || (bytes.len() > 1 && bytes[0] == b'0') {
            return None;
        }
        let number = bytes
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
        if number > 255 {
            return None;
        }
        value = (value << 8) | number;
    }
    (count == 4).then_some(value)
}

enum Part<'a> {
    Text(&'a str),
    Value(u16),
}

impl Part<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Part::Text(t) if t.is_empty())
    }

    fn hextet(&self) -> Option<u128> {
        match *self {
            Part::Value(v) => Some(u128::from(v)),
            Part::Text(t) => {
                if t.is_empty() || t.len() > 4 || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                u16::from_str_radix(t, 16).ok().map(u128::from)
            }
        }
    }
}

/// `IPv6Address._ip_int_from_string` (no scope id: `%` is refused here).
fn ipv6(text: &str) -> Option<u128> {
    if text.is_empty() || text.contains('%') || text.contains('/') {
        return None;
    }
    let mut parts: Vec<Part<'_>> = text.split(':').map(Part::Text).collect();
    if parts.len() < 3 {
        return None;
    }
    if let Some(Part::Text(last)) = parts.last() {
        if last.contains('.') {
            let v4 = ipv4(last)?;
            parts.pop();
            parts.push(Part::Value((v4 >> 16) as u16));
            parts.push(Part::Value(v4 as u16));
        }
    }
    if parts.len() > 9 {
        return None;
    }
    let count = parts.len();
    let mut skip = None;
    for (i, part) in parts.iter().enumerate().take(count - 1).skip(1) {
        if part.is_empty() {
            if skip.is_some() {
                return None;
            }
            skip = Some(i);
        }
    }
    let (hi, lo, skipped) = if let Some(skip) = skip {
        let mut hi = skip;
        let mut lo = count - skip - 1;
        if parts[0].is_empty() {
            hi -= 1;
            if hi != 0 {
                return None;
            }
        }
        if parts[count - 1].is_empty() {
            lo -= 1;
            if lo != 0 {
                return None;
            }
        }
        if hi + lo >= 8 {
            return None;
        }
        (hi, lo, 8 - (hi + lo))
    } else {
        if count != 8 || parts[0].is_empty() || parts[count - 1].is_empty() {
            return None;
        }
        (count, 0, 0)
    };
    let mut value = 0u128;
    for part in &parts[..hi] {
        value = (value << 16) | part.hextet()?;
    }
    value = value.checked_shl(16 * skipped as u32).unwrap_or(0);
    for part in &parts[count - lo..] {
        value = (value << 16) | part.hextet()?;
    }
    Some(value)
}

fn ipv4_text(value: u32) -> String {
    let [a, b, c, d] = value.to_be_bytes();
    format!("{a}.{b}.{c}.{d}")
}

/// `str(IPv6Address(value))`: the longest run (first of equals) of two or more zero
/// hextets becomes `::`.
fn ipv6_text(value: u128) -> String {
    let hextets: Vec<u16> = (0..8).map(|i| (value >> (112 - 16 * i)) as u16).collect();
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let (mut start, mut len) = (0usize, 0usize);
    for (i, &h) in hextets.iter().enumerate() {
        if h == 0 {
            if len == 0 {
                start = i;
            }
            len += 1;
            if len > best_len {
                best_len = len;
                best_start = start;
            }
        } else {
            len = 0;
        }
    }
    let join = |items: &[u16]| {
        items
            .iter()
            .map(|h| format!("{h:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len > 1 {
        let end = best_start + best_len;
        format!(
            "{}::{}",
            join(&hextets[..best_start]),
            join(&hextets[end..])
        )
    } else {
        join(&hextets)
    }
}

/// The normalised client address, or None when Python would not accept it (or when it
/// is not certain what Python gives).
pub fn client_ip(text: &str) -> Option<Cow<'_, str>> {
    if ipv4(text).is_some() {
        return Some(Cow::Borrowed(text));
    }
    if !text.is_ascii() {
        return None;
    }
    let stripped = py_strip(text);
    if ipv4(stripped).is_some() {
        return Some(Cow::Borrowed(stripped));
    }
    let value = ipv6(stripped)?;
    if value >> 32 == 0xFFFF {
        return Some(Cow::Owned(ipv4_text(value as u32)));
    }
    Some(Cow::Owned(ipv6_text(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let cases = [
            ("1.2.3.4", Some("1.2.3.4")),
            (" 1.2.3.4\n", Some("1.2.3.4")),
            ("01.2.3.4", None),
            (
                "2001:0db8:0000:0000:0000:0000:0000:0001",
                Some("2001:db8::1"),
            ),
            ("::", Some("::")),
            ("::1", Some("::1")),
            ("1::", Some("1::")),
            ("::ffff:1.2.3.4", Some("1.2.3.4")),
            ("::FFFF:0102:0304", Some("1.2.3.4")),
            ("1:0:0:1:0:0:0:1", Some("1:0:0:1::1")),
            ("1:0:0:1:0:0:1:1", Some("1::1:0:0:1:1")),
            ("1:2:3:4:5:6:7:8", Some("1:2:3:4:5:6:7:8")),
            ("1:2:3:4:5:6:7::", Some("1:2:3:4:5:6:7:0")),
            ("::2:3:4:5:6:7:8", Some("0:2:3:4:5:6:7:8")),
            ("1:2:3:4:5:6:7:8:9", None),
            (":1:2::", None),
            ("fe80::1%eth0", None),
            ("12345::", None),
        ];
        for (input, expected) in cases {
            assert_eq!(client_ip(input).as_deref(), expected, "{input}");
        }
    }
}

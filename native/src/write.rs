//! JSON output the way `orjson.dumps` writes it: compact, non-ASCII as UTF-8, and in
//! strings only `"`, `\` and control characters escaped (`\b \t \n \f \r` short, the
//! others as `\u00xx` with lower-case hex).

use crate::Decline;

/// 0: as is; `u`: `\u00xx`; else the character after the backslash.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// High bit of each zero byte of `y` (exact: no carries between bytes).
#[inline]
fn zero_bytes(y: u64) -> u64 {
    !(((y & LOW7) + LOW7) | y | LOW7)
}

/// High bit of each byte of `x` below 0x20 (exact).
#[inline]
pub fn control_bytes(x: u64) -> u64 {
    !(((x & LOW7) + ONES * 0x60) | x) & HIGH
}

/// High bit of each byte of `x` that JSON strings escape: `"`, `\`, control characters.
#[inline]
pub fn special_bytes(x: u64) -> u64 {
    zero_bytes(x ^ (ONES * u64::from(b'"')))
        | zero_bytes(x ^ (ONES * u64::from(b'\\')))
        | control_bytes(x)
}

/// The content of a JSON string (no quotes) for `text`.
pub fn escaped(out: &mut Vec<u8>, text: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * text.len() + 16, 0);
    match escape_quotes(&mut out[start..], text) {
        Some(written) => out.truncate(start + written),
        None => {
            out.truncate(start);
            escaped_slow(out, text);
        }
    }
}

/// `escaped` into `buf` (at least `2 * text.len() + 8` bytes) for text without control
/// characters, 8 bytes at a time (one backslash before each `"` and `\`); the number
/// of bytes written, or None if `text` has a control character.
fn escape_quotes(buf: &mut [u8], text: &[u8]) -> Option<usize> {
    let mut j = 0;
    let chunks = text.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(bytes);
        let mut mask = special_bytes(x);
        if mask == 0 {
            buf[j..j + 8].copy_from_slice(chunk);
            j += 8;
            continue;
        }
        if control_bytes(x) != 0 {
            return None;
        }
        // store the chunk from the first unwritten byte, then put a backslash before
        // each special byte and store the rest again
        let mut done = 0usize;
        while mask != 0 {
            let at = (mask.trailing_zeros() / 8) as usize;
            buf[j..j + 8].copy_from_slice(&(x >> (8 * done)).to_le_bytes());
            j += at - done;
            buf[j] = b'\\';
            j += 1;
            done = at;
            mask &= mask - 1;
        }
        buf[j..j + 8].copy_from_slice(&(x >> (8 * done)).to_le_bytes());
        j += 8 - done;
    }
    for &c in rest {
        match ESCAPE[c as usize] {
            0 => {}
            b'"' | b'\\' => {
                buf[j] = b'\\';
                j += 1;
            }
            _ => return None,
        }
        buf[j] = c;
        j += 1;
    }
    Some(j)
}

/// `escaped`, a byte at a time (any text).
fn escaped_slow(out: &mut Vec<u8>, text: &[u8]) {
    let mut run = 0;
    for (i, &c) in text.iter().enumerate() {
        let escape = ESCAPE[c as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&text[run..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        run = i + 1;
    }
    out.extend_from_slice(&text[run..]);
}

/// A string that may need escaping (`clean`: known to need none).
#[derive(Clone, Copy, Debug)]
pub struct Text<'a> {
    pub s: &'a str,
    pub clean: bool,
}

impl<'a> Text<'a> {
    pub fn clean(s: &'a str) -> Self {
        Text { s, clean: true }
    }
}

/// `"text"`.
#[inline]
pub fn string(out: &mut Vec<u8>, text: Text<'_>) {
    out.push(b'"');
    if text.clean {
        out.extend_from_slice(text.s.as_bytes());
    } else {
        escaped(out, text.s.as_bytes());
    }
    out.push(b'"');
}

/// `"text"` of a string lower-cased (ASCII only: the caller has checked).
pub fn lower_string(out: &mut Vec<u8>, text: Text<'_>) {
    let start = out.len();
    string(out, text);
    out[start..].make_ascii_lowercase();
}

#[inline]
pub fn int(out: &mut Vec<u8>, value: i64) {
    let mut buffer = itoa::Buffer::new();
    out.extend_from_slice(buffer.format(value).as_bytes());
}

/// A comma unless `first` (which is then cleared): between the items of a list or object.
#[inline]
pub fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if *first {
        *first = false;
    } else {
        out.push(b',');
    }
}

/// `"key":`, after a comma unless `first` (which is then cleared). `key` is a plain name.
#[inline]
pub fn key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    comma(out, first);
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `open`, what `fill` writes, then `close`; or nothing at all when `fill` writes nothing
/// (an object or list the Python code leaves out when empty). True if written.
#[inline]
pub fn enclosed(
    out: &mut Vec<u8>,
    open: &[u8],
    close: u8,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), Decline>,
) -> Result<bool, Decline> {
    let mark = out.len();
    out.extend_from_slice(open);
    let inside = out.len();
    fill(out)?;
    if out.len() == inside {
        out.truncate(mark);
        Ok(false)
    } else {
        out.push(close);
        Ok(true)
    }
}

/// Hex of `bytes`, lower-case.
pub fn hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_orjson() {
        let mut text: Vec<u8> = (0u8..0x20).collect();
        text.extend_from_slice("\"\\/\u{7f}é😀 plain text, long enough".as_bytes());
        for cut in 0..text.len() {
            for piece in [&text[cut..], &text[..cut]] {
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                escaped(&mut fast, piece);
                escaped_slow(&mut slow, piece);
                assert_eq!(fast, slow);
            }
        }
        let mut quotes = Vec::new();
        escaped(&mut quotes, br#"{"a":"b\"c","d":[1,2]}"#);
        assert_eq!(quotes, br#"{\"a\":\"b\\\"c\",\"d\":[1,2]}"#);
        let mut controls = Vec::new();
        escaped(&mut controls, b"\x00\x08\t\n\x0b\x0c\r\x1f");
        assert_eq!(controls, br"\u0000\b\t\n\u000b\f\r\u001f");
    }
}

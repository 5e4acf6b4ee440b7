//! JSON output the way `orjson.dumps` writes it: compact, non-ASCII as UTF-8, and in
//! strings only `"`, `\` and control characters escaped (`\b \t \n \f \r` short, the
//! others as `\u00xx` with lower-case hex).

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

/// The content of a JSON string (no quotes) for `text`.
pub fn escaped(out: &mut Vec<u8>, text: &[u8]) {
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

/// `"key":`, after a comma unless `first` (which is then cleared). `key` is a plain name.
#[inline]
pub fn key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    if *first {
        *first = false;
    } else {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Hex of `bytes`, lower-case.
pub fn hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

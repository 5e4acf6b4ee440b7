//! A strict JSON parser into a flat tape (pre-order node list).
//!
//! It accepts a subset of what `orjson.loads` accepts, with the same meaning, and
//! declines everything else: floats (a fraction or an exponent), integers outside i64,
//! lone surrogates, duplicate keys in an object, nesting deeper than [`MAX_DEPTH`], and of
//! course anything that is not JSON. The input must be valid UTF-8 (checked up front).
//!
//! Strings without escapes are kept as byte ranges of the input: such a range never
//! holds a byte that `orjson.dumps` escapes (`"`, `\` or a control character), so it can
//! be written out as it is. Strings with escapes are decoded into a side buffer and are
//! escaped again when written.

use crate::write::special_bytes;
use crate::Decline;

/// Deepest nesting of arrays and objects accepted (the record itself is depth 1).
pub const MAX_DEPTH: usize = 64;
/// Most members in one array or object. Larger ones are declined: the duplicate-key check
/// and the transform's de-duplication compare members pairwise, so this bounds their work
/// per container (WAF records have a few dozen headers or excluded rules at most; the
/// Python paths take anything larger, in linear time).
pub const MAX_MEMBERS: u32 = 256;

#[derive(Clone, Copy, Debug)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    /// `start..start+len` of the input (`decoded == false`) or of the decoded buffer.
    Str {
        start: u32,
        len: u32,
        decoded: bool,
    },
    /// `len` elements; `end` is the index of the node after the last descendant.
    Arr {
        len: u32,
        end: u32,
    },
    /// `len` members, each a key (a `Str` node) followed by its value.
    Obj {
        len: u32,
        end: u32,
    },
}

/// Bytes that end the plain part of a string: `"`, `\` and control characters.
static STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

struct Parser<'a, 'b> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    canonical: bool,
    nodes: &'b mut Vec<Node>,
    dec: &'b mut String,
    keys: &'b mut Vec<Key>,
}

/// A key of the object being checked for repeats: (fingerprint, start, len, decoded).
pub type Key = (u32, u32, u32, bool);

/// The text of a `Str` node's span: in the input, or in the decoded buffer.
pub fn span<'s>(raw: &'s str, dec: &'s str, start: u32, len: u32, decoded: bool) -> &'s str {
    let range = start as usize..(start + len) as usize;
    if decoded {
        &dec[range]
    } else {
        &raw[range]
    }
}

/// What [`parse`] found besides the tape.
pub struct Parsed<'a> {
    /// The input as `&str`.
    pub text: &'a str,
    /// The input is exactly what `orjson.dumps` writes for the value: no whitespace
    /// between tokens, no `-0`, and only the escapes orjson writes (`\"`, `\\`,
    /// `\b \t \n \f \r`, `\u00xx` for other control characters).
    pub canonical: bool,
}

/// Parse `raw` (one JSON object) into `nodes`; decoded strings go to `dec`; `keys` is
/// scratch space. Node 0 is the object.
pub fn parse<'a>(
    raw: &'a [u8],
    nodes: &mut Vec<Node>,
    dec: &mut String,
    keys: &mut Vec<Key>,
) -> Result<Parsed<'a>, Decline> {
    nodes.clear();
    dec.clear();
    if raw.len() >= u32::MAX as usize / 2 || raw.first() != Some(&b'{') {
        return Err(Decline);
    }
    let text = std::str::from_utf8(raw).map_err(|_| Decline)?;
    let mut parser = Parser {
        text,
        bytes: raw,
        pos: 0,
        canonical: true,
        nodes,
        dec,
        keys,
    };
    parser.object(1)?;
    parser.skip_ws();
    if parser.pos != raw.len() {
        return Err(Decline);
    }
    Ok(Parsed {
        text,
        canonical: parser.canonical,
    })
}

impl Parser<'_, '_> {
    #[inline]
    fn skip_ws(&mut self) {
        match self.bytes.get(self.pos) {
            Some(&c) if c > b' ' => return, // the usual case: compact JSON
            None => return,
            _ => {}
        }
        while let Some(&c) = self.bytes.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
                self.canonical = false;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Result<u8, Decline> {
        self.bytes.get(self.pos).copied().ok_or(Decline)
    }

    fn value(&mut self, depth: usize) -> Result<(), Decline> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let node = self.string()?;
                self.nodes.push(node);
                Ok(())
            }
            b't' => self.literal(b"true", Node::Bool(true)),
            b'f' => self.literal(b"false", Node::Bool(false)),
            b'n' => self.literal(b"null", Node::Null),
            b'-' | b'0'..=b'9' => {
                let node = self.number()?;
                self.nodes.push(node);
                Ok(())
            }
            _ => Err(Decline),
        }
    }

    fn literal(&mut self, word: &[u8], node: Node) -> Result<(), Decline> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) != Some(word) {
            return Err(Decline);
        }
        self.pos = end;
        self.nodes.push(node);
        Ok(())
    }

    fn number(&mut self) -> Result<Node, Decline> {
        let bytes = self.bytes;
        let mut i = self.pos;
        let negative = bytes[i] == b'-';
        if negative {
            i += 1;
        }
        // accumulated as a negative number, so that i64::MIN fits
        let mut acc: i64 = 0;
        match bytes.get(i) {
            Some(b'0') => {
                i += 1;
                if matches!(bytes.get(i), Some(b'0'..=b'9')) {
                    return Err(Decline); // leading zero: not JSON
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(&c) = bytes.get(i) {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    acc = acc
                        .checked_mul(10)
                        .and_then(|a| a.checked_sub(i64::from(c - b'0')))
                        .ok_or(Decline)?;
                    i += 1;
                }
            }
            _ => return Err(Decline),
        }
        if matches!(bytes.get(i), Some(b'.' | b'e' | b'E')) {
            return Err(Decline); // a float
        }
        self.pos = i;
        if negative && acc == 0 {
            self.canonical = false; // -0 is written 0
        }
        let value = if negative {
            acc
        } else {
            acc.checked_neg().ok_or(Decline)?
        };
        Ok(Node::Int(value))
    }

    fn hex4(&self, at: usize) -> Result<u32, Decline> {
        let digits = self.bytes.get(at..at + 4).ok_or(Decline)?;
        let mut value = 0u32;
        for &c in digits {
            let digit = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Decline),
            };
            value = value * 16 + u32::from(digit);
        }
        Ok(value)
    }

    /// The string starting at `self.pos` (a `"`), as a `Str` node.
    #[inline(always)]
    fn string(&mut self) -> Result<Node, Decline> {
        let bytes = self.bytes;
        let start = self.pos + 1;
        let mut i = start;
        loop {
            // 8 bytes at a time up to the first `"`, `\` or control character
            if let Some(chunk) = bytes.get(i..i + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                let mask = special_bytes(u64::from_le_bytes(word));
                if mask == 0 {
                    i += 8;
                    continue;
                }
                i += (mask.trailing_zeros() / 8) as usize;
            }
            let c = *bytes.get(i).ok_or(Decline)?;
            if STOP[c as usize] {
                if c == b'"' {
                    self.pos = i + 1;
                    return Ok(Node::Str {
                        start: start as u32,
                        len: (i - start) as u32,
                        decoded: false,
                    });
                }
                if c == b'\\' {
                    break;
                }
                return Err(Decline); // a raw control character
            }
            i += 1;
        }
        let text = self.text;
        let dec_start = self.dec.len();
        let mut run = start;
        loop {
            let c = *bytes.get(i).ok_or(Decline)?;
            if !STOP[c as usize] {
                i += 1;
                continue;
            }
            // runs end at ASCII bytes, so they are char boundaries of valid UTF-8
            self.dec.push_str(text.get(run..i).ok_or(Decline)?);
            match c {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' => {
                    let escape = *bytes.get(i + 1).ok_or(Decline)?;
                    i += 2;
                    let ch = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => {
                            self.canonical = false;
                            '/'
                        }
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = self.hex4(i)?;
                            i += 4;
                            let code = if (0xD800..0xDC00).contains(&unit) {
                                if bytes.get(i..i + 2) != Some(b"\\u") {
                                    return Err(Decline); // lone high surrogate
                                }
                                let low = self.hex4(i + 2)?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(Decline);
                                }
                                i += 6;
                                self.canonical = false;
                                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&unit) {
                                return Err(Decline); // lone low surrogate
                            } else {
                                // orjson writes \u00xx (lower-case) for these only
                                let lower = !bytes[i - 4..i].iter().any(u8::is_ascii_uppercase);
                                if unit >= 0x20 || matches!(unit, 8..=10 | 12 | 13) || !lower {
                                    self.canonical = false;
                                }
                                unit
                            };
                            char::from_u32(code).ok_or(Decline)?
                        }
                        _ => return Err(Decline),
                    };
                    self.dec.push(ch);
                    run = i;
                }
                _ => return Err(Decline), // a raw control character
            }
        }
        self.pos = i;
        Ok(Node::Str {
            start: dec_start as u32,
            len: (self.dec.len() - dec_start) as u32,
            decoded: true,
        })
    }

    /// After a member of an array or object: count it (declining past [`MAX_MEMBERS`]),
    /// then `,` (true: another member follows) or `close` (false: the end).
    fn next_member(&mut self, len: &mut u32, close: u8) -> Result<bool, Decline> {
        *len += 1;
        if *len > MAX_MEMBERS {
            return Err(Decline);
        }
        self.skip_ws();
        let byte = self.peek()?;
        self.pos += 1;
        match byte {
            b',' => Ok(true),
            _ if byte == close => Ok(false),
            _ => Err(Decline),
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), Decline> {
        if depth > MAX_DEPTH {
            return Err(Decline);
        }
        self.pos += 1;
        let at = self.nodes.len();
        self.nodes.push(Node::Arr { len: 0, end: 0 });
        let mut len = 0u32;
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                self.value(depth)?;
                if !self.next_member(&mut len, b']')? {
                    break;
                }
            }
        }
        let end = self.nodes.len() as u32;
        self.nodes[at] = Node::Arr { len, end };
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), Decline> {
        if depth > MAX_DEPTH {
            return Err(Decline);
        }
        self.pos += 1;
        let at = self.nodes.len();
        self.nodes.push(Node::Obj { len: 0, end: 0 });
        let mut len = 0u32;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek()? != b'"' {
                    return Err(Decline);
                }
                let key = self.string()?;
                self.nodes.push(key);
                self.skip_ws();
                if self.peek()? != b':' {
                    return Err(Decline);
                }
                self.pos += 1;
                self.skip_ws();
                self.value(depth)?;
                if !self.next_member(&mut len, b'}')? {
                    break;
                }
            }
        }
        let end = self.nodes.len() as u32;
        self.nodes[at] = Node::Obj { len, end };
        if len > 1 {
            self.check_unique_keys(at)?;
        }
        Ok(())
    }

    /// Decline an object with a repeated key (orjson keeps the last value at the first
    /// key's place; not worth reproducing).
    fn check_unique_keys(&mut self, at: usize) -> Result<(), Decline> {
        self.keys.clear();
        let end = match self.nodes[at] {
            Node::Obj { end, .. } => end as usize,
            _ => return Err(Decline),
        };
        let mut i = at + 1;
        while i < end {
            match self.nodes[i] {
                Node::Str {
                    start,
                    len,
                    decoded,
                } => {
                    let key = span(self.text, self.dec, start, len, decoded).as_bytes();
                    // length, first and last byte: cheap to compare, rarely equal
                    let fingerprint = match (key.first(), key.last()) {
                        (Some(&a), Some(&b)) => (len << 16) ^ (u32::from(a) << 8) ^ u32::from(b),
                        _ => 0,
                    };
                    self.keys.push((fingerprint, start, len, decoded));
                }
                _ => return Err(Decline),
            }
            i = match self.nodes[i + 1] {
                Node::Arr { end, .. } | Node::Obj { end, .. } => end as usize,
                _ => i + 2,
            };
        }
        let slice = |(_, start, len, decoded): Key| span(self.text, self.dec, start, len, decoded);
        for (n, &a) in self.keys.iter().enumerate() {
            for &b in &self.keys[n + 1..] {
                if a.0 == b.0 && a.2 == b.2 && slice(a) == slice(b) {
                    return Err(Decline);
                }
            }
        }
        Ok(())
    }
}

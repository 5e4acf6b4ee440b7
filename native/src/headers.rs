//! `_headers`: a request's (or the inserted) header list as a dict of lower-cased names,
//! sensitive values replaced by their HMAC.

use std::borrow::Cow;

use crate::config::Config;
use crate::tape::{list, Tape, V};
use crate::write::{lower_string, string, Text};
use crate::{Decline, R};

/// A header value as it goes into the document.
struct Value<'a> {
    group: usize,
    text: Cow<'a, str>,
    clean: bool,
}

/// `_headers`: names (original case, ASCII) in first-seen order, values by name.
#[derive(Default)]
pub struct Headers<'a> {
    names: Vec<Text<'a>>,
    values: Vec<Value<'a>>,
    repeated: bool,
}

impl<'a> Headers<'a> {
    /// No header at all (`_headers` gave an empty dict).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `_first(headers.get(lower))`.
    pub fn first(&self, lower: &str) -> Option<(&str, bool)> {
        let group = self
            .names
            .iter()
            .position(|n| n.s.eq_ignore_ascii_case(lower))?;
        self.values
            .iter()
            .find(|v| v.group == group)
            .map(|v| (v.text.as_ref(), v.clean))
    }

    /// `orjson.dumps` of the dict: one value, or a list of the values of a repeated name.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (group, name) in self.names.iter().enumerate() {
            if group > 0 {
                out.push(b',');
            }
            lower_string(out, *name);
            out.push(b':');
            if !self.repeated {
                let value = &self.values[group];
                string(
                    out,
                    Text {
                        s: &value.text,
                        clean: value.clean,
                    },
                );
                continue;
            }
            let count = self.values.iter().filter(|v| v.group == group).count();
            if count > 1 {
                out.push(b'[');
            }
            let mut first = true;
            for value in self.values.iter().filter(|v| v.group == group) {
                if !first {
                    out.push(b',');
                }
                first = false;
                string(
                    out,
                    Text {
                        s: &value.text,
                        clean: value.clean,
                    },
                );
            }
            if count > 1 {
                out.push(b']');
            }
        }
        out.push(b'}');
    }
}

/// `_headers(entries, hasher)`; the sensitive values replaced by their HMAC (the value
/// nodes and their hashes are added to `replace`).
pub fn headers<'a>(
    cfg: &Config,
    t: &Tape<'a>,
    entries: V<'a>,
    replace: &mut Vec<(usize, String)>,
) -> R<Headers<'a>> {
    let mut set = Headers::default();
    let Some(array) = list(entries) else {
        return Ok(set);
    };
    set.names.reserve(16);
    set.values.reserve(16);
    for entry in t.elems(array) {
        let V::Obj(obj) = t.v(entry) else {
            continue;
        };
        let (mut name, mut value) = (None, None);
        for (k, v) in t.members(obj) {
            match k.s {
                "name" => name = Some(v),
                "value" => value = Some(v),
                _ => {}
            }
        }
        let V::Str(name) = t.vo(name) else {
            continue;
        };
        if !name.s.is_ascii() {
            return Err(Decline); // Python's full Unicode lower()
        }
        let sensitive = cfg.is_sensitive(name.s);
        let (text, clean): (Cow<'a, str>, bool) = match t.vo(value) {
            V::Str(s) => (Cow::Borrowed(s.s), s.clean),
            V::Null if value.is_none() && sensitive => return Err(Decline), // key added
            V::Null => (Cow::Borrowed(""), true),
            V::Int(n) => (Cow::Owned(n.to_string()), true),
            V::Bool(b) => (Cow::Borrowed(if b { "True" } else { "False" }), true),
            V::Arr(..) | V::Obj(..) => return Err(Decline), // str() of a list or dict
        };
        let (text, clean) = match (sensitive, value) {
            (true, Some(at)) => {
                let hashed = cfg.hash(&text);
                replace.push((at, hashed.clone()));
                (Cow::Owned(hashed), true)
            }
            _ => (text, clean),
        };
        let group = match set
            .names
            .iter()
            .position(|n| n.s.eq_ignore_ascii_case(name.s))
        {
            Some(group) => {
                set.repeated = true;
                group
            }
            None => {
                set.names.push(name);
                set.names.len() - 1
            }
        };
        set.values.push(Value { group, text, clean });
    }
    Ok(set)
}

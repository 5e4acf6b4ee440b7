//! Reading the parsed tape with Python's eyes: values, truthiness, `as_text`, `as_int`.

use crate::json::{span, Node};
use crate::text::as_int_str;
use crate::write::{self, Text};
use crate::Decline;

/// One value as the Python code sees it after `orjson.loads`.
#[derive(Clone, Copy, Debug)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(Text<'a>),
    /// (node index, number of elements)
    Arr(usize, usize),
    /// node index
    Obj(usize),
}

pub struct Tape<'a> {
    pub raw: &'a str,
    pub dec: &'a str,
    pub nodes: &'a [Node],
}

impl<'a> Tape<'a> {
    /// The string of a `Str` node (keys are always `Str` nodes).
    pub fn text(&self, i: usize) -> Text<'a> {
        match self.nodes[i] {
            Node::Str {
                start,
                len,
                decoded,
            } => Text {
                s: span(self.raw, self.dec, start, len, decoded),
                clean: !decoded,
            },
            _ => panic!("not a string node"),
        }
    }

    pub fn v(&self, i: usize) -> V<'a> {
        match self.nodes[i] {
            Node::Null => V::Null,
            Node::Bool(b) => V::Bool(b),
            Node::Int(n) => V::Int(n),
            Node::Str { .. } => V::Str(self.text(i)),
            Node::Arr { len, .. } => V::Arr(i, len as usize),
            Node::Obj { .. } => V::Obj(i),
        }
    }

    /// `dict.get`: a missing key reads as None.
    #[inline]
    pub fn vo(&self, i: Option<usize>) -> V<'a> {
        match i {
            Some(i) => self.v(i),
            None => V::Null,
        }
    }

    /// The index after node `i` and its descendants.
    #[inline]
    pub fn next(&self, i: usize) -> usize {
        match self.nodes[i] {
            Node::Arr { end, .. } | Node::Obj { end, .. } => end as usize,
            _ => i + 1,
        }
    }

    pub fn members(&self, obj: usize) -> Members<'_, 'a> {
        let left = match self.nodes[obj] {
            Node::Obj { len, .. } => len as usize,
            _ => 0,
        };
        Members {
            tape: self,
            i: obj + 1,
            left,
        }
    }

    pub fn elems(&self, arr: usize) -> Elems<'_, 'a> {
        let left = match self.nodes[arr] {
            Node::Arr { len, .. } => len as usize,
            _ => 0,
        };
        Elems {
            tape: self,
            i: arr + 1,
            left,
        }
    }

    pub fn get(&self, obj: usize, key: &str) -> Option<usize> {
        self.members(obj).find(|(k, _)| k.s == key).map(|(_, v)| v)
    }

    /// `orjson.dumps` of node `i`, with the string values of the nodes in `replace`
    /// (sorted by node index, consumed from `*next`) written instead.
    pub fn write(
        &self,
        out: &mut Vec<u8>,
        i: usize,
        replace: &[(usize, String)],
        next: &mut usize,
    ) -> usize {
        if let Some((at, text)) = replace.get(*next) {
            if *at == i {
                *next += 1;
                write::string(out, Text::clean(text));
                return self.next(i);
            }
        }
        match self.nodes[i] {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Int(n) => write::int(out, n),
            Node::Str { .. } => write::string(out, self.text(i)),
            Node::Arr { len, end } => {
                out.push(b'[');
                let mut j = i + 1;
                for n in 0..len {
                    if n > 0 {
                        out.push(b',');
                    }
                    j = self.write(out, j, replace, next);
                }
                out.push(b']');
                return end as usize;
            }
            Node::Obj { len, end } => {
                out.push(b'{');
                let mut j = i + 1;
                for n in 0..len {
                    if n > 0 {
                        out.push(b',');
                    }
                    write::string(out, self.text(j));
                    out.push(b':');
                    j = self.write(out, j + 1, replace, next);
                }
                out.push(b'}');
                return end as usize;
            }
        }
        i + 1
    }

    /// The objects among the elements of array `arr` (other elements are skipped).
    #[inline]
    pub fn objects(&self, arr: usize) -> impl Iterator<Item = usize> + '_ {
        self.elems(arr).filter_map(move |e| match self.v(e) {
            V::Obj(obj) => Some(obj),
            _ => None,
        })
    }

    /// `list(v)` when it holds at least one object (the lists of objects that the
    /// Python code writes only then): the array's node index.
    #[inline]
    pub fn object_list(&self, v: V<'_>) -> Option<usize> {
        list(v).filter(|&array| self.objects(array).next().is_some())
    }

    /// `orjson.dumps` of node `i` as it is.
    pub fn write_plain(&self, out: &mut Vec<u8>, i: usize) {
        let mut next = 0;
        self.write(out, i, &[], &mut next);
    }
}

pub struct Members<'t, 'a> {
    tape: &'t Tape<'a>,
    i: usize,
    left: usize,
}

impl<'a> Iterator for Members<'_, 'a> {
    type Item = (Text<'a>, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.tape.text(self.i);
        let value = self.i + 1;
        self.i = self.tape.next(value);
        Some((key, value))
    }
}

pub struct Elems<'t, 'a> {
    tape: &'t Tape<'a>,
    i: usize,
    left: usize,
}

impl Iterator for Elems<'_, '_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let at = self.i;
        self.i = self.tape.next(at);
        Some(at)
    }
}

/// `value and isinstance(value, list)`: the array's node index.
#[inline]
pub fn list(v: V<'_>) -> Option<usize> {
    match v {
        V::Arr(i, n) if n > 0 => Some(i),
        _ => None,
    }
}

/// `rules.as_text`: a non-empty string.
#[inline]
pub fn as_text(v: V<'_>) -> Option<Text<'_>> {
    match v {
        V::Str(t) if !t.s.is_empty() => Some(t),
        _ => None,
    }
}

/// `rules.as_int` (floats never get here: the parser declines them).
#[inline]
pub fn as_int(v: V<'_>) -> Result<Option<i64>, Decline> {
    match v {
        V::Int(n) => Ok(Some(n)),
        V::Str(t) => as_int_str(t.s),
        _ => Ok(None),
    }
}

/// A string not in `_PLACEHOLDERS` (`-`, `null`, empty).
#[inline]
pub fn not_placeholder(v: V<'_>) -> Option<Text<'_>> {
    match v {
        V::Str(t) if !matches!(t.s, "" | "-" | "null") => Some(t),
        _ => None,
    }
}

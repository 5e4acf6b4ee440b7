//! `ingest.parser.transform.build_document` + `orjson.dumps` of the document, for the
//! record shapes it is certain about (see the crate doc for what it declines): the
//! required fields, `@timestamp`, `event` (with `event.original`), then the `waf`,
//! `cloud`, `source`, `url`, `user_agent`, `http` and `tls` objects of their modules.

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::fields::{RecordFields, RequestFields};
use crate::headers::headers;
use crate::ip::client_ip;
use crate::json::{self, Node};
use crate::request::{write_http, write_source, write_tls, write_url, write_user_agent};
use crate::tape::{as_int, as_text, Tape, V};
use crate::time::{iso_timestamp, MAX_TIMESTAMP_MS};
use crate::waf::write_waf;
use crate::write::{self, escaped};
use crate::{Decline, R};

/// Buffers kept from record to record.
#[derive(Default)]
pub struct Scratch {
    nodes: Vec<Node>,
    dec: String,
    keys: Vec<json::Key>,
    /// The document of the last successful build.
    pub out: Vec<u8>,
    waf: Vec<u8>,
    rules: Vec<u8>,
    record: Vec<u8>,
    replace: Vec<(usize, String)>,
}

/// Capacity a scratch buffer keeps between records; one huge record must not pin its
/// buffers for the life of the process.
const KEEP_CAPACITY: usize = 4 << 20;

impl Scratch {
    /// Give back what a large record made the buffers grow to.
    pub fn trim(&mut self) {
        fn shrink<T>(buffer: &mut Vec<T>) {
            if buffer.capacity() * std::mem::size_of::<T>().max(1) > KEEP_CAPACITY {
                buffer.clear();
                buffer.shrink_to(KEEP_CAPACITY / std::mem::size_of::<T>().max(1));
            }
        }
        shrink(&mut self.nodes);
        shrink(&mut self.keys);
        shrink(&mut self.out);
        shrink(&mut self.waf);
        shrink(&mut self.rules);
        shrink(&mut self.record);
        shrink(&mut self.replace);
        if self.dec.capacity() > KEEP_CAPACITY {
            self.dec.clear();
            self.dec.shrink_to(KEEP_CAPACITY);
        }
    }

    #[doc(hidden)]
    pub fn parse_only(&mut self, raw: &[u8]) -> bool {
        json::parse(raw, &mut self.nodes, &mut self.dec, &mut self.keys).is_ok()
    }
}

/// (event id, timestamp ms); the document is left in `sc.out`.
pub fn build(cfg: &Config, sc: &mut Scratch, raw: &[u8]) -> R<(String, i64)> {
    let Scratch {
        nodes,
        dec,
        keys,
        out,
        waf,
        rules,
        record,
        replace,
    } = sc;
    replace.clear();
    let parsed = json::parse(raw, nodes, dec, keys)?;
    let t = Tape {
        raw: parsed.text,
        dec: dec.as_str(),
        nodes: nodes.as_slice(),
    };
    let top = RecordFields::scan(&t);

    // -- required fields: anything unusual is the general path's to judge --
    let timestamp = as_int(t.vo(top.timestamp))?.ok_or(Decline)?;
    if !(0..=MAX_TIMESTAMP_MS).contains(&timestamp) {
        return Err(Decline);
    }
    let action = as_text(t.vo(top.action)).ok_or(Decline)?;
    let V::Obj(request) = t.vo(top.request) else {
        return Err(Decline);
    };
    let req = RequestFields::scan(&t, request);
    let V::Str(ip_text) = t.vo(req.client_ip) else {
        return Err(Decline);
    };
    let ip = client_ip(ip_text.s).ok_or(Decline)?;

    let digest = Sha256::digest(raw);
    let mut event_id = String::with_capacity(32);
    write::hex(&mut event_id, &digest[..16]);

    let request_headers = headers(cfg, &t, t.vo(req.headers), replace)?;
    let cloud = write_waf(cfg, &t, &top, action, waf, rules, replace)?;

    // -- the document --
    out.clear();
    out.extend_from_slice(b"{\"@timestamp\":\"");
    iso_timestamp(out, timestamp);
    out.extend_from_slice(b"\",\"event\":{\"id\":\"");
    out.extend_from_slice(event_id.as_bytes());
    out.push(b'"');
    if cfg.keep_original {
        out.extend_from_slice(b",\"original\":\"");
        write_original(&t, out, raw, parsed.canonical, replace, record)?;
        out.push(b'"');
    }
    out.extend_from_slice(b"},\"waf\":");
    out.extend_from_slice(waf);
    cloud.write(out);
    write_source(&t, out, &top, &req, &ip)?;
    write_url(&t, out, &req, &request_headers)?;
    write_user_agent(out, &request_headers);
    write_http(&t, out, &top, &req, &request_headers)?;
    write_tls(&t, out, &top);
    out.push(b'}');
    Ok((event_id, timestamp))
}

/// The content of `event.original`: `orjson.dumps(record)` after the sensitive values
/// were replaced (`replace`: value nodes and their hashes), escaped as a JSON string.
/// Without replacements it is `raw` as it is.
fn write_original(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    raw: &[u8],
    canonical: bool,
    replace: &mut [(usize, String)],
    record: &mut Vec<u8>,
) -> R<()> {
    if replace.is_empty() {
        escaped(out, raw);
        return Ok(());
    }
    replace.sort_unstable_by_key(|r| r.0);
    let token = |at: usize| match t.nodes[at] {
        Node::Str {
            start,
            len,
            decoded: false,
        } => Some((start as usize - 1, (start + len) as usize + 1)),
        _ => None,
    };
    if canonical && replace.iter().all(|(at, _)| token(*at).is_some()) {
        // the input is that text but for the replaced strings
        let mut done = 0;
        for (at, text) in replace.iter() {
            let (start, end) = token(*at).ok_or(Decline)?;
            escaped(out, &raw[done..start]);
            out.extend_from_slice(b"\\\"");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\\\"");
            done = end;
        }
        escaped(out, &raw[done..]);
    } else {
        record.clear();
        let mut next = 0;
        t.write(record, 0, replace, &mut next);
        if next != replace.len() {
            return Err(Decline);
        }
        escaped(out, record);
    }
    Ok(())
}

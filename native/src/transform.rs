//! `ingest.parser.transform.build_document` + `orjson.dumps` of the document, for the
//! record shapes it is certain about (see the crate doc for what it declines).

use std::borrow::Cow;
use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::ip::client_ip;
use crate::json::{self, Node};
use crate::tape::{as_int, as_text, list, not_placeholder, Tape, V};
use crate::text::{as_int_str, py_strip};
use crate::write::{self, escaped, int, key, lower_string, string, Text};
use crate::Decline;

type R<T> = Result<T, Decline>;

const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;
const MAX_SOLVE_TIMESTAMP: i64 = 253_402_300_799;

/// What a `ParserOptions` means here, resolved once.
pub struct Config {
    inner: Sha256,
    outer: Sha256,
    /// Sensitive names that a lower-cased ASCII header name can equal.
    sensitive: Vec<String>,
    keep_original: bool,
}

impl Config {
    pub fn new(hash_key: &[u8], sensitive: Vec<String>, keep_original: bool) -> Self {
        let mut block = [0u8; 64];
        if hash_key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(hash_key));
        } else {
            block[..hash_key.len()].copy_from_slice(hash_key);
        }
        let mut inner = Sha256::new();
        inner.update(block.map(|b| b ^ 0x36));
        let mut outer = Sha256::new();
        outer.update(block.map(|b| b ^ 0x5c));
        // `name.lower() in names` with an ASCII name can only hold for an ASCII name
        // without upper-case letters
        let mut names: Vec<String> = sensitive
            .into_iter()
            .filter(|n| n.is_ascii() && !n.bytes().any(|c| c.is_ascii_uppercase()))
            .collect();
        names.sort();
        names.dedup();
        Config {
            inner,
            outer,
            sensitive: names,
            keep_original,
        }
    }

    /// `name.lower() in sensitive_headers` for an ASCII `name`.
    #[inline]
    fn is_sensitive(&self, name: &str) -> bool {
        self.sensitive
            .iter()
            .any(|s| s.len() == name.len() && s.as_bytes().eq_ignore_ascii_case(name.as_bytes()))
    }

    /// `hmac-sha256:` + the first 32 hex digits of HMAC-SHA256(key, value).
    fn hash(&self, value: &str) -> String {
        let mut inner = self.inner.clone();
        inner.update(value.as_bytes());
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        let digest = outer.finalize();
        let mut text = String::with_capacity(44);
        text.push_str("hmac-sha256:");
        write::hex(&mut text, &digest[..16]);
        text
    }
}

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

/// A header value as it goes into the document.
struct Value<'a> {
    group: usize,
    text: Cow<'a, str>,
    clean: bool,
}

/// `_headers`: names (original case, ASCII) in first-seen order, values by name.
#[derive(Default)]
struct Headers<'a> {
    names: Vec<Text<'a>>,
    values: Vec<Value<'a>>,
    repeated: bool,
}

impl<'a> Headers<'a> {
    /// `_first(headers.get(lower))`.
    fn first(&self, lower: &str) -> Option<(&str, bool)> {
        let group = self
            .names
            .iter()
            .position(|n| n.s.eq_ignore_ascii_case(lower))?;
        self.values
            .iter()
            .find(|v| v.group == group)
            .map(|v| (v.text.as_ref(), v.clean))
    }

    fn write(&self, out: &mut Vec<u8>) {
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

/// `_headers(entries, hasher)`: the headers, and whether a value was replaced (the
/// replaced value nodes are added to `replace`).
fn headers<'a>(
    cfg: &Config,
    t: &Tape<'a>,
    entries: V<'a>,
    replace: &mut Vec<(usize, String)>,
) -> R<(Headers<'a>, bool)> {
    let mut set = Headers::default();
    let mut replaced = false;
    let Some(array) = list(entries) else {
        return Ok((set, false));
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
                replaced = true;
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
    Ok((set, replaced))
}

/// `rules.group_name`.
fn group_name(group_id: &str) -> &str {
    if group_id.starts_with("arn:") {
        let mut parts = group_id.rsplit('/');
        let _last = parts.next();
        match (parts.next(), parts.next()) {
            (Some(name), Some(_)) => name,
            _ => group_id,
        }
    } else if group_id.contains('#') {
        match group_id.split('#').nth(1) {
            Some(name) if !name.is_empty() => name,
            _ => group_id,
        }
    } else {
        group_id
    }
}

/// `_MATCH_KEYS` of rules.py.
fn match_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "conditionType" => "condition_type",
        "location" => "location",
        "matchedData" => "matched_data",
        "matchedFieldName" => "matched_field_name",
        "sensitivityLevel" => "sensitivity_level",
        _ => return None,
    })
}

/// The key that `match_key` maps onto `name`, when that is not `name` itself.
fn match_source(name: &str) -> Option<&'static str> {
    Some(match name {
        "condition_type" => "conditionType",
        "matched_data" => "matchedData",
        "matched_field_name" => "matchedFieldName",
        "sensitivity_level" => "sensitivityLevel",
        _ => return None,
    })
}

/// `match_details(value)` as member `name` of the object being written.
fn write_match(t: &Tape<'_>, out: &mut Vec<u8>, first: &mut bool, name: &str, v: V<'_>) -> R<()> {
    let Some(array) = list(v) else {
        return Ok(());
    };
    if !t.elems(array).any(|e| matches!(t.v(e), V::Obj(..))) {
        return Ok(());
    }
    key(out, first, name);
    out.push(b'[');
    let mut count = 0;
    for item in t.elems(array) {
        let V::Obj(obj) = t.v(item) else {
            continue;
        };
        if count > 0 {
            out.push(b',');
        }
        count += 1;
        out.push(b'{');
        for (n, (k, value)) in t.members(obj).enumerate() {
            if let Some(source) = match_source(k.s) {
                if t.get(obj, source).is_some() {
                    return Err(Decline); // two keys onto one: last value, first place
                }
            }
            if n > 0 {
                out.push(b',');
            }
            match match_key(k.s) {
                Some(mapped) => string(out, Text::clean(mapped)),
                None => string(out, k),
            }
            out.push(b':');
            t.write_plain(out, value);
        }
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

/// `rules._rule(entry)`: writes the rule object; returns (id, counts).
fn write_rule<'a>(t: &Tape<'a>, out: &mut Vec<u8>, obj: usize) -> R<(Option<Text<'a>>, bool)> {
    let (mut id, mut action, mut overridden, mut details) = (None, None, None, None);
    for (k, v) in t.members(obj) {
        match k.s {
            "ruleId" => id = Some(v),
            "action" => action = Some(v),
            "overriddenAction" => overridden = Some(v),
            "ruleMatchDetails" => details = Some(v),
            _ => {}
        }
    }
    let id = as_text(t.vo(id));
    let action = as_text(t.vo(action));
    let overridden = as_text(t.vo(overridden));
    out.push(b'{');
    let mut first = true;
    if let Some(id) = id {
        key(out, &mut first, "id");
        string(out, id);
    }
    if let Some(action) = action {
        key(out, &mut first, "action");
        string(out, action);
    }
    if let Some(overridden) = overridden {
        key(out, &mut first, "overridden_action");
        string(out, overridden);
    }
    write_match(t, out, &mut first, "match", t.vo(details))?;
    out.push(b'}');
    let counts =
        action.is_some_and(|a| a.s == "COUNT") || overridden.is_some_and(|a| a.s == "COUNT");
    Ok((id, counts))
}

/// A `GroupName:RuleId` (or plain rule id) of counted/excluded rules.
struct Named {
    text: String,
    clean: bool,
}

fn named(prefix: Option<Text<'_>>, id: Text<'_>) -> Named {
    match prefix {
        Some(p) => Named {
            text: format!("{}:{}", p.s, id.s),
            clean: p.clean && id.clean,
        },
        None => Named {
            text: id.s.to_owned(),
            clean: id.clean,
        },
    }
}

/// `,"name":[...]` of `list(dict.fromkeys(items))`.
fn write_unique(out: &mut Vec<u8>, name: &str, items: &[Named]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":[");
    let mut first = true;
    // a few items: compare with the earlier ones; many (rules of many groups): a set
    let mut seen: Option<HashSet<&str>> = (items.len() > 16).then(HashSet::new);
    for (n, item) in items.iter().enumerate() {
        let repeated = match seen.as_mut() {
            Some(set) => !set.insert(item.text.as_str()),
            None => items[..n].iter().any(|earlier| earlier.text == item.text),
        };
        if repeated {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        string(
            out,
            Text {
                s: &item.text,
                clean: item.clean,
            },
        );
    }
    out.push(b']');
}

/// Fields of the record this module reads (`record.get(...)`).
#[derive(Default)]
struct Top {
    timestamp: Option<usize>,
    action: Option<usize>,
    request: Option<usize>,
    format_version: Option<usize>,
    webacl: Option<usize>,
    term_id: Option<usize>,
    term_type: Option<usize>,
    term_match: Option<usize>,
    non_terminating: Option<usize>,
    groups: Option<usize>,
    labels: Option<usize>,
    rate: Option<usize>,
    source_name: Option<usize>,
    source_id: Option<usize>,
    tenant: Option<usize>,
    code_sent: Option<usize>,
    inserted: Option<usize>,
    captcha: Option<usize>,
    challenge: Option<usize>,
    oversize: Option<usize>,
    asn: Option<usize>,
    ja3: Option<usize>,
    ja4: Option<usize>,
    body_size: Option<usize>,
    body_inspected: Option<usize>,
}

#[derive(Default)]
struct Request {
    client_ip: Option<usize>,
    country: Option<usize>,
    headers: Option<usize>,
    uri: Option<usize>,
    args: Option<usize>,
    version: Option<usize>,
    method: Option<usize>,
    request_id: Option<usize>,
    fragment: Option<usize>,
    scheme: Option<usize>,
    host: Option<usize>,
}

/// `,"key":{...}` of `action_response(record, key)` (captcha / challenge).
fn write_response(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    name: &str,
    at: Option<usize>,
    non_terminating: Option<usize>,
    source_key: &str,
) -> R<()> {
    let response = match t.vo(at) {
        V::Obj(obj) => Some(obj),
        _ => {
            let mut found = None;
            if let Some(array) = list(t.vo(non_terminating)) {
                for entry in t.elems(array) {
                    if let V::Obj(obj) = t.v(entry) {
                        if let V::Obj(inner) = t.vo(t.get(obj, source_key)) {
                            found = Some(inner);
                        }
                    }
                }
            }
            found
        }
    };
    let Some(response) = response else {
        return Ok(());
    };
    let (mut code, mut solved, mut reason) = (None, None, None);
    for (k, v) in t.members(response) {
        match k.s {
            "responseCode" => code = Some(v),
            "solveTimestamp" => solved = Some(v),
            "failureReason" => reason = Some(v),
            _ => {}
        }
    }
    let mark = out.len();
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":{");
    let mut first = true;
    if let Some(code) = as_int(t.vo(code))? {
        if i32::try_from(code).is_ok() {
            key(out, &mut first, "response_code");
            int(out, code);
        }
    }
    if let Some(solved) = as_int(t.vo(solved))? {
        if 0 < solved && solved < MAX_SOLVE_TIMESTAMP {
            key(out, &mut first, "solve_timestamp");
            int(out, solved * 1000);
        }
    }
    if let Some(reason) = as_text(t.vo(reason)) {
        key(out, &mut first, "failure_reason");
        string(out, reason);
    }
    if first {
        out.truncate(mark);
    } else {
        out.push(b'}');
    }
    Ok(())
}

/// `_split_host(host)`: (domain before lower-casing, port). ASCII only.
fn split_host(host: &str) -> R<(&str, Option<i64>)> {
    if !host.is_ascii() {
        return Err(Decline);
    }
    let host = py_strip(host);
    if let Some(rest) = host.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(port) => as_int_str(port)?,
                None => None,
            };
            return Ok((&rest[..end], port));
        }
    }
    let mut parts = host.split(':');
    if let (Some(name), Some(port), None) = (parts.next(), parts.next(), parts.next()) {
        let port = as_int_str(port)?.filter(|p| (0..=65535).contains(p));
        return Ok((name, port));
    }
    Ok((host, None))
}

/// `iso_timestamp(ms)`: `YYYY-MM-DDTHH:MM:SS.mmmZ` (0 <= ms <= 9999-12-31).
fn iso_timestamp(out: &mut Vec<u8>, ms: i64) {
    let seconds = ms / 1000;
    let millis = ms % 1000;
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Howard Hinnant's days -> civil (days >= 0 here)
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let digits = |out: &mut Vec<u8>, value: i64, width: u32| {
        for p in (0..width).rev() {
            out.push(b'0' + ((value / 10i64.pow(p)) % 10) as u8);
        }
    };
    digits(out, year, 4);
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    digits(out, rest / 3600, 2);
    out.push(b':');
    digits(out, rest % 3600 / 60, 2);
    out.push(b':');
    digits(out, rest % 60, 2);
    out.push(b'.');
    digits(out, millis, 3);
    out.push(b'Z');
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
    rules.clear();
    replace.clear();
    let parsed = json::parse(raw, nodes, dec, keys)?;
    let t = Tape {
        raw: parsed.text,
        dec: dec.as_str(),
        nodes: nodes.as_slice(),
    };

    let mut top = Top::default();
    for (k, v) in t.members(0) {
        let slot = match k.s {
            "timestamp" => &mut top.timestamp,
            "action" => &mut top.action,
            "httpRequest" => &mut top.request,
            "formatVersion" => &mut top.format_version,
            "webaclId" => &mut top.webacl,
            "terminatingRuleId" => &mut top.term_id,
            "terminatingRuleType" => &mut top.term_type,
            "terminatingRuleMatchDetails" => &mut top.term_match,
            "nonTerminatingMatchingRules" => &mut top.non_terminating,
            "ruleGroupList" => &mut top.groups,
            "labels" => &mut top.labels,
            "rateBasedRuleList" => &mut top.rate,
            "httpSourceName" => &mut top.source_name,
            "httpSourceId" => &mut top.source_id,
            "cfDistributionTenantId" => &mut top.tenant,
            "responseCodeSent" => &mut top.code_sent,
            "requestHeadersInserted" => &mut top.inserted,
            "captchaResponse" => &mut top.captcha,
            "challengeResponse" => &mut top.challenge,
            "oversizeFields" => &mut top.oversize,
            "clientAsn" => &mut top.asn,
            "ja3Fingerprint" => &mut top.ja3,
            "ja4Fingerprint" => &mut top.ja4,
            "requestBodySize" => &mut top.body_size,
            "requestBodySizeInspectedByWAF" => &mut top.body_inspected,
            _ => continue,
        };
        *slot = Some(v);
    }

    // -- required fields: anything unusual is the general path's to judge --
    let timestamp = as_int(t.vo(top.timestamp))?.ok_or(Decline)?;
    if !(0..=MAX_TIMESTAMP_MS).contains(&timestamp) {
        return Err(Decline);
    }
    let action = as_text(t.vo(top.action)).ok_or(Decline)?;
    let V::Obj(request_obj) = t.vo(top.request) else {
        return Err(Decline);
    };
    let mut req = Request::default();
    for (k, v) in t.members(request_obj) {
        let slot = match k.s {
            "clientIp" => &mut req.client_ip,
            "country" => &mut req.country,
            "headers" => &mut req.headers,
            "uri" => &mut req.uri,
            "args" => &mut req.args,
            "httpVersion" => &mut req.version,
            "httpMethod" => &mut req.method,
            "requestId" => &mut req.request_id,
            "fragment" => &mut req.fragment,
            "scheme" => &mut req.scheme,
            "host" => &mut req.host,
            _ => continue,
        };
        *slot = Some(v);
    }
    let V::Str(ip_text) = t.vo(req.client_ip) else {
        return Err(Decline);
    };
    let ip = client_ip(ip_text.s).ok_or(Decline)?;

    let digest = Sha256::digest(raw);
    let mut event_id = String::with_capacity(32);
    write::hex(&mut event_id, &digest[..16]);

    let (request_headers, headers_replaced) = headers(cfg, &t, t.vo(req.headers), replace)?;

    // -- waf --
    waf.clear();
    waf.extend_from_slice(b"{\"action\":");
    string(waf, action);
    let mut counted: Vec<Named> = Vec::new();
    let mut excluded: Vec<Named> = Vec::new();
    let mut terminating_group: Option<(Text<'_>, Option<Text<'_>>)> = None;
    if let Some(array) = list(t.vo(top.non_terminating)) {
        if t.elems(array).any(|e| matches!(t.v(e), V::Obj(..))) {
            rules.extend_from_slice(b",\"non_terminating_rules\":[");
            let mut first = true;
            for entry in t.elems(array) {
                if let V::Obj(obj) = t.v(entry) {
                    if !first {
                        rules.push(b',');
                    }
                    first = false;
                    let (id, counts) = write_rule(&t, rules, obj)?;
                    if let (Some(id), true) = (id, counts) {
                        counted.push(named(None, id));
                    }
                }
            }
            rules.push(b']');
        }
    }
    if let Some(array) = list(t.vo(top.groups)) {
        let mark = rules.len();
        rules.extend_from_slice(b",\"rule_groups\":[");
        let mut summaries = 0;
        for entry in t.elems(array) {
            let V::Obj(obj) = t.v(entry) else {
                continue;
            };
            let (mut group_id, mut terminating, mut non_terminating, mut exclusions) =
                (None, None, None, None);
            for (k, v) in t.members(obj) {
                match k.s {
                    "ruleGroupId" => group_id = Some(v),
                    "terminatingRule" => terminating = Some(v),
                    "nonTerminatingMatchingRules" => non_terminating = Some(v),
                    "excludedRules" => exclusions = Some(v),
                    _ => {}
                }
            }
            let group_id = as_text(t.vo(group_id));
            let prefix = group_id.map(|g| Text {
                s: group_name(g.s),
                clean: g.clean,
            });
            let summary_mark = rules.len();
            if summaries > 0 {
                rules.push(b',');
            }
            rules.push(b'{');
            let mut first = true;
            if let Some(g) = group_id {
                key(rules, &mut first, "id");
                string(rules, g);
            }
            if let V::Obj(rule_obj) = t.vo(terminating) {
                key(rules, &mut first, "terminating_rule");
                let (rule_id, counts) = write_rule(&t, rules, rule_obj)?;
                if counts {
                    if let Some(rule_id) = rule_id {
                        counted.push(named(prefix, rule_id));
                    }
                } else if terminating_group.is_none() {
                    if let Some(g) = group_id {
                        terminating_group = Some((g, rule_id));
                    }
                }
            }
            if let Some(inner) = list(t.vo(non_terminating)) {
                if t.elems(inner).any(|e| matches!(t.v(e), V::Obj(..))) {
                    key(rules, &mut first, "non_terminating_rules");
                    rules.push(b'[');
                    let mut first_rule = true;
                    for item in t.elems(inner) {
                        if let V::Obj(rule_obj) = t.v(item) {
                            if !first_rule {
                                rules.push(b',');
                            }
                            first_rule = false;
                            let (rule_id, counts) = write_rule(&t, rules, rule_obj)?;
                            if let (Some(rule_id), true) = (rule_id, counts) {
                                counted.push(named(prefix, rule_id));
                            }
                        }
                    }
                    rules.push(b']');
                }
            }
            if let Some(inner) = list(t.vo(exclusions)) {
                if t.elems(inner).any(|e| matches!(t.v(e), V::Obj(..))) {
                    key(rules, &mut first, "excluded_rules");
                    rules.push(b'[');
                    let mut first_item = true;
                    for item in t.elems(inner) {
                        let V::Obj(item_obj) = t.v(item) else {
                            continue;
                        };
                        if !first_item {
                            rules.push(b',');
                        }
                        first_item = false;
                        let (mut rule_id, mut kind) = (None, None);
                        for (k, v) in t.members(item_obj) {
                            match k.s {
                                "ruleId" => rule_id = Some(v),
                                "exclusionType" => kind = Some(v),
                                _ => {}
                            }
                        }
                        rules.push(b'{');
                        let mut first_field = true;
                        if let Some(rule_id) = as_text(t.vo(rule_id)) {
                            key(rules, &mut first_field, "id");
                            string(rules, rule_id);
                            excluded.push(named(prefix, rule_id));
                        }
                        if let Some(kind) = as_text(t.vo(kind)) {
                            key(rules, &mut first_field, "exclusion_type");
                            string(rules, kind);
                        }
                        rules.push(b'}');
                    }
                    rules.push(b']');
                }
            }
            if first {
                rules.truncate(summary_mark);
            } else {
                rules.push(b'}');
                summaries += 1;
            }
        }
        if summaries == 0 {
            rules.truncate(mark);
        } else {
            rules.push(b']');
        }
    }
    if !excluded.is_empty() {
        write_unique(rules, "excluded_rules", &excluded);
        counted.append(&mut excluded);
    }
    if !counted.is_empty() {
        write_unique(rules, "counted_rules", &counted);
    }

    // terminating_rule: id, type, match, then group / group_rule from the groups
    let mark = waf.len();
    waf.extend_from_slice(b",\"terminating_rule\":{");
    let mut first = true;
    if let Some(id) = as_text(t.vo(top.term_id)) {
        key(waf, &mut first, "id");
        string(waf, id);
    }
    if let Some(kind) = as_text(t.vo(top.term_type)) {
        key(waf, &mut first, "type");
        string(waf, kind);
    }
    write_match(&t, waf, &mut first, "match", t.vo(top.term_match))?;
    if let Some((group, rule)) = terminating_group {
        key(waf, &mut first, "group");
        string(waf, group);
        if let Some(rule) = rule {
            key(waf, &mut first, "group_rule");
            string(waf, rule);
        }
    }
    if first {
        waf.truncate(mark);
    } else {
        waf.push(b'}');
    }

    if let Some(version) = as_int(t.vo(top.format_version))? {
        if i32::try_from(version).is_ok() {
            waf.extend_from_slice(b",\"format_version\":");
            int(waf, version);
        }
    }
    let (mut region, mut account) = (None, None);
    if let Some(webacl) = as_text(t.vo(top.webacl)) {
        waf.extend_from_slice(b",\"webacl\":{");
        if webacl.s.starts_with("arn:") {
            waf.extend_from_slice(b"\"arn\":");
            string(waf, webacl);
            let part = |s| Text {
                s,
                clean: webacl.clean,
            };
            let mut fields = webacl.s.splitn(6, ':').skip(3);
            if let (Some(arn_region), Some(arn_account), Some(resource)) =
                (fields.next(), fields.next(), fields.next())
            {
                if !arn_region.is_empty() {
                    region = Some(part(arn_region));
                }
                if !arn_account.is_empty() {
                    account = Some(part(arn_account));
                }
                let mut path = resource.split('/');
                let scope = path.next();
                waf.extend_from_slice(if scope == Some("global") {
                    b",\"scope\":\"CLOUDFRONT\""
                } else {
                    b",\"scope\":\"REGIONAL\""
                });
                let (kind, name, id) = (path.next(), path.next(), path.next());
                if let (Some("webacl"), Some(name)) = (kind, name) {
                    waf.extend_from_slice(b",\"name\":");
                    string(waf, part(name));
                }
                if let Some(id) = id.filter(|id| !id.is_empty()) {
                    waf.extend_from_slice(b",\"id\":");
                    string(waf, part(id));
                }
            }
        } else {
            waf.extend_from_slice(b"\"id\":");
            string(waf, webacl);
        }
        waf.push(b'}');
    }
    waf.extend_from_slice(rules);

    if let Some(array) = list(t.vo(top.labels)) {
        let mark = waf.len();
        waf.extend_from_slice(b",\"labels\":[");
        let mut first = true;
        for item in t.elems(array) {
            if let V::Obj(obj) = t.v(item) {
                if let Some(name) = as_text(t.vo(t.get(obj, "name"))) {
                    if !first {
                        waf.push(b',');
                    }
                    first = false;
                    string(waf, name);
                }
            }
        }
        if first {
            waf.truncate(mark);
        } else {
            waf.push(b']');
        }
    }

    let mut rate_replaced = false;
    if let Some(array) = list(t.vo(top.rate)) {
        let mark = waf.len();
        waf.extend_from_slice(b",\"rate_based_rules\":[");
        let mut count = 0;
        for entry in t.elems(array) {
            let V::Obj(obj) = t.v(entry) else {
                continue;
            };
            if count > 0 {
                waf.push(b',');
            }
            count += 1;
            let mut fields: [Option<usize>; 7] = [None; 7];
            for (k, v) in t.members(obj) {
                let slot = match k.s {
                    "rateBasedRuleId" => 0,
                    "rateBasedRuleName" => 1,
                    "limitKey" => 2,
                    "limitValue" => 3,
                    "maxRateAllowed" => 4,
                    "evaluationWindowSec" => 5,
                    "customValues" => 6,
                    _ => continue,
                };
                fields[slot] = Some(v);
            }
            waf.push(b'{');
            let mut first = true;
            for (slot, name) in ["id", "name", "limit_key", "limit_value"]
                .iter()
                .enumerate()
            {
                if let Some(text) = as_text(t.vo(fields[slot])) {
                    key(waf, &mut first, name);
                    string(waf, text);
                }
            }
            for (slot, name) in [(4, "max_rate_allowed"), (5, "evaluation_window_sec")] {
                if let Some(number) = as_int(t.vo(fields[slot]))? {
                    key(waf, &mut first, name);
                    int(waf, number);
                }
            }
            if let Some(custom) = list(t.vo(fields[6])) {
                if t.elems(custom).any(|e| matches!(t.v(e), V::Obj(..))) {
                    key(waf, &mut first, "custom_values");
                    waf.push(b'[');
                    let mut first_item = true;
                    for item in t.elems(custom) {
                        let V::Obj(item_obj) = t.v(item) else {
                            continue;
                        };
                        if !first_item {
                            waf.push(b',');
                        }
                        first_item = false;
                        let (mut kind, mut name, mut value) = (None, None, None);
                        for (k, v) in t.members(item_obj) {
                            match k.s {
                                "key" => kind = Some(v),
                                "name" => name = Some(v),
                                "value" => value = Some(v),
                                _ => {}
                            }
                        }
                        // kept["value"] = hide(name, item.get("value")) for HEADER keys
                        let header = match (t.vo(kind), t.vo(name)) {
                            (V::Str(k), V::Str(n)) if k.s == "HEADER" => Some(n),
                            _ => None,
                        };
                        let mut hashed = None;
                        if let Some(header) = header {
                            if !header.s.is_ascii() {
                                return Err(Decline);
                            }
                            if let (true, Some(at), V::Str(text)) =
                                (cfg.is_sensitive(header.s), value, t.vo(value))
                            {
                                let hash = cfg.hash(text.s);
                                replace.push((at, hash.clone()));
                                rate_replaced = true;
                                hashed = Some(hash);
                            }
                        }
                        waf.push(b'{');
                        let mut first_field = true;
                        for (k, v) in t.members(item_obj) {
                            if !matches!(k.s, "key" | "name" | "value") {
                                continue;
                            }
                            key(waf, &mut first_field, k.s);
                            match (&hashed, k.s) {
                                (Some(hash), "value") => string(waf, Text::clean(hash)),
                                _ => t.write_plain(waf, v),
                            }
                        }
                        if header.is_some() && value.is_none() {
                            key(waf, &mut first_field, "value");
                            waf.extend_from_slice(b"null");
                        }
                        waf.push(b'}');
                    }
                    waf.push(b']');
                }
            }
            waf.push(b'}');
        }
        if count == 0 {
            waf.truncate(mark);
        } else {
            waf.push(b']');
        }
    }

    let source_name = not_placeholder(t.vo(top.source_name));
    let source_id = not_placeholder(t.vo(top.source_id));
    if source_name.is_some() || source_id.is_some() {
        waf.extend_from_slice(b",\"http_source\":{");
        let mut first = true;
        if let Some(name) = source_name {
            key(waf, &mut first, "name");
            string(waf, name);
        }
        if let Some(id) = source_id {
            key(waf, &mut first, "id");
            string(waf, id);
        }
        waf.push(b'}');
    }
    if let Some(tenant) = as_text(t.vo(top.tenant)) {
        waf.extend_from_slice(b",\"distribution_tenant_id\":");
        string(waf, tenant);
    }
    if let Some(code) = as_int(t.vo(top.code_sent))? {
        if i32::try_from(code).is_ok() {
            waf.extend_from_slice(b",\"response_code_sent\":");
            int(waf, code);
        }
    }
    let (inserted, inserted_replaced) = headers(cfg, &t, t.vo(top.inserted), replace)?;
    if !inserted.names.is_empty() {
        waf.extend_from_slice(b",\"request_headers_inserted\":");
        inserted.write(waf);
    }
    write_response(
        &t,
        waf,
        "captcha",
        top.captcha,
        top.non_terminating,
        "captchaResponse",
    )?;
    write_response(
        &t,
        waf,
        "challenge",
        top.challenge,
        top.non_terminating,
        "challengeResponse",
    )?;
    match t.vo(top.oversize) {
        V::Str(text) if !text.s.is_empty() => {
            waf.extend_from_slice(b",\"oversize_fields\":[");
            string(waf, text);
            waf.push(b']');
        }
        V::Arr(array, n) if n > 0 => {
            let mark = waf.len();
            waf.extend_from_slice(b",\"oversize_fields\":[");
            let mut first = true;
            for item in t.elems(array) {
                if let V::Str(text) = t.v(item) {
                    if !first {
                        waf.push(b',');
                    }
                    first = false;
                    string(waf, text);
                }
            }
            if first {
                waf.truncate(mark);
            } else {
                waf.push(b']');
            }
        }
        _ => {}
    }
    waf.push(b'}');

    // -- the document --
    out.clear();
    out.extend_from_slice(b"{\"@timestamp\":\"");
    iso_timestamp(out, timestamp);
    out.extend_from_slice(b"\",\"event\":{\"id\":\"");
    out.extend_from_slice(event_id.as_bytes());
    out.push(b'"');
    if cfg.keep_original {
        out.extend_from_slice(b",\"original\":\"");
        if headers_replaced || inserted_replaced || rate_replaced {
            // orjson.dumps(record) after the replacements
            replace.sort_unstable_by_key(|r| r.0);
            let token = |at: usize| match t.nodes[at] {
                Node::Str {
                    start,
                    len,
                    decoded: false,
                } => Some((start as usize - 1, (start + len) as usize + 1)),
                _ => None,
            };
            if parsed.canonical && replace.iter().all(|(at, _)| token(*at).is_some()) {
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
        } else {
            escaped(out, raw);
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"},\"waf\":");
    out.extend_from_slice(waf);

    if region.is_some() || account.is_some() {
        out.extend_from_slice(b",\"cloud\":{");
        let mut first = true;
        if let Some(region) = region {
            key(out, &mut first, "region");
            string(out, region);
        }
        if let Some(account) = account {
            key(out, &mut first, "account");
            out.extend_from_slice(b"{\"id\":");
            string(out, account);
            out.push(b'}');
        }
        out.push(b'}');
    }

    out.extend_from_slice(b",\"source\":{\"ip\":");
    string(out, Text::clean(&ip));
    if let Some(asn) = as_int(t.vo(top.asn))? {
        if asn >= 0 {
            out.extend_from_slice(b",\"as\":{\"number\":");
            int(out, asn);
            out.push(b'}');
        }
    }
    if let Some(country) = not_placeholder(t.vo(req.country)) {
        out.extend_from_slice(b",\"geo\":{\"country_iso_code\":");
        string(out, country);
        out.push(b'}');
    }
    out.push(b'}');

    let mark = out.len();
    out.extend_from_slice(b",\"url\":{");
    let mut first = true;
    let host = match as_text(t.vo(req.host)) {
        Some(host) => Some((host.s, host.clean)),
        None => request_headers.first("host"),
    };
    if let Some((host, clean)) = host.filter(|(h, _)| !h.is_empty()) {
        let (domain, port) = split_host(host)?;
        if !domain.is_empty() {
            key(out, &mut first, "domain");
            lower_string(out, Text { s: domain, clean });
        }
        if let Some(port) = port {
            key(out, &mut first, "port");
            int(out, port);
        }
    }
    for (at, name) in [
        (req.uri, "path"),
        (req.args, "query"),
        (req.fragment, "fragment"),
        (req.scheme, "scheme"),
    ] {
        if let Some(text) = as_text(t.vo(at)) {
            key(out, &mut first, name);
            string(out, text);
        }
    }
    if first {
        out.truncate(mark);
    } else {
        out.push(b'}');
    }

    let has_headers = !request_headers.names.is_empty();
    if has_headers {
        if let Some((agent, clean)) = request_headers.first("user-agent") {
            if !agent.is_empty() {
                out.extend_from_slice(b",\"user_agent\":{\"original\":");
                string(out, Text { s: agent, clean });
                out.push(b'}');
            }
        }
    }

    let version = as_text(t.vo(req.version));
    let mark = out.len();
    out.extend_from_slice(b",\"http\":{");
    let request_mark = out.len();
    out.extend_from_slice(b"\"request\":{");
    let mut first = true;
    if let Some(method) = as_text(t.vo(req.method)) {
        key(out, &mut first, "method");
        string(out, method);
    }
    if let Some(id) = not_placeholder(t.vo(req.request_id)) {
        key(out, &mut first, "id");
        string(out, id);
    }
    if has_headers {
        key(out, &mut first, "headers");
        request_headers.write(out);
        if let Some((referrer, clean)) = request_headers.first("referer") {
            if !referrer.is_empty() {
                key(out, &mut first, "referrer");
                string(out, Text { s: referrer, clean });
            }
        }
    }
    let size = as_int(t.vo(top.body_size))?.filter(|n| *n >= 0);
    let inspected = as_int(t.vo(top.body_inspected))?.filter(|n| *n >= 0);
    if size.is_some() || inspected.is_some() {
        key(out, &mut first, "body");
        out.push(b'{');
        let mut first_field = true;
        if let Some(size) = size {
            key(out, &mut first_field, "bytes");
            int(out, size);
        }
        if let Some(inspected) = inspected {
            key(out, &mut first_field, "inspected_bytes");
            int(out, inspected);
        }
        out.push(b'}');
    }
    if first {
        out.truncate(request_mark);
    } else {
        out.push(b'}');
    }
    if let Some(version) = version {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"version\":");
        string(out, version);
    }
    if first && version.is_none() {
        out.truncate(mark);
    } else {
        out.push(b'}');
    }

    let ja3 = as_text(t.vo(top.ja3));
    let ja4 = as_text(t.vo(top.ja4));
    if ja3.is_some() || ja4.is_some() {
        out.extend_from_slice(b",\"tls\":{\"client\":{");
        let mut first = true;
        if let Some(ja3) = ja3 {
            key(out, &mut first, "ja3");
            string(out, ja3);
        }
        if let Some(ja4) = ja4 {
            key(out, &mut first, "ja4");
            string(out, ja4);
        }
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    Ok((event_id, timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let mut out = Vec::new();
        iso_timestamp(&mut out, 0);
        assert_eq!(out, b"1970-01-01T00:00:00.000Z");
        out.clear();
        iso_timestamp(&mut out, 1_717_200_000_123);
        assert_eq!(out, b"2024-06-01T00:00:00.123Z");
        out.clear();
        iso_timestamp(&mut out, MAX_TIMESTAMP_MS);
        assert_eq!(out, b"9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn group_names() {
        assert_eq!(
            group_name("AWS#AWSManagedRulesCommonRuleSet"),
            "AWSManagedRulesCommonRuleSet"
        );
        assert_eq!(group_name("a#"), "a#");
        assert_eq!(group_name("arn:aws:wafv2:r:1:regional/rulegroup/n/id"), "n");
        assert_eq!(group_name("arn:x/y"), "arn:x/y");
        assert_eq!(group_name("plain"), "plain");
    }
}

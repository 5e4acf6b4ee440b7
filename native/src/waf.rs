//! The document's `waf` object: the action, the rules, the web ACL, labels, rate-based
//! rules, the HTTP source and the captcha/challenge responses.

use crate::config::Config;
use crate::fields::RecordFields;
use crate::headers::headers;
use crate::rate_based::write_rate_based_rules;
use crate::rules::{write_match, write_rules, TerminatingGroup};
use crate::tape::{as_int, as_text, list, not_placeholder, Tape, V};
use crate::write::{comma, enclosed, int, key, string, Text};
use crate::R;

const MAX_SOLVE_TIMESTAMP: i64 = 253_402_300_799;

/// The document's `cloud` object, from the web ACL's ARN.
#[derive(Default)]
pub struct Cloud<'a> {
    region: Option<Text<'a>>,
    account: Option<Text<'a>>,
}

impl Cloud<'_> {
    /// `,"cloud":{...}`, or nothing without a region or an account.
    pub fn write(&self, out: &mut Vec<u8>) {
        if self.region.is_none() && self.account.is_none() {
            return;
        }
        out.extend_from_slice(b",\"cloud\":{");
        let mut first = true;
        if let Some(region) = self.region {
            key(out, &mut first, "region");
            string(out, region);
        }
        if let Some(account) = self.account {
            key(out, &mut first, "account");
            out.extend_from_slice(b"{\"id\":");
            string(out, account);
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// The `waf` object into `out` (`rules`: scratch for the rule lists, which come after
/// the web ACL but are read first); the replaced sensitive values go to `replace`.
pub fn write_waf<'a>(
    cfg: &Config,
    t: &Tape<'a>,
    top: &RecordFields,
    action: Text<'_>,
    out: &mut Vec<u8>,
    rules: &mut Vec<u8>,
    replace: &mut Vec<(usize, String)>,
) -> R<Cloud<'a>> {
    out.clear();
    out.extend_from_slice(b"{\"action\":");
    string(out, action);
    rules.clear();
    let terminating_group = write_rules(t, rules, top.non_terminating, top.groups)?;
    write_terminating_rule(t, out, top, terminating_group)?;
    if let Some(version) = as_int(t.vo(top.format_version))? {
        if i32::try_from(version).is_ok() {
            out.extend_from_slice(b",\"format_version\":");
            int(out, version);
        }
    }
    let cloud = write_webacl(out, as_text(t.vo(top.webacl)));
    out.extend_from_slice(rules);
    write_labels(t, out, top.labels)?;
    write_rate_based_rules(cfg, t, out, top.rate, replace)?;
    write_http_source(t, out, top);
    if let Some(tenant) = as_text(t.vo(top.tenant)) {
        out.extend_from_slice(b",\"distribution_tenant_id\":");
        string(out, tenant);
    }
    if let Some(code) = as_int(t.vo(top.code_sent))? {
        if i32::try_from(code).is_ok() {
            out.extend_from_slice(b",\"response_code_sent\":");
            int(out, code);
        }
    }
    let inserted = headers(cfg, t, t.vo(top.inserted), replace)?;
    if !inserted.is_empty() {
        out.extend_from_slice(b",\"request_headers_inserted\":");
        inserted.write(out);
    }
    let (captcha, challenge) = (b",\"captcha\":{", b",\"challenge\":{");
    write_response(t, out, captcha, top.captcha, "captchaResponse", top)?;
    write_response(t, out, challenge, top.challenge, "challengeResponse", top)?;
    write_oversize_fields(t, out, top.oversize)?;
    out.push(b'}');
    Ok(cloud)
}

/// `,"terminating_rule":{...}`: id, type, match, then group / group_rule from the groups.
fn write_terminating_rule(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    top: &RecordFields,
    terminating_group: Option<TerminatingGroup<'_>>,
) -> R<()> {
    enclosed(out, b",\"terminating_rule\":{", b'}', |out| {
        let mut first = true;
        if let Some(id) = as_text(t.vo(top.term_id)) {
            key(out, &mut first, "id");
            string(out, id);
        }
        if let Some(kind) = as_text(t.vo(top.term_type)) {
            key(out, &mut first, "type");
            string(out, kind);
        }
        write_match(t, out, &mut first, "match", t.vo(top.term_match))?;
        if let Some((group, rule)) = terminating_group {
            key(out, &mut first, "group");
            string(out, group);
            if let Some(rule) = rule {
                key(out, &mut first, "group_rule");
                string(out, rule);
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// `,"webacl":{...}` of `webaclId` (an ARN gives the scope, name and id); the region and
/// account of the ARN are the document's `cloud`.
fn write_webacl<'a>(out: &mut Vec<u8>, webacl: Option<Text<'a>>) -> Cloud<'a> {
    let mut cloud = Cloud::default();
    let Some(webacl) = webacl else {
        return cloud;
    };
    out.extend_from_slice(b",\"webacl\":{");
    if webacl.s.starts_with("arn:") {
        out.extend_from_slice(b"\"arn\":");
        string(out, webacl);
        let part = |s| Text {
            s,
            clean: webacl.clean,
        };
        let mut fields = webacl.s.splitn(6, ':').skip(3);
        if let (Some(region), Some(account), Some(resource)) =
            (fields.next(), fields.next(), fields.next())
        {
            if !region.is_empty() {
                cloud.region = Some(part(region));
            }
            if !account.is_empty() {
                cloud.account = Some(part(account));
            }
            let mut path = resource.split('/');
            let scope = path.next();
            out.extend_from_slice(if scope == Some("global") {
                b",\"scope\":\"CLOUDFRONT\""
            } else {
                b",\"scope\":\"REGIONAL\""
            });
            let (kind, name, id) = (path.next(), path.next(), path.next());
            if let (Some("webacl"), Some(name)) = (kind, name) {
                out.extend_from_slice(b",\"name\":");
                string(out, part(name));
            }
            if let Some(id) = id.filter(|id| !id.is_empty()) {
                out.extend_from_slice(b",\"id\":");
                string(out, part(id));
            }
        }
    } else {
        out.extend_from_slice(b"\"id\":");
        string(out, webacl);
    }
    out.push(b'}');
    cloud
}

/// `,"labels":[...]`: the names of the `labels` objects.
fn write_labels(t: &Tape<'_>, out: &mut Vec<u8>, labels: Option<usize>) -> R<()> {
    let Some(array) = list(t.vo(labels)) else {
        return Ok(());
    };
    enclosed(out, b",\"labels\":[", b']', |out| {
        let mut first = true;
        for obj in t.objects(array) {
            if let Some(name) = as_text(t.vo(t.get(obj, "name"))) {
                comma(out, &mut first);
                string(out, name);
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// `,"http_source":{...}` of `httpSourceName` / `httpSourceId`.
fn write_http_source(t: &Tape<'_>, out: &mut Vec<u8>, top: &RecordFields) {
    let source_name = not_placeholder(t.vo(top.source_name));
    let source_id = not_placeholder(t.vo(top.source_id));
    if source_name.is_none() && source_id.is_none() {
        return;
    }
    out.extend_from_slice(b",\"http_source\":{");
    let mut first = true;
    if let Some(name) = source_name {
        key(out, &mut first, "name");
        string(out, name);
    }
    if let Some(id) = source_id {
        key(out, &mut first, "id");
        string(out, id);
    }
    out.push(b'}');
}

/// `open` (`,"captcha":{` / `,"challenge":{`) and the rest of `action_response(record,
/// key)`: of the record's field `at`, else of the last `key` object of the
/// non-terminating rules.
fn write_response(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    open: &[u8],
    at: Option<usize>,
    source_key: &str,
    top: &RecordFields,
) -> R<()> {
    let response = match t.vo(at) {
        V::Obj(obj) => Some(obj),
        _ => {
            let mut found = None;
            if let Some(array) = list(t.vo(top.non_terminating)) {
                for obj in t.objects(array) {
                    if let V::Obj(inner) = t.vo(t.get(obj, source_key)) {
                        found = Some(inner);
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
    enclosed(out, open, b'}', |out| {
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
        Ok(())
    })?;
    Ok(())
}

/// `,"oversize_fields":[...]`: a non-empty string, or the strings of a list.
fn write_oversize_fields(t: &Tape<'_>, out: &mut Vec<u8>, oversize: Option<usize>) -> R<()> {
    match t.vo(oversize) {
        V::Str(text) if !text.s.is_empty() => {
            out.extend_from_slice(b",\"oversize_fields\":[");
            string(out, text);
            out.push(b']');
        }
        V::Arr(array, n) if n > 0 => {
            enclosed(out, b",\"oversize_fields\":[", b']', |out| {
                let mut first = true;
                for item in t.elems(array) {
                    if let V::Str(text) = t.v(item) {
                        comma(out, &mut first);
                        string(out, text);
                    }
                }
                Ok(())
            })?;
        }
        _ => {}
    }
    Ok(())
}

//! The `waf.rate_based_rules` list, with the values of sensitive `HEADER` custom keys
//! replaced by their HMAC.

use crate::config::Config;
use crate::tape::{as_int, as_text, list, Tape, V};
use crate::write::{comma, enclosed, int, key, string, Text};
use crate::{Decline, R};

/// `,"rate_based_rules":[...]` of `rateBasedRuleList`; the replaced header values go
/// to `replace`.
pub fn write_rate_based_rules(
    cfg: &Config,
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    at: Option<usize>,
    replace: &mut Vec<(usize, String)>,
) -> R<()> {
    let Some(array) = list(t.vo(at)) else {
        return Ok(());
    };
    enclosed(out, b",\"rate_based_rules\":[", b']', |out| {
        let mut first = true;
        for obj in t.objects(array) {
            comma(out, &mut first);
            write_rate_based_rule(cfg, t, out, obj, replace)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// One rate-based rule object.
fn write_rate_based_rule(
    cfg: &Config,
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    obj: usize,
    replace: &mut Vec<(usize, String)>,
) -> R<()> {
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
    out.push(b'{');
    let mut first = true;
    for (slot, name) in ["id", "name", "limit_key", "limit_value"]
        .iter()
        .enumerate()
    {
        if let Some(text) = as_text(t.vo(fields[slot])) {
            key(out, &mut first, name);
            string(out, text);
        }
    }
    for (slot, name) in [(4, "max_rate_allowed"), (5, "evaluation_window_sec")] {
        if let Some(number) = as_int(t.vo(fields[slot]))? {
            key(out, &mut first, name);
            int(out, number);
        }
    }
    if let Some(custom) = t.object_list(t.vo(fields[6])) {
        key(out, &mut first, "custom_values");
        out.push(b'[');
        let mut first_item = true;
        for item in t.objects(custom) {
            comma(out, &mut first_item);
            write_custom_value(cfg, t, out, item, replace)?;
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

/// One `customValues` object: its `key`, `name` and `value` members, the value of a
/// sensitive `HEADER` hashed (`kept["value"] = hide(name, item.get("value"))`).
fn write_custom_value(
    cfg: &Config,
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    item: usize,
    replace: &mut Vec<(usize, String)>,
) -> R<()> {
    let (mut kind, mut name, mut value) = (None, None, None);
    for (k, v) in t.members(item) {
        match k.s {
            "key" => kind = Some(v),
            "name" => name = Some(v),
            "value" => value = Some(v),
            _ => {}
        }
    }
    let header = match (t.vo(kind), t.vo(name)) {
        (V::Str(k), V::Str(n)) if k.s == "HEADER" => Some(n),
        _ => None,
    };
    let mut hashed = None;
    if let Some(header) = header {
        if !header.s.is_ascii() {
            return Err(Decline);
        }
        if let (true, Some(at), V::Str(text)) = (cfg.is_sensitive(header.s), value, t.vo(value)) {
            let hash = cfg.hash(text.s);
            replace.push((at, hash.clone()));
            hashed = Some(hash);
        }
    }
    out.push(b'{');
    let mut first = true;
    for (k, v) in t.members(item) {
        if !matches!(k.s, "key" | "name" | "value") {
            continue;
        }
        key(out, &mut first, k.s);
        match (&hashed, k.s) {
            (Some(hash), "value") => string(out, Text::clean(hash)),
            _ => t.write_plain(out, v),
        }
    }
    if header.is_some() && value.is_none() {
        key(out, &mut first, "value");
        out.extend_from_slice(b"null");
    }
    out.push(b'}');
    Ok(())
}

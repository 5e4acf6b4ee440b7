//! `rules.py`: rule objects, the rule groups' summaries, and the counted/excluded rule
//! lists gathered from them.

use std::collections::HashSet;

use crate::tape::{as_text, list, Tape, V};
use crate::write::{comma, enclosed, key, string, Text};
use crate::{Decline, R};

/// `rules.group_name`.
pub fn group_name(group_id: &str) -> &str {
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
pub fn write_match(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    first: &mut bool,
    name: &str,
    v: V<'_>,
) -> R<()> {
    let Some(array) = t.object_list(v) else {
        return Ok(());
    };
    key(out, first, name);
    out.push(b'[');
    let mut first_item = true;
    for obj in t.objects(array) {
        comma(out, &mut first_item);
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

/// `[rule, ...]` of the objects of `array`; the ids of the counting rules, after the
/// group's `prefix`, go to `counted`.
fn write_rule_list(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    array: usize,
    prefix: Option<Text<'_>>,
    counted: &mut Vec<Named>,
) -> R<()> {
    out.push(b'[');
    let mut first = true;
    for obj in t.objects(array) {
        comma(out, &mut first);
        let (id, counts) = write_rule(t, out, obj)?;
        if let (Some(id), true) = (id, counts) {
            counted.push(named(prefix, id));
        }
    }
    out.push(b']');
    Ok(())
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
        comma(out, &mut first);
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

/// (group id, rule id) of the first rule group whose terminating rule does not count:
/// `terminating_rule.group` / `group_rule`.
pub type TerminatingGroup<'a> = (Text<'a>, Option<Text<'a>>);

/// What the rule lists add up to, gathered while they are written.
#[derive(Default)]
struct Tally<'a> {
    counted: Vec<Named>,
    excluded: Vec<Named>,
    terminating_group: Option<TerminatingGroup<'a>>,
}

/// `,"non_terminating_rules"`, `,"rule_groups"`, `,"excluded_rules"` and
/// `,"counted_rules"` of the `waf` object, from the record's `nonTerminatingMatchingRules`
/// and `ruleGroupList`.
pub fn write_rules<'a>(
    t: &Tape<'a>,
    out: &mut Vec<u8>,
    non_terminating: Option<usize>,
    groups: Option<usize>,
) -> R<Option<TerminatingGroup<'a>>> {
    let mut tally = Tally::default();
    if let Some(array) = t.object_list(t.vo(non_terminating)) {
        out.extend_from_slice(b",\"non_terminating_rules\":");
        write_rule_list(t, out, array, None, &mut tally.counted)?;
    }
    if let Some(array) = list(t.vo(groups)) {
        enclosed(out, b",\"rule_groups\":[", b']', |out| {
            let mut first = true;
            for obj in t.objects(array) {
                let open: &[u8] = if first { b"{" } else { b",{" };
                if enclosed(out, open, b'}', |out| write_group(t, out, obj, &mut tally))? {
                    first = false;
                }
            }
            Ok(())
        })?;
    }
    let Tally {
        mut counted,
        mut excluded,
        terminating_group,
    } = tally;
    if !excluded.is_empty() {
        write_unique(out, "excluded_rules", &excluded);
        counted.append(&mut excluded);
    }
    if !counted.is_empty() {
        write_unique(out, "counted_rules", &counted);
    }
    Ok(terminating_group)
}

/// The members of one rule group's summary (`rule_groups` item); nothing if it has none.
fn write_group<'a>(t: &Tape<'a>, out: &mut Vec<u8>, obj: usize, tally: &mut Tally<'a>) -> R<()> {
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
    let mut first = true;
    if let Some(g) = group_id {
        key(out, &mut first, "id");
        string(out, g);
    }
    if let V::Obj(rule_obj) = t.vo(terminating) {
        key(out, &mut first, "terminating_rule");
        let (rule_id, counts) = write_rule(t, out, rule_obj)?;
        if counts {
            if let Some(rule_id) = rule_id {
                tally.counted.push(named(prefix, rule_id));
            }
        } else if tally.terminating_group.is_none() {
            if let Some(g) = group_id {
                tally.terminating_group = Some((g, rule_id));
            }
        }
    }
    if let Some(array) = t.object_list(t.vo(non_terminating)) {
        key(out, &mut first, "non_terminating_rules");
        write_rule_list(t, out, array, prefix, &mut tally.counted)?;
    }
    if let Some(array) = t.object_list(t.vo(exclusions)) {
        key(out, &mut first, "excluded_rules");
        write_exclusions(t, out, array, prefix, &mut tally.excluded);
    }
    Ok(())
}

/// `[{"id", "exclusion_type"}, ...]` of a group's `excludedRules`; the ids, after the
/// group's `prefix`, go to `excluded`.
fn write_exclusions(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    array: usize,
    prefix: Option<Text<'_>>,
    excluded: &mut Vec<Named>,
) {
    out.push(b'[');
    let mut first = true;
    for obj in t.objects(array) {
        comma(out, &mut first);
        let (mut rule_id, mut kind) = (None, None);
        for (k, v) in t.members(obj) {
            match k.s {
                "ruleId" => rule_id = Some(v),
                "exclusionType" => kind = Some(v),
                _ => {}
            }
        }
        out.push(b'{');
        let mut first_field = true;
        if let Some(rule_id) = as_text(t.vo(rule_id)) {
            key(out, &mut first_field, "id");
            string(out, rule_id);
            excluded.push(named(prefix, rule_id));
        }
        if let Some(kind) = as_text(t.vo(kind)) {
            key(out, &mut first_field, "exclusion_type");
            string(out, kind);
        }
        out.push(b'}');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

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

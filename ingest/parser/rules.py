"""The rule-related parts of a document: rule groups, counted rules, rate-based rules,
match details, CAPTCHA/Challenge responses.

Naming of rules inside groups (``waf.counted_rules``, ``waf.excluded_rules``):
``GroupName:RuleId``, where GroupName is the name in the group's ARN
(``arn:...:global/rulegroup/<name>/<id>``) or, for managed groups, the part after the
vendor (``AWS#AWSManagedRulesCommonRuleSet`` -> ``AWSManagedRulesCommonRuleSet``).
Top-level rules use their ruleId as is.
"""

from __future__ import annotations

import re
from typing import Any

_MATCH_KEYS = {
    "conditionType": "condition_type",
    "location": "location",
    "matchedData": "matched_data",
    "matchedFieldName": "matched_field_name",
    "sensitivityLevel": "sensitivity_level",
}
_COUNT = "COUNT"
_group_name_cache: dict[str, str] = {}


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"-?[0-9]+").fullmatch


def as_int(value: Any) -> int | None:
    """A 64-bit integer from an int, an integral float or a decimal string; else None
    (a value no document store could hold, such as ``1e300``, is dropped, not kept)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) >= 20 or _INT_TEXT(text) is None:  # ASCII digits only: int("²") raises
            return None
        number = int(text)
    else:
        return None
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def as_text(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def group_name(group_id: str) -> str:
    """Short name of a rule group id (see module doc)."""
    name = _group_name_cache.get(group_id)
    if name is None:
        if group_id.startswith("arn:"):
            parts = group_id.split("/")
            name = parts[-2] if len(parts) >= 3 else group_id
        elif "#" in group_id:
            name = group_id.split("#")[1] or group_id
        else:
            name = group_id
        if len(_group_name_cache) > 10_000:
            _group_name_cache.clear()
        _group_name_cache[group_id] = name
    return name


def match_details(value: Any) -> list[dict[str, Any]] | None:
    """``terminatingRuleMatchDetails`` / ``ruleMatchDetails`` -> snake_case objects."""
    if not value or not isinstance(value, list):
        return None
    details = []
    for item in value:
        if isinstance(item, dict):
            details.append({_MATCH_KEYS.get(k) or str(k): v for k, v in item.items()})
    return details or None


def _rule(entry: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    rule_id = as_text(entry.get("ruleId"))
    if rule_id is not None:
        rule["id"] = rule_id
    action = as_text(entry.get("action"))
    if action is not None:
        rule["action"] = action
    overridden = as_text(entry.get("overriddenAction"))
    if overridden is not None:
        rule["overridden_action"] = overridden
    match = match_details(entry.get("ruleMatchDetails"))
    if match is not None:
        rule["match"] = match
    return rule


def _counts(rule: dict[str, Any]) -> bool:
    return rule.get("action") == _COUNT or rule.get("overridden_action") == _COUNT


def add_rule_fields(record: dict[str, Any], waf: dict[str, Any]) -> None:
    """Fill the rule fields of ``waf`` (the ``waf`` part of the document)."""
    counted: list[str] = []
    top_level = record.get("nonTerminatingMatchingRules")
    if top_level and isinstance(top_level, list):
        rules = [_rule(entry) for entry in top_level if isinstance(entry, dict)]
        if rules:
            waf["non_terminating_rules"] = rules
            counted.extend(r["id"] for r in rules if "id" in r and _counts(r))
    groups = record.get("ruleGroupList")
    if groups and isinstance(groups, list):
        _add_groups(groups, waf, counted)
    if counted:
        waf["counted_rules"] = list(dict.fromkeys(counted))


def _add_groups(groups: list[Any], waf: dict[str, Any], counted: list[str]) -> None:
    summaries = []
    excluded_names: list[str] = []
    terminating = waf["terminating_rule"]
    for entry in groups:
        if not isinstance(entry, dict):
            continue
        summary: dict[str, Any] = {}
        group_id = as_text(entry.get("ruleGroupId"))
        prefix = f"{group_name(group_id)}:" if group_id else ""
        if group_id:
            summary["id"] = group_id
        terminating_rule = entry.get("terminatingRule")
        if isinstance(terminating_rule, dict):
            rule = _rule(terminating_rule)
            summary["terminating_rule"] = rule
            if _counts(rule):
                if "id" in rule:
                    counted.append(prefix + rule["id"])
            elif "group" not in terminating and group_id:
                terminating["group"] = group_id
                if "id" in rule:
                    terminating["group_rule"] = rule["id"]
        non_terminating = entry.get("nonTerminatingMatchingRules")
        if non_terminating and isinstance(non_terminating, list):
            rules = [_rule(item) for item in non_terminating if isinstance(item, dict)]
            if rules:
                summary["non_terminating_rules"] = rules
                counted.extend(prefix + r["id"] for r in rules if "id" in r and _counts(r))
        excluded = entry.get("excludedRules")
        if excluded and isinstance(excluded, list):
            items = []
            for item in excluded:
                if isinstance(item, dict):
                    rule_id = as_text(item.get("ruleId"))
                    exclusion: dict[str, Any] = {}
                    if rule_id is not None:
                        exclusion["id"] = rule_id
                        excluded_names.append(prefix + rule_id)
                    kind = as_text(item.get("exclusionType"))
                    if kind is not None:
                        exclusion["exclusion_type"] = kind
                    items.append(exclusion)
            if items:
                summary["excluded_rules"] = items
        if summary:
            summaries.append(summary)
    if summaries:
        waf["rule_groups"] = summaries
    if excluded_names:
        waf["excluded_rules"] = list(dict.fromkeys(excluded_names))
        counted.extend(excluded_names)


def rate_based_rules(value: Any, hide_header: Any) -> list[dict[str, Any]] | None:
    """``rateBasedRuleList`` -> objects; ``evaluationWindowSec`` as integer seconds.

    ``hide_header(name, value)`` returns the value to keep for a HEADER custom key.
    """
    if not value or not isinstance(value, list):
        return None
    rules = []
    for entry in value:
        if not isinstance(entry, dict):
            continue
        rule: dict[str, Any] = {}
        for source, target in (
            ("rateBasedRuleId", "id"),
            ("rateBasedRuleName", "name"),
            ("limitKey", "limit_key"),
            ("limitValue", "limit_value"),
        ):
            text = as_text(entry.get(source))
            if text is not None:
                rule[target] = text
        for source, target in (
            ("maxRateAllowed", "max_rate_allowed"),
            ("evaluationWindowSec", "evaluation_window_sec"),
        ):
            number = as_int(entry.get(source))
            if number is not None:
                rule[target] = number
        custom = entry.get("customValues")
        if custom and isinstance(custom, list):
            values = []
            for item in custom:
                if isinstance(item, dict):
                    kept = {k: v for k, v in item.items() if k in ("key", "name", "value")}
                    if item.get("key") == "HEADER" and isinstance(item.get("name"), str):
                        kept["value"] = hide_header(item["name"], item.get("value"))
                    values.append(kept)
            if values:
                rule["custom_values"] = values
        rules.append(rule)
    return rules or None


def action_response(record: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``captchaResponse`` / ``challengeResponse``: top level, else the last
    non-terminating match that carries one."""
    response = record.get(key)
    if not isinstance(response, dict):
        response = None
        matches = record.get("nonTerminatingMatchingRules")
        if matches and isinstance(matches, list):
            for entry in matches:
                if isinstance(entry, dict) and isinstance(entry.get(key), dict):
                    response = entry[key]
    if response is None:
        return None
    out: dict[str, Any] = {}
    code = as_int(response.get("responseCode"))
    if code is not None and -(2**31) <= code < 2**31:
        out["response_code"] = code
    solved = as_int(response.get("solveTimestamp"))
    if solved is not None and 0 < solved < 253_402_300_799:
        out["solve_timestamp"] = solved * 1000
    reason = as_text(response.get("failureReason"))
    if reason is not None:
        out["failure_reason"] = reason
    return out or None

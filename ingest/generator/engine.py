"""A small model of WAFv2 rule evaluation.

Traffic generators only say *what a request matches* (``(acl rule name, sub rule)`` pairs,
plus labels a rule group adds without a rule match, e.g. verified bots); the engine walks
the web ACL in priority order exactly as WAF does: rule action overrides turn a match
into COUNT, the first terminating match stops evaluation, every rule group evaluated up
to that point gets a ``ruleGroupList`` entry, labels accumulate in evaluation order.
Matches for rules an ACL does not have are ignored, so one request description works on
every ACL. Results are cached and carry pre-serialised JSON fragments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ingest.generator.catalogue import (
    ALLOW,
    CAPTCHA,
    CHALLENGE,
    COUNT,
    AclRule,
    WebAcl,
)

Match = tuple[str, str | None]  # (web ACL rule name, sub-rule name or None)
Extra = tuple[str, str]  # (web ACL rule name, label added when that rule is evaluated)

_EMPTY = b"[]"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    terminating_rule_id: str
    terminating_rule_type: str
    group: str | None  # ruleGroupId of the group whose terminatingRule is set
    sub_rule: str | None
    rule_group_list: bytes
    rate_based: bytes
    non_terminating: bytes
    labels: tuple[str, ...]
    labels_json: bytes  # b'{"name":..},{"name":..}' (no brackets) or b""
    geo: bool  # a geo match statement was evaluated: add the country labels
    response_code: int | None
    token: str | None  # "captcha" / "challenge" when the terminating action needs one
    solved: str | None  # "captcha" / "challenge" passed with a valid token (non-terminating)
    counted: tuple[str, ...]  # rule ids that matched in COUNT mode
    head: bytes  # ',"formatVersion":1, ... "terminatingRuleMatchDetails":'
    tail: bytes  # ',"ruleGroupList":..., "httpRequest":{"clientIp":'
    slot: int  # index in Engine.cached(), for cheap counting
    labels_prefix: bytes  # ',"labels":[' ... ; the client's geo piece goes between
    labels_suffix: bytes  # ... ']'

    @property
    def key(self) -> tuple[str, str | None]:
        """(terminating rule id, group sub-rule) — what ground truth counts by."""
        return (self.terminating_rule_id, self.sub_rule)


def _group_entry(
    group_id: str, terminating: dict[str, object] | None, counts: list[dict[str, object]]
) -> dict[str, object]:
    return {
        "ruleGroupId": group_id,
        "terminatingRule": terminating,
        "nonTerminatingMatchingRules": counts,
        "excludedRules": None,
        "customerConfig": None,
    }


def _rate_entry(acl: WebAcl, rule: AclRule) -> dict[str, object]:
    scope = "global" if acl.scope == "CLOUDFRONT" else "regional"
    region = "us-east-1" if acl.scope == "CLOUDFRONT" else acl.region
    return {
        "rateBasedRuleId": f"arn:aws:wafv2:{region}:{acl.account}:{scope}/ratebasedstatement/"
        f"{acl.name}/{acl.uid}/{rule.name}/0",
        "rateBasedRuleName": rule.name,
        "limitKey": "IP",
        "maxRateAllowed": rule.rate_limit,
        "evaluationWindowSec": str(rule.window_sec),
    }


class Engine:
    def __init__(self, acls: list[WebAcl]) -> None:
        self.acls = acls
        self._cache: dict[tuple[object, ...], Verdict] = {}

    def verdict(
        self,
        acl: WebAcl,
        matches: tuple[Match, ...] = (),
        extra: tuple[Extra, ...] = (),
        token_valid: bool = True,
    ) -> Verdict:
        key = (acl.index, matches, extra, token_valid)
        found = self._cache.get(key)
        if found is None:
            found = self._evaluate(acl, frozenset(matches), extra, token_valid, len(self._cache))
            self._cache[key] = found
        return found

    def _evaluate(
        self,
        acl: WebAcl,
        matches: frozenset[Match],
        extra: tuple[Extra, ...],
        token_valid: bool,
        slot: int,
    ) -> Verdict:
        verdict = self._walk(acl, matches, extra, token_valid)
        return _finish(acl, verdict, slot)

    def _walk(
        self, acl: WebAcl, matches: frozenset[Match], extra: tuple[Extra, ...], token_valid: bool
    ) -> dict[str, Any]:
        groups: list[dict[str, object]] = []
        top_counts: list[dict[str, object]] = []
        rate: list[dict[str, object]] = []
        labels: list[str] = []
        counted: list[str] = []
        geo = False
        solved: list[str] = []
        for rule in acl.rules:
            if rule.geo:
                geo = True
            for rule_name, label in extra:
                if rule_name == rule.name and label not in labels:
                    labels.append(label)
            if rule.group is not None:
                stop = self._evaluate_group(rule, matches, groups, labels, counted)
                if stop is not None:
                    action, sub = stop
                    return self._verdict(
                        acl,
                        action,
                        rule.name,
                        rule.type,
                        rule.group.group_id,
                        sub,
                        groups,
                        rate,
                        top_counts,
                        labels,
                        geo,
                        counted,
                        None,
                        solved,
                    )
                continue
            if (rule.name, None) not in matches:
                continue
            labels.extend(x for x in rule.labels if x not in labels)
            if rule.type == "RATE_BASED":
                rate.append(_rate_entry(acl, rule))
            if rule.action == COUNT:
                top_counts.append({"ruleId": rule.name, "action": COUNT, "ruleMatchDetails": []})
                counted.append(rule.name)
            elif rule.action in (CAPTCHA, CHALLENGE) and token_valid:
                entry: dict[str, object] = {
                    "ruleId": rule.name,
                    "action": rule.action,
                    "ruleMatchDetails": [],
                }
                top_counts.append(entry)
                solved.append(rule.action.lower())
            else:
                token = rule.action.lower() if rule.action in (CAPTCHA, CHALLENGE) else None
                return self._verdict(
                    acl,
                    rule.action,
                    rule.name,
                    rule.type,
                    None,
                    None,
                    groups,
                    rate,
                    top_counts,
                    labels,
                    geo,
                    counted,
                    token,
                    solved,
                )
        return self._verdict(
            acl,
            ALLOW,
            "Default_Action",
            "REGULAR",
            None,
            None,
            groups,
            rate,
            top_counts,
            labels,
            geo,
            counted,
            None,
            solved,
        )

    @staticmethod
    def _evaluate_group(
        rule: AclRule,
        matches: frozenset[Match],
        groups: list[dict[str, object]],
        labels: list[str],
        counted: list[str],
    ) -> tuple[str, str] | None:
        assert rule.group is not None
        counts: list[dict[str, object]] = []
        for sub in rule.group.rules:
            if (rule.name, sub.name) not in matches:
                continue
            if sub.label not in labels:
                labels.append(sub.label)
            override = rule.override(sub.name)
            action = override or sub.action
            if action == COUNT:
                entry: dict[str, object] = {"ruleId": sub.name, "action": COUNT}
                if override and override != sub.action:
                    entry["overriddenAction"] = sub.action
                entry["ruleMatchDetails"] = []
                counts.append(entry)
                counted.append(f"{rule.name}:{sub.name}")
                continue
            terminating: dict[str, object] = {
                "ruleId": sub.name,
                "action": action,
                "ruleMatchDetails": None,
            }
            groups.append(_group_entry(rule.group.group_id, terminating, counts))
            return action, sub.name
        groups.append(_group_entry(rule.group.group_id, None, counts))
        return None

    @staticmethod
    def _verdict(
        acl: WebAcl,
        action: str,
        rule_id: str,
        rule_type: str,
        group: str | None,
        sub: str | None,
        groups: list[dict[str, object]],
        rate: list[dict[str, object]],
        top_counts: list[dict[str, object]],
        labels: list[str],
        geo: bool,
        counted: list[str],
        token: str | None,
        solved: list[str],
    ) -> dict[str, Any]:
        return {
            "action": action,
            "terminating_rule_id": rule_id,
            "terminating_rule_type": rule_type,
            "group": group,
            "sub_rule": sub,
            "rule_group_list": orjson.dumps(groups) if groups else _EMPTY,
            "rate_based": orjson.dumps(rate) if rate else _EMPTY,
            "non_terminating": orjson.dumps(top_counts) if top_counts else _EMPTY,
            "labels": tuple(labels),
            "labels_json": b",".join(orjson.dumps({"name": x}) for x in labels),
            "geo": geo,
            "response_code": {"captcha": 405, "challenge": 202}.get(token or ""),
            "token": token,
            "solved": solved[-1] if solved else None,
            "counted": tuple(counted),
        }

    def cached(self) -> list[Verdict]:
        """Every verdict evaluated so far, by slot."""
        return sorted(self._cache.values(), key=lambda v: v.slot)


def _finish(acl: WebAcl, fields: dict[str, Any], slot: int) -> Verdict:
    dumps = orjson.dumps
    head = (
        b',"formatVersion":1,"webaclId":'
        + dumps(acl.arn)
        + b',"terminatingRuleId":'
        + dumps(fields["terminating_rule_id"])
        + b',"terminatingRuleType":'
        + dumps(fields["terminating_rule_type"])
        + b',"action":'
        + dumps(fields["action"])
        + b',"terminatingRuleMatchDetails":'
    )
    tail = (
        b',"ruleGroupList":'
        + fields["rule_group_list"]
        + b',"rateBasedRuleList":'
        + fields["rate_based"]
        + b',"nonTerminatingMatchingRules":'
        + fields["non_terminating"]
        + b',"requestHeadersInserted":null,"responseCodeSent":'
        + dumps(fields["response_code"])
        + b',"httpRequest":{"clientIp":'
    )
    labels_json: bytes = fields["labels_json"]
    if fields["geo"]:
        prefix, suffix = b',"labels":[', (b"," + labels_json if labels_json else b"") + b"]"
    elif labels_json:
        prefix, suffix = b',"labels":[' + labels_json + b"]", b""
    else:
        prefix = suffix = b""
    return Verdict(
        **fields, head=head, tail=tail, slot=slot, labels_prefix=prefix, labels_suffix=suffix
    )

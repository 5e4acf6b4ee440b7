"""The generator's web ACLs, created in a WAFv2 API (moto on the local stack).

The generator's logs name fixed web ACL ARNs that no WAFv2 API knows. This module
creates a web ACL of the same name, scope and region for each, with the same rules in
the same order and shape (rate-based, geo match, managed rule groups with their
``RuleActionOverrides``, a customer rule group, CAPTCHA / CHALLENGE / COUNT rules), so a
rule override finds exactly the rule the logs name. Existing ACLs of that name are
reused as they are (with any override already in place): calling it twice is safe.

``suffix`` is appended to every name (tests use it to keep their ACLs apart).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ingest.generator.catalogue import GEO_BLOCKED, AclRule, WebAcl

WafClientFactory = Callable[[str], Any]  # region -> WAFv2 client

VISIBILITY = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}
_ACTIONS = {"BLOCK": "Block", "COUNT": "Count", "CAPTCHA": "Captcha", "CHALLENGE": "Challenge"}
# what the generator's plain rules stand for (their statements are not in the catalogue)
_PATHS = {"CAPTCHA": "/giftcard/balance", "CHALLENGE": "/account", "COUNT": "/api/"}


@dataclass(frozen=True)
class WafAcl:
    """A web ACL in the WAFv2 API that stands for one of the generator's."""

    name: str  # the generator's name (what the logs say)
    arn: str
    id: str
    scope: str
    region: str  # the API region: us-east-1 for CLOUDFRONT
    created: bool


def api_region(acl: WebAcl) -> str:
    """CLOUDFRONT web ACLs are reached through us-east-1."""
    return "us-east-1" if acl.scope == "CLOUDFRONT" else acl.region


def _visibility(name: str) -> dict[str, Any]:
    return {**VISIBILITY, "MetricName": name[:128]}


def _path_match(path: str) -> dict[str, Any]:
    return {
        "ByteMatchStatement": {
            "SearchString": path.encode(),
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
            "PositionalConstraint": "STARTS_WITH",
        }
    }


def rule_spec(rule: AclRule, priority: int, group_arns: dict[str, str]) -> dict[str, Any]:
    """The WAFv2 ``Rule`` for one of the generator's ACL rules."""
    spec: dict[str, Any] = {
        "Name": rule.name,
        "Priority": priority,
        "VisibilityConfig": _visibility(rule.name),
    }
    if rule.type == "RATE_BASED":
        spec["Action"] = {"Block": {}}
        spec["Statement"] = {
            "RateBasedStatement": {"Limit": rule.rate_limit, "AggregateKeyType": "IP"}
        }
    elif rule.type == "MANAGED_RULE_GROUP":
        assert rule.group is not None
        vendor, _, name = rule.group.group_id.partition("#")
        statement: dict[str, Any] = {"VendorName": vendor, "Name": name}
        if rule.overrides:
            statement["RuleActionOverrides"] = [
                {"Name": sub, "ActionToUse": {_ACTIONS[action]: {}}}
                for sub, action in rule.overrides
            ]
        spec["OverrideAction"] = {"None": {}}
        spec["Statement"] = {"ManagedRuleGroupStatement": statement}
    elif rule.type == "GROUP":
        assert rule.group is not None
        spec["OverrideAction"] = {"None": {}}
        spec["Statement"] = {"RuleGroupReferenceStatement": {"ARN": group_arns[rule.name]}}
    elif rule.geo:
        spec["Action"] = {"Block": {}}
        spec["Statement"] = {"GeoMatchStatement": {"CountryCodes": sorted(GEO_BLOCKED)}}
    else:
        spec["Action"] = {_ACTIONS[rule.action]: {}}
        spec["Statement"] = _path_match(_PATHS.get(rule.action, "/"))
        if rule.labels:
            spec["RuleLabels"] = [{"Name": label.rsplit(":", 1)[-1]} for label in rule.labels]
    return spec


def _group_rules(rule: AclRule) -> list[dict[str, Any]]:
    assert rule.group is not None
    return [
        {
            "Name": sub.name,
            "Priority": index,
            "Action": {"Block": {}},
            "Statement": _path_match("/" + sub.name.lower()),
            "RuleLabels": [{"Name": sub.label.rsplit(":", 1)[-1]}],
            "VisibilityConfig": _visibility(sub.name),
        }
        for index, sub in enumerate(rule.group.rules)
    ]


def _find(listing: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((item for item in listing if item["Name"] == name), None)


def _listing(client: Any, call: str, key: str, scope: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Scope": scope, "Limit": 100}
        if marker:
            kwargs["NextMarker"] = marker
        page = getattr(client, call)(**kwargs)
        items.extend(page.get(key, []))
        marker = page.get("NextMarker")
        if not marker or not page.get(key):
            return items


def _ensure_group(client: Any, acl: WebAcl, rule: AclRule, suffix: str) -> str:
    name = f"{rule.name}{suffix}"
    found = _find(_listing(client, "list_rule_groups", "RuleGroups", acl.scope), name)
    if found is not None:
        return str(found["ARN"])
    summary = client.create_rule_group(
        Name=name,
        Scope=acl.scope,
        Capacity=100,
        Rules=_group_rules(rule),
        VisibilityConfig=_visibility(name),
    )["Summary"]
    return str(summary["ARN"])


def ensure_webacl(client: Any, acl: WebAcl, suffix: str = "") -> WafAcl:
    """The web ACL standing for ``acl``: found by name, else created with its rules."""
    name = f"{acl.name}{suffix}"
    region = api_region(acl)
    found = _find(_listing(client, "list_web_acls", "WebACLs", acl.scope), name)
    if found is not None:
        return WafAcl(acl.name, found["ARN"], found["Id"], acl.scope, region, created=False)
    groups = {r.name: _ensure_group(client, acl, r, suffix) for r in acl.rules if r.type == "GROUP"}
    summary = client.create_web_acl(
        Name=name,
        Scope=acl.scope,
        DefaultAction={"Allow": {}},
        VisibilityConfig=_visibility(name),
        Rules=[rule_spec(rule, i, groups) for i, rule in enumerate(acl.rules)],
        Description=f"stands for the generator's {acl.name} ({acl.arn})",
    )["Summary"]
    return WafAcl(acl.name, summary["ARN"], summary["Id"], acl.scope, region, created=True)


def ensure_webacls(
    client_for_region: WafClientFactory, acls: Iterable[WebAcl], suffix: str = ""
) -> dict[str, WafAcl]:
    """Every ACL of ``acls`` in the WAFv2 API, by the generator's name."""
    clients: dict[str, Any] = {}
    out: dict[str, WafAcl] = {}
    for acl in acls:
        region = api_region(acl)
        if region not in clients:
            clients[region] = client_for_region(region)
        out[acl.name] = ensure_webacl(clients[region], acl, suffix)
    return out

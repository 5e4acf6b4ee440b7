"""Small, valid AWS WAFv2 log records built in code, for tests that need a few."""

from __future__ import annotations

import gzip
from typing import Any

import orjson

BASE_MS = 1_764_072_000_000  # 2025-11-25T12:00:00Z


def waf_record(n: int, *, ts: int | None = None, action: str = "ALLOW") -> dict[str, Any]:
    blocked = action == "BLOCK"
    return {
        "timestamp": ts if ts is not None else BASE_MS + n * 1000,
        "formatVersion": 1,
        "webaclId": "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/shop-prod/"
        "a1b2c3d4-0000-4000-8000-000000000001",
        "terminatingRuleId": "AWS-AWSManagedRulesCommonRuleSet" if blocked else "Default_Action",
        "terminatingRuleType": "MANAGED_RULE_GROUP" if blocked else "REGULAR",
        "action": action,
        "terminatingRuleMatchDetails": [],
        "httpSourceName": "ALB",
        "httpSourceId": "111122223333-app/shop/0123456789abcdef",
        "ruleGroupList": [
            {
                "ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet",
                "terminatingRule": {"ruleId": "SizeRestrictions_BODY", "action": "BLOCK"}
                if blocked
                else None,
                "nonTerminatingMatchingRules": [],
                "excludedRules": None,
            }
        ],
        "rateBasedRuleList": [],
        "nonTerminatingMatchingRules": [],
        "requestHeadersInserted": None,
        "responseCodeSent": 403 if blocked else None,
        "httpRequest": {
            "clientIp": f"198.51.100.{n % 250 + 1}",
            "country": "DE",
            "headers": [
                {"name": "Host", "value": "shop.example.com"},
                {"name": "User-Agent", "value": "Mozilla/5.0 test"},
            ],
            "uri": f"/product/{n}",
            "args": "",
            "httpVersion": "HTTP/1.1",
            "httpMethod": "GET",
            "requestId": f"req-{n:08d}",
        },
        "labels": [{"name": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"}]
        if blocked
        else [],
    }


def ndjson(records: list[dict[str, Any]], extra_lines: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    lines = [orjson.dumps(r) for r in records] + list(extra_lines)
    return b"\n".join(lines) + b"\n"


def gz_ndjson(records: list[dict[str, Any]], extra_lines: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    return gzip.compress(ndjson(records, extra_lines))

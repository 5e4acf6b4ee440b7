"""Golden tests for each derived field, type drift, and reject reasons."""

from __future__ import annotations

import copy
import hmac
from typing import Any

import orjson
import pytest

from ingest.parser import ParserOptions
from tests.unit.conftest import HASH_KEY, parse_all, parse_one


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "timestamp": 1717243200123,
        "formatVersion": 1,
        "webaclId": "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/shop/abcd-1234",
        "terminatingRuleId": "Default_Action",
        "terminatingRuleType": "REGULAR",
        "action": "ALLOW",
        "terminatingRuleMatchDetails": [],
        "httpSourceName": "ALB",
        "httpSourceId": "111122223333-app/shop/0123",
        "ruleGroupList": [],
        "rateBasedRuleList": [],
        "nonTerminatingMatchingRules": [],
        "httpRequest": {
            "clientIp": "198.51.100.7",
            "country": "NL",
            "headers": [{"name": "Host", "value": "shop.example.com"}],
            "uri": "/",
            "args": "",
            "httpVersion": "HTTP/1.1",
            "httpMethod": "GET",
            "requestId": "req-1",
        },
    }
    for key, value in changes.items():
        if key.startswith("http_"):
            base["httpRequest"][key[5:]] = value
        elif value is _DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


_DROP = object()


def doc_of(rec: dict[str, Any], options: ParserOptions | None = None) -> dict[str, Any]:
    return parse_one(orjson.dumps(rec), options)


def expected_hash(value: str, key: bytes = HASH_KEY) -> str:
    return "hmac-sha256:" + hmac.new(key, value.encode(), "sha256").hexdigest()[:32]


# -- web ACL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "scope", "region", "account", "name"),
    [
        (
            "arn:aws:wafv2:us-east-1:123:global/webacl/edge/id-1",
            "CLOUDFRONT",
            "us-east-1",
            "123",
            "edge",
        ),
        (
            "arn:aws:wafv2:eu-west-1:456:regional/webacl/api/id-2",
            "REGIONAL",
            "eu-west-1",
            "456",
            "api",
        ),
        (
            "arn:aws-cn:wafv2:cn-north-1:789:regional/webacl/cn/id-3",
            "REGIONAL",
            "cn-north-1",
            "789",
            "cn",
        ),
    ],
)
def test_webacl_split(arn: str, scope: str, region: str, account: str, name: str) -> None:
    doc = doc_of(record(webaclId=arn))
    assert doc["waf"]["webacl"]["arn"] == arn
    assert doc["waf"]["webacl"]["scope"] == scope
    assert doc["waf"]["webacl"]["name"] == name
    assert doc["cloud"] == {"region": region, "account": {"id": account}}


def test_webacl_id_that_is_not_an_arn() -> None:
    doc = doc_of(record(webaclId="5933d6d9-9dde"))
    assert doc["waf"]["webacl"] == {"id": "5933d6d9-9dde"}
    assert "cloud" not in doc


def test_documents_do_not_share_cached_parts() -> None:
    first = doc_of(record())
    first["cloud"]["account"]["id"] = "changed"
    first["waf"]["webacl"]["name"] = "changed"
    second = doc_of(record())
    assert second["cloud"]["account"]["id"] == "111122223333"
    assert second["waf"]["webacl"]["name"] == "shop"


# -- headers, url, user agent ------------------------------------------------------------


def test_headers_lower_cased_and_repeated_names_kept() -> None:
    headers = [
        {"name": "Host", "value": "a.example"},
        {"name": "X-Thing", "value": "1"},
        {"name": "x-thing", "value": "2"},
        {"name": "X-THING", "value": "3"},
        {"name": "User-Agent", "value": "ua/1"},
        {"name": "Referer", "value": "https://r.example/"},
    ]
    doc = doc_of(record(http_headers=headers))
    got = doc["http"]["request"]["headers"]
    assert got == {
        "host": "a.example",
        "x-thing": ["1", "2", "3"],
        "user-agent": "ua/1",
        "referer": "https://r.example/",
    }
    assert doc["user_agent"]["original"] == "ua/1"
    assert doc["http"]["request"]["referrer"] == "https://r.example/"


def test_malformed_header_entries_are_skipped() -> None:
    headers = [
        {"name": "Host", "value": "a.example"},
        "junk",
        {"value": "x"},
        {"name": "n", "value": None},
        {"name": "k", "value": 5},
    ]
    doc = doc_of(record(http_headers=headers))
    assert doc["http"]["request"]["headers"] == {"host": "a.example", "n": "", "k": "5"}


@pytest.mark.parametrize(
    ("host_field", "headers", "domain", "port"),
    [
        (
            "shop.example.com",
            [{"name": "Host", "value": "other.example"}],
            "shop.example.com",
            None,
        ),
        (None, [{"name": "HOST", "value": "Upper.Example:8443"}], "upper.example", 8443),
        (None, [{"name": "host", "value": "[2001:db8::1]:443"}], "2001:db8::1", 443),
        ("", [{"name": "hOsT", "value": "mixed.example"}], "mixed.example", None),
        (None, [], None, None),
    ],
)
def test_url_domain(
    host_field: str | None, headers: list, domain: str | None, port: int | None
) -> None:
    changes: dict[str, Any] = {"http_headers": headers}
    if host_field is not None:
        changes["http_host"] = host_field
    doc = doc_of(record(**changes))
    url = doc.get("url", {})
    assert url.get("domain") == domain
    assert url.get("port") == port


# -- sensitive headers and event.original ----------------------------------------------------


def test_sensitive_headers_hashed_in_document_and_original() -> None:
    headers = [
        {"name": "Host", "value": "a.example"},
        {"name": "Cookie", "value": "session=s3cret"},
        {"name": "authorization", "value": "Bearer t0ken"},
        {"name": "X-Api-Key", "value": "k3y"},
    ]
    raw = orjson.dumps(record(http_headers=headers))
    doc = parse_one(raw)
    got = doc["http"]["request"]["headers"]
    assert got["cookie"] == expected_hash("session=s3cret")
    assert got["authorization"] == expected_hash("Bearer t0ken")
    assert got["x-api-key"] == expected_hash("k3y")
    original = doc["event"]["original"]
    for secret in ("s3cret", "t0ken", "k3y"):
        assert secret not in original
    restored = orjson.loads(original)
    assert restored["httpRequest"]["headers"][1] == {
        "name": "Cookie",
        "value": expected_hash("session=s3cret"),
    }


def test_hash_depends_on_key() -> None:
    headers = [{"name": "Cookie", "value": "c"}]
    one = doc_of(record(http_headers=headers), ParserOptions(hash_key=b"one"))
    two = doc_of(record(http_headers=headers), ParserOptions(hash_key=b"two"))
    assert (
        one["http"]["request"]["headers"]["cookie"] != two["http"]["request"]["headers"]["cookie"]
    )
    assert one["event"]["id"] == two["event"]["id"]  # the id is taken before hashing


def test_sensitive_headers_from_settings() -> None:
    from wafsiem.settings import Settings

    settings = Settings(parser={"sensitive_headers": ["X-Secret"], "hash_key": "abc"})
    options = ParserOptions.from_settings(settings)
    assert options.sensitive_headers == frozenset({"x-secret"})
    doc = doc_of(
        record(http_headers=[{"name": "X-SECRET", "value": "v"}, {"name": "Cookie", "value": "c"}]),
        options,
    )
    headers = doc["http"]["request"]["headers"]
    assert headers["x-secret"] == expected_hash("v", b"abc")
    assert headers["cookie"] == "c"


def test_sensitive_values_in_inserted_headers_and_rate_keys() -> None:
    rate = [
        {
            "rateBasedRuleName": "r",
            "limitKey": "CUSTOMKEYS",
            "customValues": [{"key": "HEADER", "name": "Cookie", "value": "c1"}],
        }
    ]
    inserted = [{"name": "Authorization", "value": "a1"}]
    doc = doc_of(record(rateBasedRuleList=rate, requestHeadersInserted=inserted))
    assert doc["waf"]["rate_based_rules"][0]["custom_values"][0]["value"] == expected_hash("c1")
    assert doc["waf"]["request_headers_inserted"] == {"authorization": expected_hash("a1")}
    assert "c1" not in doc["event"]["original"] and 'a1"' not in doc["event"]["original"]


def test_original_is_kept_byte_for_byte_without_sensitive_headers() -> None:
    raw = (
        b'{ "timestamp": 1717243200123 , "action":"ALLOW", '
        b'"httpRequest":{"clientIp":"10.0.0.1", "headers":[]}, "x":1.50 }'
    )
    doc = parse_one(raw)
    assert doc["event"]["original"] == raw.decode()


# -- event.id --------------------------------------------------------------------------------


def test_event_id_deterministic_and_distinct() -> None:
    raw = orjson.dumps(record())
    first = parse_one(raw)["event"]["id"]
    assert parse_one(raw)["event"]["id"] == first
    assert len(first) == 32 and int(first, 16) >= 0
    other = parse_one(orjson.dumps(record(timestamp=1717243200124)))["event"]["id"]
    assert other != first
    docs, _, _ = parse_all(raw + b"\n" + raw + b"\n")
    assert docs[0].id == docs[1].id == first


# -- rules -------------------------------------------------------------------------------


def test_counted_rules_from_top_level_groups_and_overrides() -> None:
    groups = [
        {
            "ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet",
            "terminatingRule": {
                "ruleId": "GenericRFI_BODY",
                "action": "BLOCK",
                "overriddenAction": "COUNT",
            },
            "nonTerminatingMatchingRules": [
                {"ruleId": "NoUserAgent_HEADER", "action": "COUNT", "overriddenAction": "BLOCK"},
                {"ruleId": "Captcha_rule", "action": "CAPTCHA"},
            ],
            "excludedRules": [
                {"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": "SizeRestrictions_QUERYSTRING"}
            ],
        },
        {
            "ruleGroupId": "arn:aws:wafv2:us-east-1:1:regional/rulegroup/custom-group/uuid",
            "terminatingRule": {"ruleId": "BadBot", "action": "BLOCK"},
            "nonTerminatingMatchingRules": None,
        },
    ]
    top = [{"ruleId": "Monitor", "action": "COUNT"}, {"ruleId": "Monitor", "action": "COUNT"}]
    doc = doc_of(
        record(
            ruleGroupList=groups,
            nonTerminatingMatchingRules=top,
            action="BLOCK",
            terminatingRuleId="Custom",
            terminatingRuleType="GROUP",
        )
    )
    waf = doc["waf"]
    assert waf["counted_rules"] == [
        "Monitor",
        "AWSManagedRulesCommonRuleSet:GenericRFI_BODY",
        "AWSManagedRulesCommonRuleSet:NoUserAgent_HEADER",
        "AWSManagedRulesCommonRuleSet:SizeRestrictions_QUERYSTRING",
    ]
    # the group whose rule was overridden to COUNT is not the terminating group
    assert (
        waf["terminating_rule"]["group"]
        == "arn:aws:wafv2:us-east-1:1:regional/rulegroup/custom-group/uuid"
    )
    assert waf["terminating_rule"]["group_rule"] == "BadBot"
    assert waf["rule_groups"][0]["excluded_rules"] == [
        {"id": "SizeRestrictions_QUERYSTRING", "exclusion_type": "EXCLUDED_AS_COUNT"}
    ]


@pytest.mark.parametrize(
    "details",
    [None, [], "junk", [{"conditionType": "XSS", "location": "BODY", "matchedData": ["<s"]}]],
)
def test_rule_match_details_drift(details: Any) -> None:
    groups = [
        {
            "ruleGroupId": "G",
            "terminatingRule": {"ruleId": "R", "action": "BLOCK", "ruleMatchDetails": details},
        }
    ]
    top = [{"ruleId": "T", "action": "COUNT", "ruleMatchDetails": details}]
    doc = doc_of(
        record(
            ruleGroupList=groups,
            nonTerminatingMatchingRules=top,
            terminatingRuleMatchDetails=details,
        )
    )
    has_match = isinstance(details, list) and bool(details)
    assert ("match" in doc["waf"]["terminating_rule"]) is has_match
    assert ("match" in doc["waf"]["rule_groups"][0]["terminating_rule"]) is has_match
    assert ("match" in doc["waf"]["non_terminating_rules"][0]) is has_match


@pytest.mark.parametrize(
    ("window", "expected"),
    [(300, 300), ("120", 120), ("60 ", 60), ("x", None), (None, None), (600.0, 600)],
)
def test_evaluation_window_drift(window: Any, expected: int | None) -> None:
    rate = [
        {
            "rateBasedRuleId": "id",
            "rateBasedRuleName": "n",
            "limitKey": "IP",
            "maxRateAllowed": 10,
            "evaluationWindowSec": window,
            "limitValue": "1.2.3.4",
        }
    ]
    doc = doc_of(record(rateBasedRuleList=rate))
    assert doc["waf"]["rate_based_rules"][0].get("evaluation_window_sec") == expected


@pytest.mark.parametrize(("sent", "expected"), [(None, None), (403, 403), ("429", 429), ("", None)])
def test_response_code_sent_drift(sent: Any, expected: int | None) -> None:
    assert doc_of(record(responseCodeSent=sent))["waf"].get("response_code_sent") == expected


def test_placeholders_become_absent() -> None:
    doc = doc_of(
        record(httpSourceName="-", httpSourceId="-", http_country="-", http_requestId="null")
    )
    assert "http_source" not in doc["waf"]
    assert "geo" not in doc["source"]
    assert "id" not in doc["http"]["request"]


@pytest.mark.parametrize(
    "key",
    [
        "ruleGroupList",
        "rateBasedRuleList",
        "nonTerminatingMatchingRules",
        "terminatingRuleMatchDetails",
        "labels",
        "formatVersion",
        "webaclId",
    ],
)
def test_optional_lists_missing_or_null(key: str) -> None:
    assert doc_of(record(**{key: _DROP}))["waf"]["action"] == "ALLOW"
    assert doc_of(record(**{key: None}))["waf"]["action"] == "ALLOW"


def test_index_name_and_bulk_lines() -> None:
    docs, _, _ = parse_all(
        orjson.dumps(record(timestamp=1704067199999))
        + b"\n"
        + orjson.dumps(record(timestamp=1704067200000))
    )
    assert [d.index_name() for d in docs] == ["waf-logs-2023.12.31", "waf-logs-2024.01.01"]
    action, source, end = docs[0].bulk_lines("p").split(b"\n")
    assert orjson.loads(action) == {"index": {"_index": "p-2023.12.31", "_id": docs[0].id}}
    assert orjson.loads(source) == docs[0].doc
    assert end == b""
    assert docs[0].doc["@timestamp"] == "2023-12-31T23:59:59.999Z"


# -- rejects -------------------------------------------------------------------------------


def _without(path: str) -> dict[str, Any]:
    rec = copy.deepcopy(record())
    if path.startswith("http_"):
        del rec["httpRequest"][path[5:]]
    else:
        del rec[path]
    return rec


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", "not_json"),
        (b"[1, 2, 3]", "not_object"),
        (b"42", "not_object"),
        (b'"text"', "not_object"),
        (orjson.dumps(_without("timestamp")), "missing_timestamp"),
        (orjson.dumps(record(timestamp="yesterday")), "missing_timestamp"),
        (orjson.dumps(record(timestamp=10**18)), "missing_timestamp"),
        (orjson.dumps(record(timestamp=-5)), "missing_timestamp"),
        (orjson.dumps(record(timestamp=True)), "missing_timestamp"),
        (orjson.dumps(_without("action")), "missing_action"),
        (orjson.dumps(record(action="")), "missing_action"),
        (orjson.dumps(_without("httpRequest")), "missing_http_request"),
        (orjson.dumps(record(httpRequest="x")), "missing_http_request"),
        (orjson.dumps(record(http_clientIp="999.1.1.1")), "invalid_client_ip"),
        (orjson.dumps(_without("http_clientIp")), "invalid_client_ip"),
        (b'{"timestamp": 1, "action": "\xff\xfe"}', "invalid_utf8"),
    ],
)
def test_reject_reasons(raw: bytes, reason: str) -> None:
    good = orjson.dumps(record())
    docs, rejects, stats = parse_all(good + b"\n" + raw + b"\n" + good + b"\n")
    assert len(docs) == 2  # the stream goes on
    assert [r.reason for r in rejects] == [reason]
    assert rejects[0].raw == raw
    assert rejects[0].offset == len(good) + 1
    assert rejects[0].origin == "test"
    assert stats.records_in == 3 and stats.rejected_by_reason == {reason: 1}


def test_reject_outputs() -> None:
    _, rejects, _ = parse_all(b"oops\n")
    line = rejects[0].to_json_dict()
    assert line == {
        "reason": "not_json",
        "detail": "not a JSON value",
        "source": "test",
        "offset": 0,
        "raw_base64": "b29wcw==",
    }
    dead = rejects[0].deadletter_document(origin_kind="s3")
    assert dead["origin"] == {"kind": "s3", "name": "test", "offset": 0}
    assert dead["raw"]["bytes"] == 4 and dead["@timestamp"].endswith("Z")


def test_ipv6_client_ip_normalised() -> None:
    doc = doc_of(record(http_clientIp="2001:DB8:0:0:0:0:0:1"))
    assert doc["source"]["ip"] == "2001:db8::1"


@pytest.mark.parametrize("native", [True, False])
def test_odd_digits_never_stop_the_stream(native: bool) -> None:
    """``int()`` refuses "--1" and "²" and reads "١" as 1: numbers and ports are ASCII
    digits only, and a client IP in other digits is an invalid address, not a crash."""
    options = ParserOptions(hash_key=HASH_KEY, native=native)
    odd = record()
    odd["formatVersion"] = "--1"
    odd["requestBodySize"] = "١٢"
    odd["httpRequest"]["host"] = "a.example:²"
    bad_ip = record()
    bad_ip["httpRequest"]["clientIp"] = "١.٢.٣.٤"
    lines = [orjson.dumps(r) for r in (odd, bad_ip, record())]
    docs, rejects, stats = parse_all(b"\n".join(lines) + b"\n", options)
    assert stats.records_in == 3 and len(docs) == 2
    assert [r.reason for r in rejects] == ["invalid_client_ip"]
    doc = docs[0].doc
    assert "format_version" not in doc["waf"]
    assert "body" not in doc["http"]["request"]
    assert doc["url"] == {**doc["url"], "domain": "a.example"} and "port" not in doc["url"]

"""Every example record from the AWS documentation, plus the constructed one."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tests.unit.conftest import FIXTURES, fixture_paths, parse_all, parse_one
from wafsiem.schema import arrow_schema, flatten_document, validate_document

FIXTURE_IDS = [p.name for p in fixture_paths()]


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_fixtures_exist() -> None:
    assert len(FIXTURE_IDS) >= 8


@pytest.mark.parametrize("path", fixture_paths(), ids=FIXTURE_IDS)
def test_fixture_parses_to_one_valid_document(path: Path) -> None:
    raw = path.read_bytes()
    doc = parse_one(raw)
    validate_document(doc)
    record = json.loads(raw)
    assert doc["waf"]["action"] == record["action"]
    assert doc["@timestamp"].endswith("Z")
    assert len(doc["event"]["id"]) == 32
    table = pa.Table.from_pylist([flatten_document(doc)], schema=arrow_schema())
    assert table.num_rows == 1


def test_all_fixtures_concatenated_and_gzipped() -> None:
    blob = b"".join(p.read_bytes().strip() for p in fixture_paths())  # no delimiter at all
    docs, rejects, stats = parse_all(gzip.compress(blob))
    assert not rejects
    assert len(docs) == len(FIXTURE_IDS)
    assert stats.compressed and not stats.truncated


def test_sqli_terminating() -> None:
    doc = parse_one(_load("aws-sqli-terminating.json"))
    waf = doc["waf"]
    assert waf["action"] == "BLOCK"
    assert waf["terminating_rule"] == {
        "id": "STMTest_SQLi_XSS",
        "type": "REGULAR",
        "match": [
            {
                "condition_type": "SQL_INJECTION",
                "location": "HEADER",
                "matched_data": ["10", "AND", "1"],
            }
        ],
    }
    assert waf["webacl"] == {
        "arn": "arn:aws:wafv2:ap-southeast-2:111122223333:regional/webacl/STMTest/"
        "1EXAMPLE-2ARN-3ARN-4ARN-123456EXAMPLE",
        "scope": "REGIONAL",
        "name": "STMTest",
        "id": "1EXAMPLE-2ARN-3ARN-4ARN-123456EXAMPLE",
    }
    assert doc["cloud"] == {"region": "ap-southeast-2", "account": {"id": "111122223333"}}
    assert "http_source" not in waf  # "-" placeholders
    assert waf["labels"] == ["value"]
    assert doc["url"] == {"domain": "localhost", "port": 1989, "path": "/foo"}
    assert doc["user_agent"] == {"original": "curl/7.61.1"}
    assert doc["@timestamp"] == "2019-12-13T23:40:12.771Z"
    assert doc["http"]["request"]["headers"]["x-stm-test"] == "10 AND 1=1"


def test_sqli_non_terminating_is_counted() -> None:
    doc = parse_one(_load("aws-sqli-non-terminating.json"))
    waf = doc["waf"]
    assert waf["counted_rules"] == ["TestRule"]
    assert waf["non_terminating_rules"][0]["match"][0]["matched_data"] == ["10", "and", "1"]
    assert waf["webacl"]["scope"] == "CLOUDFRONT"
    assert doc["cloud"]["region"] == "us-east-1"
    assert "match" not in waf["terminating_rule"]


def test_rule_group_terminating_rule_and_group_count() -> None:
    doc = parse_one(_load("aws-rule-group-terminating-and-count.json"))
    terminating = doc["waf"]["terminating_rule"]
    group_arn = (
        "arn:aws:wafv2:us-east-1:123456789012:global/rulegroup/hello-world/"
        "c05lb698-1f11-4m41-aef4-99a506d53f4b"
    )
    assert terminating["id"] == "RG-Reference"
    assert terminating["type"] == "GROUP"
    assert terminating["group"] == group_arn
    assert terminating["group_rule"] == "RuleA-XSS"
    assert doc["waf"]["counted_rules"] == ["hello-world:RuleB-SQLi"]
    group = doc["waf"]["rule_groups"][0]
    assert group["terminating_rule"] == {"id": "RuleA-XSS", "action": "BLOCK"}
    assert "excluded_rules" not in group


def test_json_body_placeholders() -> None:
    doc = parse_one(_load("aws-json-body-unknown-location.json"))
    assert "id" not in doc["http"]["request"]  # requestId "null"
    assert "headers" not in doc["http"]["request"]
    assert "url" not in doc  # empty uri and args, no host
    assert doc["waf"]["http_source"] == {"name": "ALB", "id": "alb"}
    assert "response_code_sent" not in doc["waf"]
    assert doc["waf"]["terminating_rule"]["match"][0]["location"] == "UNKNOWN"


def test_captcha_valid_token() -> None:
    doc = parse_one(_load("aws-captcha-valid-token.json"))
    waf = doc["waf"]
    assert waf["captcha"] == {"response_code": 0, "solve_timestamp": 1632420429000}
    assert waf["request_headers_inserted"] == {"x-amzn-waf-test-header-name": "test-header-value"}
    assert "counted_rules" not in waf  # a CAPTCHA match is not a COUNT
    assert waf["non_terminating_rules"] == [{"id": "captcha-rule", "action": "CAPTCHA"}]
    headers = doc["http"]["request"]["headers"]
    assert headers["cookie"].startswith("hmac-sha256:")
    assert "aws-waf-token" not in doc["event"]["original"]
    assert doc["http"]["request"]["referrer"].endswith("/pen-test/pets")
    assert doc["url"]["domain"] == "b34myvfw0b.gamma.execute-api.us-east-1.amazonaws.com"


def test_captcha_missing_token() -> None:
    doc = parse_one(_load("aws-captcha-missing-token.json"))
    waf = doc["waf"]
    assert waf["action"] == "CAPTCHA"
    assert waf["response_code_sent"] == 405
    assert waf["captcha"] == {"response_code": 405, "failure_reason": "TOKEN_MISSING"}
    raw = _load("aws-captcha-missing-token.json")
    assert doc["event"]["original"] == raw.decode().strip()  # nothing sensitive: kept as is


def test_rate_based_rule_custom_key() -> None:
    doc = parse_one(_load("aws-rate-based-rule-custom-key.json"))
    (rule,) = doc["waf"]["rate_based_rules"]
    assert rule["evaluation_window_sec"] == 120
    assert rule["max_rate_allowed"] == 100
    assert rule["limit_key"] == "CUSTOMKEYS"
    assert rule["custom_values"] == [{"key": "HEADER", "name": "dogname", "value": "ella"}]


def test_constructed_all_fields() -> None:
    raw = _load("constructed-all-fields.json")
    doc = parse_one(raw)
    waf = doc["waf"]
    assert waf["terminating_rule"]["group"] == "AWS#AWSManagedRulesCommonRuleSet"
    assert waf["terminating_rule"]["group_rule"] == "SizeRestrictions_BODY"
    assert waf["counted_rules"] == [
        "LogOnly",
        "AWSManagedRulesCommonRuleSet:NoUserAgent_HEADER",
        "AWSManagedRulesKnownBadInputsRuleSet:Host_localhost_HEADER",
    ]
    assert waf["excluded_rules"] == ["AWSManagedRulesKnownBadInputsRuleSet:Host_localhost_HEADER"]
    assert waf["challenge"] == {"response_code": 0, "solve_timestamp": 1717243100000}
    assert waf["oversize_fields"] == ["REQUEST_BODY"]
    assert waf["response_code_sent"] == 403
    assert waf["distribution_tenant_id"] == "dt_12345"
    assert waf["rate_based_rules"][0]["max_rate_allowed"] == 2000
    assert waf["request_headers_inserted"] == {"x-amzn-waf-customer": "gold"}
    assert doc["source"] == {
        "ip": "2001:db8::1",
        "as": {"number": 3320},
        "geo": {"country_iso_code": "DE"},
    }
    assert doc["url"] == {
        "domain": "shop.example.com",
        "path": "/checkout",
        "query": "step=2&coupon=SPRING",
        "fragment": "summary",
        "scheme": "https",
    }
    request = doc["http"]["request"]
    assert request["headers"]["accept"] == ["text/html", "application/json"]
    assert request["headers"]["authorization"].startswith("hmac-sha256:")
    assert request["body"] == {"bytes": 20480, "inspected_bytes": 8192}
    assert doc["tls"]["client"] == {
        "ja3": "e7d705a3286e19ea42f587b344ee6865",
        "ja4": "t13d1516h2_8daaf6152771_02713d6af862",
    }
    original = orjson.loads(doc["event"]["original"])
    assert original["someFutureField"] == {"nested": [1, 2, 3]}  # unknown field kept
    assert "secret-token" not in doc["event"]["original"]

"""Scenarios: ground truth agrees with the records; scenarios combine; specs parse."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.generator import GenerateOptions, ScenarioSpec, generate
from ingest.generator.models import parse_time
from ingest.generator.service import Generator, scenario_names
from ingest.generator.writers import LocalSink

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
ALL = [
    "sqli-scanner",
    "xss-scanner",
    "credential-stuffing",
    "bad-bots",
    "fp-size-body",
    "fp-xss-body",
]


def _records(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(root.rglob("*.log.gz")):
        out.extend(orjson.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines())
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("scenarios")
    specs = [ScenarioSpec.parse(f"{name}@+5m,minutes=12", START) for name in ALL]
    options = GenerateOptions(start=START, hours=0.5, rps=10, domains=279, seed=11, scenarios=specs)
    generate(options, LocalSink(root))
    truth = orjson.loads((root / "ground-truth.json").read_bytes())
    return truth, _records(root)


def _truth(truth: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in truth["scenarios"] if s["id"] == sid)


def _in_window(record: dict[str, Any], scenario: dict[str, Any]) -> bool:
    lo = datetime.fromisoformat(scenario["start"]).timestamp() * 1000
    hi = datetime.fromisoformat(scenario["end"]).timestamp() * 1000
    return lo <= record["timestamp"] < hi


def _by_rule(records: list[dict[str, Any]], s: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if r["webaclId"] != s["webacl_arn"] or r["terminatingRuleId"] != s["rule"]:
            continue
        if s["sub_rule"]:
            group = [g for g in r["ruleGroupList"] if g["terminatingRule"]]
            if not group or group[0]["terminatingRule"]["ruleId"] != s["sub_rule"]:
                continue
        if _in_window(r, s):
            out.append(r)
    return out


def test_ground_truth_lists_every_scenario(
    run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    truth, records = run
    ids = [s["id"] for s in truth["scenarios"]]
    assert ids == ["baseline", *ALL]
    assert sum(s["records"] for s in truth["scenarios"]) == len(records)
    assert {a["name"] for a in truth["webacls"]} >= {"shop-eu-prod", "corp-web"}
    for s in truth["scenarios"][1:]:
        assert s["kind"] in ("attack", "false_positive")
        assert s["records"] > 0 and s["matched_records"] > 0
        assert sum(s["records_by_action"].values()) == s["records"]
        assert sum(r["records"] for r in s["rules"]) == s["records"]


def test_fp_size_body_blocks_many_distinct_customers(
    run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    truth, records = run
    s = _truth(truth, "fp-size-body")
    assert s["kind"] == "false_positive" and s["expected_response"] == "override_to_count"
    assert (s["webacl_name"], s["rule"], s["group"], s["sub_rule"]) == (
        "shop-eu-prod",
        "AWS-AWSManagedRulesCommonRuleSet",
        "AWS#AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY",
    )
    assert s["label"] == "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"
    blocked = [r for r in _by_rule(records, s) if r["httpRequest"]["uri"] == "/checkout/payment"]
    ips = {r["httpRequest"]["clientIp"] for r in blocked}
    assert len(ips) >= 1000
    assert len({r["httpRequest"]["country"] for r in blocked}) >= 10
    for r in blocked:
        assert r["action"] == "BLOCK" and r["httpRequest"]["httpMethod"] == "POST"
        assert r["requestBodySize"] > 8192
        assert r["requestBodySizeInspectedByWAF"] == 8192
        assert {"name": s["label"]} in r["labels"]
    assert s["matched_records"] <= len(blocked) <= s["matched_records"] + 200  # + baseline FPs
    assert s["distinct_client_ips"] <= len(ips)


def test_fp_xss_body_blocks_cms_editors(run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    truth, records = run
    s = _truth(truth, "fp-xss-body")
    assert (s["webacl_name"], s["sub_rule"]) == ("corp-web", "CrossSiteScripting_BODY")
    blocked = _by_rule(records, s)
    assert len(blocked) == s["matched_records"]
    assert 5 <= len({r["httpRequest"]["clientIp"] for r in blocked}) <= 60
    for r in blocked:
        assert r["httpRequest"]["uri"].startswith("/admin/cms/")
        assert r["terminatingRuleMatchDetails"][0]["conditionType"] == "XSS"
        assert r["terminatingRuleMatchDetails"][0]["location"] == "BODY"


def test_scanners_carry_real_payloads(run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    truth, records = run
    sqli, xss = _truth(truth, "sqli-scanner"), _truth(truth, "xss-scanner")
    assert sqli["distinct_client_ips"] <= 4 and xss["distinct_client_ips"] <= 4
    sqli_hits = [
        r for r in _by_rule(records, sqli) if r["httpRequest"]["clientIp"] in sqli["client_ips"]
    ]
    assert len(sqli_hits) == sqli["matched_records"]
    assert any("' OR 1=1--" in r["httpRequest"]["args"] for r in sqli_hits)
    assert all(
        r["terminatingRuleMatchDetails"][0]["conditionType"] == "SQL_INJECTION" for r in sqli_hits
    )
    xss_hits = [
        r for r in _by_rule(records, xss) if r["httpRequest"]["clientIp"] in xss["client_ips"]
    ]
    assert len(xss_hits) == xss["matched_records"]
    assert any("<script>alert(1)</script>" in r["httpRequest"]["args"] for r in xss_hits)
    label = "awswaf:managed:aws:core-rule-set:CrossSiteScripting_QueryArguments"
    assert all({"name": label} in r["labels"] for r in xss_hits)


def test_credential_stuffing_hits_the_rate_based_rule(
    run: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    truth, records = run
    s = _truth(truth, "credential-stuffing")
    assert (s["rule"], s["rule_type"]) == ("RateLimitLogin", "RATE_BASED")
    blocked = _by_rule(records, s)
    assert len(blocked) == s["matched_records"] > 0
    per_ip = Counter(r["httpRequest"]["clientIp"] for r in blocked)
    assert len(per_ip) >= 20
    for r in blocked:
        assert r["httpRequest"]["uri"] == "/login" and r["httpRequest"]["httpMethod"] == "POST"
        rate = r["rateBasedRuleList"][0]
        assert rate["rateBasedRuleName"] == "RateLimitLogin" and rate["maxRateAllowed"] == 100
    # the first 100 attempts per address in the window pass
    assert s["records_by_action"]["ALLOW"] >= 100 * 20
    assert len({r["ja4Fingerprint"] for r in blocked}) == 1


def test_bad_bots_blocked_by_bot_control(run: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    truth, _ = run
    s = _truth(truth, "bad-bots")
    assert s["group"] == "AWS#AWSManagedRulesBotControlRuleSet"
    subs = {r["sub_rule"] for r in s["rules"] if r["rule"] == s["rule"]}
    assert {"CategoryScrapingFramework", "SignalAutomatedBrowser"} <= subs


def test_scenarios_do_not_change_the_baseline() -> None:
    def baseline_bytes(specs: list[ScenarioSpec]) -> list[bytes]:
        options = GenerateOptions(
            start=START, hours=0.1, rps=10, domains=50, seed=2, scenarios=specs
        )
        generator = Generator(options)
        out: list[bytes] = []

        class Keep:
            def consume(self, chunk: bytes) -> None:
                out.extend(chunk.split(b"\n")[:-1])

        for lo, hi in generator.buckets():
            generator.generate_bucket(lo, hi, [Keep() for _ in generator.topology.acls])
        return out

    alone = baseline_bytes([])
    combined = baseline_bytes([ScenarioSpec(name="bad-bots"), ScenarioSpec(name="sqli-scanner")])
    assert len(combined) > len(alone)
    assert set(alone) <= set(combined)


def test_scenario_spec_parsing() -> None:
    spec = ScenarioSpec.parse("fp-size-body@2024-05-01T10:30:00Z,intensity=2,minutes=15")
    assert spec.start == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert (spec.intensity, spec.minutes) == (2.0, 15.0)
    assert ScenarioSpec.parse("sqli-scanner@+90m", START).start == START + timedelta(minutes=90)
    assert ScenarioSpec.parse("bad-bots").start is None
    assert parse_time("2024-05-01T10:30") == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    for bad in ("x@notatime", "x,intensity=abc", "x,speed=2", "x,intensity=0"):
        with pytest.raises(ValueError):
            ScenarioSpec.parse(bad, START)
    assert set(scenario_names()) == set(ALL)


def test_unknown_or_outside_scenarios_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        Generator(GenerateOptions(start=START, scenarios=[ScenarioSpec(name="nope")]))
    late = ScenarioSpec(name="bad-bots", start=START + timedelta(hours=5))
    with pytest.raises(ValueError, match="outside"):
        Generator(GenerateOptions(start=START, scenarios=[late]))


def test_repeated_scenarios_get_distinct_ids(tmp_path: Path) -> None:
    specs = [
        ScenarioSpec.parse("sqli-scanner@+1m,minutes=2", START),
        ScenarioSpec.parse("sqli-scanner@+4m,minutes=2,intensity=3", START),
    ]
    summary = generate(
        GenerateOptions(start=START, hours=0.1, rps=5, domains=40, seed=1, scenarios=specs),
        LocalSink(tmp_path),
    )
    first, second = summary.truth[1], summary.truth[2]
    assert (first.id, second.id) == ("sqli-scanner", "sqli-scanner#2")
    assert second.records > 2 * first.records
    assert first.end <= second.start

"""Generated records: structure, validity, layouts, gzip, determinism, domains."""

from __future__ import annotations

import gzip
import ipaddress
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.generator import GenerateOptions, ScenarioSpec, generate
from ingest.generator.topology import Topology
from ingest.generator.writers import LocalSink

START = datetime(2024, 5, 1, 10, 2, tzinfo=UTC)  # not on a 5-minute boundary on purpose
WAF_KEY = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/WAFLogs/(?P<region>[a-z0-9-]+)/(?P<acl>[\w-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<H>\d{2})/(?P<M>\d{2})/"
    r"(?P=acct)_waflogs_(?P=region)_(?P=acl)_(?P=y)(?P=m)(?P=d)T(?P=H)(?P=M)Z_[0-9a-f]{8}\.log\.gz$"
)
FIREHOSE_KEY = re.compile(
    r"^(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<H>\d{2})/aws-waf-logs-[\w-]+-1-"
    r"(?P=y)-(?P=m)-(?P=d)-(?P=H)-\d{2}-\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
REQUIRED = (
    "timestamp",
    "formatVersion",
    "webaclId",
    "terminatingRuleId",
    "terminatingRuleType",
    "action",
    "terminatingRuleMatchDetails",
    "httpSourceName",
    "httpSourceId",
    "ruleGroupList",
    "rateBasedRuleList",
    "nonTerminatingMatchingRules",
    "requestHeadersInserted",
    "responseCodeSent",
    "httpRequest",
    "ja3Fingerprint",
    "ja4Fingerprint",
)
HTTP_REQUIRED = (
    "clientIp",
    "country",
    "headers",
    "uri",
    "args",
    "httpVersion",
    "httpMethod",
    "requestId",
    "fragment",
    "scheme",
    "host",
)
ARN = re.compile(
    r"^arn:aws:wafv2:(?:[a-z0-9-]+:\d{12}:regional|us-east-1:\d{12}:global)/webacl/[\w-]+/"
    r"[0-9a-f-]{36}$"
)


def _options(**overrides: Any) -> GenerateOptions:
    values: dict[str, Any] = {"start": START, "hours": 0.25, "rps": 20.0, "domains": 60, "seed": 5}
    values.update(overrides)
    return GenerateOptions(**values)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _records(files: dict[str, bytes]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for key, blob in files.items():
        if key == "ground-truth.json":
            continue
        for line in gzip.decompress(blob).splitlines():
            out.append((key, orjson.loads(line)))
    return out


@pytest.fixture(scope="module")
def waf_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("waf")
    specs = [ScenarioSpec(name="xss-scanner", start=START.replace(minute=5), minutes=5)]
    generate(_options(scenarios=specs), LocalSink(root))
    return root, _files(root)


def test_waf_s3_layout_and_bucketing(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    _, files = waf_run
    assert "ground-truth.json" in files
    keys = [k for k in files if k != "ground-truth.json"]
    assert keys and not any(k.startswith("ground") for k in keys)
    for key in keys:
        match = WAF_KEY.match(key)
        assert match, key
        bucket = datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"]),
            int(match["M"]),
            tzinfo=UTC,
        )
        assert bucket.minute % 5 == 0
        lo = int(bucket.timestamp() * 1000)
        for line in gzip.decompress(files[key]).splitlines():
            record = orjson.loads(line)
            assert lo <= record["timestamp"] < lo + 300_000
            assert record["webaclId"].split("/")[-2] == match["acl"]
            region = (
                "cloudfront"
                if ":global/" in record["webaclId"]
                else record["webaclId"].split(":")[3]
            )
            assert region == match["region"]


def test_gzip_files_are_valid_and_time_ordered(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    _, files = waf_run
    for key, blob in files.items():
        if key.endswith(".gz"):
            assert blob[:2] == b"\x1f\x8b"
            stamps = [orjson.loads(x)["timestamp"] for x in gzip.decompress(blob).splitlines()]
            assert stamps == sorted(stamps)


def test_records_are_complete_and_valid(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    _, files = waf_run
    records = _records(files)
    assert len(records) > 3000
    lo, hi = int(START.timestamp() * 1000), int(START.timestamp() * 1000) + 15 * 60_000
    families = Counter()
    for _, record in records:
        for field in REQUIRED:
            assert field in record, field
        request = record["httpRequest"]
        for field in HTTP_REQUIRED:
            assert field in request, field
        assert record["formatVersion"] == 1
        assert ARN.match(record["webaclId"]), record["webaclId"]
        assert lo <= record["timestamp"] < hi
        assert record["action"] in ("ALLOW", "BLOCK", "CAPTCHA", "CHALLENGE")
        assert record["terminatingRuleType"] in (
            "REGULAR",
            "RATE_BASED",
            "MANAGED_RULE_GROUP",
            "GROUP",
        )
        assert record["httpSourceName"] in ("ALB", "CF", "APIGW")
        address = ipaddress.ip_address(request["clientIp"])
        assert address.is_global or address.version == 6, request["clientIp"]
        families[address.version] += 1
        assert re.fullmatch(r"[A-Z]{2}", request["country"])
        names = {h["name"].lower() for h in request["headers"]}
        assert "host" in names
        assert request["host"] == next(
            h["value"] for h in request["headers"] if h["name"].lower() == "host"
        )
        assert request["uri"].startswith("/")
        assert request["scheme"] == "https"
        if record["action"] == "ALLOW":
            assert record["terminatingRuleId"] in ("Default_Action",)
        if "requestBodySize" in record:
            assert record["requestBodySizeInspectedByWAF"] <= record["requestBodySize"]
        for label in record.get("labels", []):
            assert label["name"].startswith("awswaf:")
        assert re.fullmatch(r"[0-9a-f]{32}", record["ja3Fingerprint"])
        assert re.fullmatch(r"t13d\w+_[0-9a-f]{12}_[0-9a-f]{12}", record["ja4Fingerprint"])
    assert families[4] > 0 and families[6] > 0


def test_terminating_group_matches_rule_group_list(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    _, files = waf_run
    for _, record in _records(files):
        groups = record["ruleGroupList"]
        terminating = [g for g in groups if g["terminatingRule"]]
        if record["terminatingRuleType"] in ("MANAGED_RULE_GROUP", "GROUP"):
            assert len(terminating) == 1
            assert groups[-1] is terminating[0]  # evaluation stops at the terminating group
            sub = terminating[0]["terminatingRule"]
            assert sub["action"] == record["action"]
            if terminating[0]["ruleGroupId"].startswith("AWS#"):
                assert record["terminatingRuleId"] == "AWS-" + terminating[0]["ruleGroupId"][4:]
        else:
            assert not terminating
        if record["terminatingRuleType"] == "RATE_BASED":
            assert (
                record["rateBasedRuleList"][0]["rateBasedRuleName"] == record["terminatingRuleId"]
            )


def test_count_matches_and_labels_present(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    _, files = waf_run
    counted = Counter()
    labels = Counter()
    for _, record in _records(files):
        for group in record["ruleGroupList"]:
            for rule in group["nonTerminatingMatchingRules"]:
                assert rule["action"] == "COUNT"
                counted[(group["ruleGroupId"], rule["ruleId"])] += 1
        for rule in record["nonTerminatingMatchingRules"]:
            counted[("", rule["ruleId"])] += 1
        labels.update(label["name"] for label in record.get("labels", []))
    assert counted[("AWS#AWSManagedRulesBotControlRuleSet", "CategoryHttpLibrary")] > 0
    assert counted[("", "CountNewApiKeyPolicy")] > 0
    assert labels["awswaf:managed:aws:bot-control:bot:verified"] > 0
    assert any(name.startswith("awswaf:clientip:geo:country:") for name in labels)
    assert labels["awswaf:managed:aws:core-rule-set:CrossSiteScripting_QueryArguments"] > 0


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    specs = [ScenarioSpec(name="sqli-scanner", minutes=3)]
    generate(_options(hours=0.1, scenarios=specs), LocalSink(tmp_path / "a"))
    generate(_options(hours=0.1, scenarios=specs), LocalSink(tmp_path / "b"))
    generate(_options(hours=0.1, scenarios=specs, seed=6), LocalSink(tmp_path / "c"))
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c


def test_firehose_layout_without_newlines(tmp_path: Path) -> None:
    generate(_options(hours=0.1, layout="firehose", newlines=False), LocalSink(tmp_path))
    files = _files(tmp_path)
    keys = [k for k in files if k != "ground-truth.json"]
    assert keys
    total = 0
    for key in keys:
        assert FIREHOSE_KEY.match(key), key
        raw = gzip.decompress(files[key])
        assert b"\n" not in raw and raw.startswith(b'{"timestamp":')
        total += raw.count(b'}{"timestamp":') + 1
    assert total > 500


def test_domains_heavy_tail_and_count() -> None:
    topology = Topology(279)
    names = [d.name for d in topology.domains]
    assert len(set(names)) == 279
    assert len({n.split(".", 1)[1] for n in names}) > 30  # many brand x TLD sites
    assert len({n.rsplit(".", 1)[1] for n in names}) >= 8  # several TLDs
    weights = sorted((d.weight for d in topology.domains), reverse=True)
    assert sum(weights[:24]) > 0.6  # about two dozen domains carry most traffic
    assert {a.source_name for a in topology.active_acls} >= {"ALB", "CF"}
    assert {a.scope for a in topology.active_acls} == {"REGIONAL", "CLOUDFRONT"}
    assert len(Topology(2000).domains) == 2000


def test_observed_traffic_follows_domain_weights(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    _, files = waf_run
    hosts = Counter(r["httpRequest"]["host"] for _, r in _records(files))
    top = sum(n for _, n in hosts.most_common(24))
    assert top / sum(hosts.values()) > 0.6
    assert len(hosts) > 40


def test_parser_accepts_every_generated_record(waf_run: tuple[Path, dict[str, bytes]]) -> None:
    parser = pytest.importorskip("ingest.parser")
    _, files = waf_run
    blob = next(v for k, v in files.items() if k.endswith(".gz"))
    stats = parser.ParseStats()
    results = list(
        parser.parse_stream(
            gzip.decompress(blob),
            origin="generated",
            options=parser.ParserOptions(hash_key=b"k"),
            stats=stats,
        )
    )
    rejects = [r for r in results if not isinstance(r, parser.ParsedDocument)]
    assert results and not rejects, rejects[:3]

"""The detector against a small labelled suite in the real OpenSearch and moto's WAFv2.

The generator's web ACL ARNs are fixed ids that moto does not know, so each test creates
web ACLs in moto with the generator's ACL names (plus the test's unique part) and the
rules the suite blocks with, and the detector maps a log's web ACL name to that ARN.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.bulk import BulkIndexer
from ingest.generator.models import GenerateOptions, GroundTruth, ScenarioSpec
from ingest.generator.service import generate
from ingest.generator.writers import LocalSink
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, ingest_files
from query.service import QueryContext
from rules_admin.detector import Detector
from rules_admin.managed_rules import SubRuleResolver
from rules_admin.overrides import OverrideService
from tiering.store import open_store
from wafsiem.clients import wafv2_client
from wafsiem.schema import index_template
from wafsiem.settings import DetectorSettings, RulesSettings, Settings

START = datetime(2025, 11, 21, 10, 0, tzinfo=UTC)
ONSET = START + timedelta(minutes=25)
VC = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}
CRS = "AWS-AWSManagedRulesCommonRuleSet"
MANAGED = (
    CRS,
    "AWS-AWSManagedRulesSQLiRuleSet",
    "AWS-AWSManagedRulesBotControlRuleSet",
    "AWS-AWSManagedRulesAmazonIpReputationList",
    "AWS-AWSManagedRulesKnownBadInputsRuleSet",
)
FP = {"SizeRestrictions_BODY", "CrossSiteScripting_BODY"}


@dataclass
class Suite:
    ctx: QueryContext
    truth: GroundTruth


@pytest.fixture(scope="module")
def suite(
    opensearch: Any, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    tag = f"det{uuid.uuid4().hex[:8]}"
    root: Path = tmp_path_factory.mktemp(tag)
    at = "@2025-11-21T10:25:00Z"
    options = GenerateOptions(
        start=START,
        hours=0.75,
        rps=2,
        domains=40,
        seed=7,
        scenarios=[
            ScenarioSpec.parse(f"fp-size-body{at},minutes=10"),
            ScenarioSpec.parse(f"fp-xss-body{at},minutes=10"),
            ScenarioSpec.parse(f"sqli-scanner{at},minutes=5"),
            ScenarioSpec.parse(f"credential-stuffing{at},minutes=8,intensity=0.25"),
            ScenarioSpec.parse(f"bad-bots{at},minutes=5,intensity=0.5"),
        ],
    )
    generate(options, LocalSink(root))
    prefix = f"{tag}-waf-logs"
    opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    target = IngestTarget(index_prefix=prefix, deadletter_index=f"{tag}-deadletter")
    indexer = BulkIndexer(opensearch, max_bytes=2 * 1024 * 1024, concurrency=2)
    report = ingest_files(
        sorted(root.rglob("*.gz")), indexer=indexer, options=ParserOptions(), target=target
    )
    assert report.dead_lettered == 0 and report.indexed > 5000, report
    opensearch.indices.refresh(index=f"{prefix}-*")
    ctx = QueryContext(
        opensearch=opensearch,
        store=open_store(str(root / "cold"), settings),
        index_prefix=prefix,
        state_index=settings.opensearch.state_index,
        limits=settings.query,
    )
    yield Suite(ctx, GroundTruth.model_validate_json((root / "ground-truth.json").read_text()))
    opensearch.indices.delete(index=f"{tag}-*", ignore=[404])
    opensearch.indices.delete_index_template(name=prefix, ignore=[404])


def _acl_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "Name": "RateLimitLogin",
            "Priority": 0,
            "Action": {"Block": {}},
            "Statement": {"RateBasedStatement": {"Limit": 100, "AggregateKeyType": "IP"}},
            "VisibilityConfig": VC,
        }
    ]
    for i, name in enumerate(MANAGED, start=1):
        rules.append(
            {
                "Name": name,
                "Priority": i,
                "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name[4:]}},
                "VisibilityConfig": VC,
            }
        )
    return rules


@dataclass
class World:
    detector: Detector
    service: OverrideService
    acls: dict[str, dict[str, str]]  # generator ACL name -> moto ARN, name, id
    client: Any
    audit_index: str

    def read(self, name: str) -> dict[str, Any]:
        acl = self.acls[name]
        return self.client.get_web_acl(Name=acl["name"], Scope="REGIONAL", Id=acl["id"])["WebACL"]

    def overrides(self, name: str) -> dict[str, str]:
        """sub-rule -> action of every RuleActionOverrides entry, and rule -> action of
        every top-level rule not blocking as configured."""
        out = {}
        for rule in self.read(name)["Rules"]:
            statement = rule["Statement"].get("ManagedRuleGroupStatement", {})
            for entry in statement.get("RuleActionOverrides", []):
                out[entry["Name"]] = next(iter(entry["ActionToUse"]))
            if rule.get("Action", {"Block": {}}) != {"Block": {}}:
                out[rule["Name"]] = next(iter(rule["Action"]))
            if rule.get("OverrideAction", {"None": {}}) != {"None": {}}:
                out[rule["Name"]] = next(iter(rule["OverrideAction"]))
        return out

    def audit(self) -> list[dict[str, Any]]:
        return self.service.audit.search(limit=100)


def world(suite: Suite, settings: Settings, opensearch: Any, unique: str, **cfg: Any) -> World:
    client: Any = wafv2_client(settings, "us-east-1")
    acls = {}
    for acl in suite.truth.webacls:
        summary = client.create_web_acl(
            Name=f"{acl['name']}-{unique}",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            VisibilityConfig=VC,
            Rules=_acl_rules(),
        )["Summary"]
        acls[acl["name"]] = {"arn": summary["ARN"], "name": summary["Name"], "id": summary["Id"]}
    audit_index = f"test-audit-{unique}"
    local = settings.model_copy(
        update={
            "opensearch": settings.opensearch.model_copy(update={"audit_index": audit_index}),
            "rules": RulesSettings(update_min_interval_seconds=0.05, lock_backoff_seconds=0.01),
        }
    )
    service = OverrideService(
        lambda region: wafv2_client(local, region), opensearch, local, resolver=SubRuleResolver()
    )
    detector = Detector(
        suite.ctx,
        DetectorSettings(baseline_minutes=20, **cfg),
        overrides=service,
        webacl_arn=lambda key: acls[key.webacl or ""]["arn"],
    )
    return World(detector, service, acls, client, audit_index)


@pytest.fixture
def cleanup(opensearch: Any, unique: str) -> Iterator[None]:
    yield
    opensearch.indices.delete(index=f"test-audit-{unique}", ignore=[404])


def fp_acl(suite: Suite) -> dict[str, str]:
    return {
        s.sub_rule or "": s.webacl_name or ""
        for s in suite.truth.scenarios
        if s.kind == "false_positive"
    }


def now() -> datetime:
    return datetime.now(UTC)


def test_dry_run_writes_nothing(
    suite: Suite, settings: Settings, opensearch: Any, unique: str, cleanup: None
) -> None:
    w = world(suite, settings, opensearch, unique, allow_rules=["*"])
    decisions = w.detector.run(ONSET + timedelta(minutes=2), now(), apply=False)
    chosen = {d.key.sub_rule for d in decisions if d.action == "override"}
    assert chosen == FP
    assert all(d.result == "dry_run" for d in decisions if d.action == "override")
    assert all(w.overrides(name) == {} for name in w.acls)
    assert not opensearch.indices.exists(index=w.audit_index) or w.audit() == []


def test_switches_false_positives_and_leaves_attacks(
    suite: Suite, settings: Settings, opensearch: Any, unique: str, cleanup: None
) -> None:
    w = world(suite, settings, opensearch, unique, allow_rules=["*"], max_overrides_per_hour=5)
    for minutes in (2, 3, 5):  # the attacks ramp up: stuffing blocks after ~3 minutes
        decisions = w.detector.run(ONSET + timedelta(minutes=minutes), now(), apply=True)
        for d in decisions:
            if d.key.sub_rule not in FP:
                assert (d.action, d.verdict) == ("keep", "attack"), d.as_json()
    kept = {(d.key.rule, d.key.sub_rule) for d in decisions if d.action == "keep"}
    assert ("AWS-AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS") in kept
    switched: dict[str, str] = {}
    for name in w.acls:
        switched.update(w.overrides(name))
    assert switched == dict.fromkeys(FP, "Count")  # nothing else: attack rules untouched
    for sub, name in fp_acl(suite).items():
        assert w.overrides(name)[sub] == "Count"
    records = [r for r in w.audit() if r["result"] == "applied"]
    assert {r["sub_rule"] for r in records} == FP
    for record in records:
        assert record["actor"] == "detector"
        assert record["ttl_minutes"] == 24 * 60 and record["expires_at"]
        evidence = record["evidence"]
        assert evidence["verdict"] == "false_positive"
        assert evidence["blocks"] >= 10 and evidence["spike_ratio"] >= 5
        assert evidence["browser_share"] >= 0.8 and evidence["reasons"]
        assert "false-positive spike" in record["reason"]


def test_protected_hourly_cap_and_cooldown(
    suite: Suite, settings: Settings, opensearch: Any, unique: str, cleanup: None
) -> None:
    w = world(
        suite,
        settings,
        opensearch,
        unique,
        allow_rules=[CRS],
        protected_rules=["CrossSiteScripting_BODY"],
        max_overrides_per_hour=1,
    )
    at = ONSET + timedelta(minutes=2)
    decisions = {d.key.sub_rule: d for d in w.detector.run(at, now(), apply=True)}
    assert decisions["SizeRestrictions_BODY"].result == "applied"
    assert decisions["CrossSiteScripting_BODY"].blocked_by == "protected"
    assert "CrossSiteScripting_BODY" not in w.overrides(fp_acl(suite)["CrossSiteScripting_BODY"])

    # the one override this hour is used up: another false positive waits
    w.detector.cfg = w.detector.cfg.model_copy(update={"protected_rules": []})
    decisions = {d.key.sub_rule: d for d in w.detector.run(at, now(), apply=True)}
    assert decisions["CrossSiteScripting_BODY"].blocked_by == "hourly_limit"
    assert decisions["SizeRestrictions_BODY"].blocked_by == "already_overridden"

    # reverted by a person: the cooldown still keeps the detector off that rule
    [applied] = [r for r in w.audit() if r["result"] == "applied"]
    w.service.revert(applied["id"], actor="cli:test", reason="customers checked")
    w.detector.cfg = w.detector.cfg.model_copy(update={"max_overrides_per_hour": 5})
    decisions = {d.key.sub_rule: d for d in w.detector.run(at, now(), apply=True)}
    assert decisions["SizeRestrictions_BODY"].blocked_by == "cooldown"
    assert decisions["CrossSiteScripting_BODY"].result == "applied"
    assert len([r for r in w.audit() if r["result"] == "applied"]) == 2


def test_the_detector_loop_expires_due_overrides_without_serve(
    suite: Suite, settings: Settings, opensearch: Any, unique: str, cleanup: None
) -> None:
    w = world(suite, settings, opensearch, unique, allow_rules=[])
    name = fp_acl(suite)["SizeRestrictions_BODY"]
    record = w.service.override(
        w.acls[name]["arn"], CRS, "SizeRestrictions_BODY", reason="by hand", actor="cli:test"
    )
    assert w.overrides(name)["SizeRestrictions_BODY"] == "Count"
    w.detector.run(ONSET + timedelta(minutes=2), now(), apply=True)
    assert w.overrides(name)["SizeRestrictions_BODY"] == "Count"  # not due yet
    due = datetime.fromisoformat(record["expires_at"].replace("Z", "+00:00"))
    w.detector.run(ONSET + timedelta(minutes=2), due + timedelta(seconds=1), apply=True)
    assert "SizeRestrictions_BODY" not in w.overrides(name)
    (stored,) = [r for r in w.audit() if r["id"] == record["id"]]
    assert stored["state"] == "expired" and stored["reverted_by"] == "ttl"

"""`wafsiem demo` end to end on the real services, with its own names, twice.

Small parameters (two days at a low rate, nothing kept hot but today) so both tiers get
data quickly. The second run, at the same moment, must add nothing: the same records come
back as duplicates, the cold day is left alone, and the override is found in place.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from demo.cli import app_settings
from demo.models import DemoOptions, DemoReport
from demo.report import render
from demo.server import ApiServer
from demo.service import DemoServices, run_demo
from wafsiem.clients import wafv2_client
from wafsiem.schema import index_template
from wafsiem.settings import Settings

FP_RULE = ("AWS-AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY")
ATTACK_RULE = ("AWS-AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS")


@pytest.fixture
def demo_settings(
    settings: Settings, opensearch: Any, sqs: Any, unique: str, tmp_path: Path
) -> Iterator[Settings]:
    prefix = f"{unique}-waf-logs"
    local = settings.model_copy(
        update={
            "state_dir": tmp_path,
            "opensearch": settings.opensearch.model_copy(
                update={
                    "index_prefix": prefix,
                    "deadletter_index": f"{unique}-deadletter",
                    "audit_index": f"{unique}-audit",
                }
            ),
            "s3": settings.s3.model_copy(update={"bucket": f"{unique}-logs"}),
            "sqs": settings.sqs.model_copy(
                update={
                    "queue_name": f"{unique}-notifications",
                    "dead_letter_queue_name": f"{unique}-notifications-dlq",
                }
            ),
            "cold": settings.cold.model_copy(update={"uri": str(tmp_path / "cold")}),
        }
    )
    opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    yield local
    for name in (local.sqs.queue_name, local.sqs.dead_letter_queue_name):
        with contextlib.suppress(Exception):
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    opensearch.indices.delete(index=f"{unique}-*", ignore=[404])
    opensearch.indices.delete_index_template(name=prefix, ignore=[404])


def _moto_actions(client: Any, arn: str, rule: str) -> dict[str, str]:
    """sub-rule -> action of the RuleActionOverrides of ``rule`` in the web ACL ``arn``."""
    name, acl_id = arn.rsplit("/", 2)[-2:]
    scope = "CLOUDFRONT" if ":global/" in arn else "REGIONAL"
    acl = client.get_web_acl(Name=name, Scope=scope, Id=acl_id)["WebACL"]
    [found] = [r for r in acl["Rules"] if r["Name"] == rule]
    statement = found["Statement"]["ManagedRuleGroupStatement"]
    return {
        e["Name"]: next(iter(e["ActionToUse"])) for e in statement.get("RuleActionOverrides", [])
    }


def _region(arn: str) -> str:
    return arn.split(":")[3]


def test_demo_twice(
    demo_settings: Settings, opensearch: Any, s3: Any, sqs: Any, unique: str
) -> None:
    server = ApiServer(app_settings(demo_settings, "demo-test-key", "wsk_test"), "127.0.0.1", 0)
    server.start()
    try:
        services = DemoServices(
            settings=demo_settings,
            opensearch=opensearch,
            s3=s3,
            sqs=sqs,
            wafv2=lambda region: wafv2_client(demo_settings, region),
            firehose_url=f"{server.url}/firehose",
            firehose_key="demo-test-key",
            ingest_counters=lambda kind: server.ingest_counters(kind, "wsk_test"),
        )
        options = DemoOptions(days=2, rps=0.1, hot_days=0, webacl_suffix=f"-{unique}")
        now = datetime.now(UTC)
        first = run_demo(services, options, now=now)
        second = run_demo(services, options, now=now)
    finally:
        server.stop()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=f"{unique}-logs"):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=f"{unique}-logs", Key=obj["Key"])
        s3.delete_bucket(Bucket=f"{unique}-logs")

    check_first(first)
    check_second(first, second)
    out = Console(file=io.StringIO(), width=120)
    render(second, out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "already COUNT" in text and "left alone shop-us-prod" in text
    # the WAFv2 emulator: the false positive counts, the attack's rule blocks as before
    [fp] = first.overrides
    client = wafv2_client(demo_settings, _region(fp.webacl_arn))
    assert _moto_actions(client, fp.webacl_arn, FP_RULE[0]) == {FP_RULE[1]: "Count"}
    attack = first.webacls["shop-us-prod"]
    client = wafv2_client(demo_settings, _region(attack))
    assert ATTACK_RULE[1] not in _moto_actions(client, attack, ATTACK_RULE[0])


def check_first(report: DemoReport) -> None:
    older, today = report.ingest
    assert older.path == "s3+sqs" and older.action == "ingested"
    assert older.objects > 0 and older.records_read == older.records_sent > 0
    assert older.indexed == older.records_read and older.dead_lettered == 0
    assert today.path == "firehose" and today.records_sent > 0
    assert today.records_read == today.records_sent == today.indexed
    assert [d["action"] for d in report.tiering] == ["tiered"]
    hot, cold = report.tiers["hot"], report.tiers["cold"]
    assert hot.days == 1 and hot.records == today.indexed and hot.bytes > 0
    assert cold.days == 1 and cold.records == older.indexed and cold.bytes > 0
    assert report.top_blocked_rules and report.top_blocked_rules[0].blocks > 0
    [fp] = report.overrides
    assert (fp.webacl, fp.rule, fp.sub_rule) == ("shop-eu-prod", *FP_RULE)
    assert fp.status == "made" and fp.override_id and fp.waf_action == "COUNT"
    assert fp.evidence["verdict"] == "false_positive" and fp.evidence["blocks"] >= 10
    assert fp.reason and "false-positive spike" in fp.reason
    kept = {(k.webacl, k.rule, k.sub_rule): k for k in report.left_alone}
    attack = kept[("shop-us-prod", *ATTACK_RULE)]
    assert attack.verdict == "attack" and attack.waf_action == "BLOCK (the group's action)"


def check_second(first: DemoReport, second: DemoReport) -> None:
    assert second.plan_reused and second.plan.onset == first.plan.onset
    older, today = second.ingest
    assert older.action == "skipped_cold"  # the cold day is left as it is
    assert today.indexed == 0 and today.duplicates == today.records_read > 0
    assert second.tiering == []
    assert second.tiers == first.tiers  # nothing added to either tier
    [fp] = second.overrides
    assert fp.status == "already_in_place" and fp.override_id == first.overrides[0].override_id
    assert fp.waf_action == "COUNT"

"""Triage against a small dataset whose numbers are computed by hand, the same records
once hot (OpenSearch) and once tiered to Parquet (DuckDB): identical answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.bulk import BulkIndexer
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, ingest_files
from query.filters import build_filter
from query.service import QueryContext
from rules_admin.app import create_app
from rules_admin.triage import triage_rules
from tiering.service import Tiering, run_tiering
from tiering.store import open_store
from wafsiem.auth import key_digest
from wafsiem.schema import index_template
from wafsiem.settings import ApiKey, ApiSettings, ColdSettings, Settings

from ..waf_records import BASE_MS, ndjson, waf_record

WINDOW = ("2025-11-25T12:00:00Z", "2025-11-25T12:10:00Z")
CRS = "AWS-AWSManagedRulesCommonRuleSet"
ARN = (
    "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/shop-prod/"
    "a1b2c3d4-0000-4000-8000-000000000001"
)
KEY = "triage-reader-key-0123456789"


def _record(
    n: int,
    minute: float,
    *,
    ip: str,
    country: str = "DE",
    host: str = "shop.example.com",
    path: str = "/checkout",
    rule: str | None = "size",
) -> dict[str, Any]:
    record = waf_record(n, ts=BASE_MS + int(minute * 60_000), action="BLOCK" if rule else "ALLOW")
    request = record["httpRequest"]
    request.update(clientIp=ip, country=country, uri=path)
    request["headers"][0]["value"] = host
    if rule == "geo":  # a custom rule: no group
        record.update(terminatingRuleId="GeoBlock", terminatingRuleType="REGULAR")
        record["ruleGroupList"] = []
    return record


def dataset() -> list[dict[str, Any]]:
    """Window 12:00-12:10, baseline 11:50-12:00 (the same length before)."""
    out: list[dict[str, Any]] = []
    n = 0

    def add(count: int, minute: float, **kw: Any) -> None:
        nonlocal n
        for i in range(count):
            out.append(_record(n, minute + i * 0.1, **kw))
            n += 1

    # CRS:SizeRestrictions_BODY — 12 blocks in the window, 3 in the baseline
    add(6, 1, ip="198.51.100.1", path="/checkout")
    add(2, 2, ip="198.51.100.2", path="/checkout")
    add(1, 3, ip="198.51.100.2", path="/cart", host="other.example.com")
    add(3, 4, ip="2001:db8::7", country="FR", path="/cart")
    add(1, 4.5, ip="2001:db8::7", country="FR", path="/cart", host="other.example.com")
    out.pop()  # 12 in all: host other.example.com x1 (from 198.51.100.2)
    n -= 1
    add(3, -5, ip="203.0.113.9", path="/checkout")
    # GeoBlock — 4 blocks in the window, none before
    add(4, 6, ip="192.0.2.50", country="KP", path="/", rule="geo")
    # allowed traffic and blocks outside both windows are not counted
    add(20, 2, ip="198.51.100.1", rule=None)
    add(5, 11, ip="198.51.100.1")
    add(5, -11, ip="198.51.100.1")
    return out


@dataclass
class Copies:
    contexts: dict[str, QueryContext]
    settings: dict[str, Settings]


@pytest.fixture(scope="module")
def copies(
    opensearch: Any, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Copies]:
    tag = f"tr{uuid.uuid4().hex[:8]}"
    root: Path = tmp_path_factory.mktemp(tag)
    (root / "logs.json").write_bytes(ndjson(dataset()))
    indexer = BulkIndexer(opensearch, max_bytes=1024 * 1024, concurrency=1)
    contexts: dict[str, QueryContext] = {}
    variants: dict[str, Settings] = {}
    for name in ("hot", "cold"):
        prefix, state_index = f"{tag}-{name}-waf-logs", f"{tag}-{name}-state"
        opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
        target = IngestTarget(index_prefix=prefix, deadletter_index=f"{tag}-deadletter")
        report = ingest_files(
            [root / "logs.json"], indexer=indexer, options=ParserOptions(), target=target
        )
        assert report.indexed == len(dataset()), report
        opensearch.indices.refresh(index=f"{prefix}-*")
        store = open_store(str(root / f"cold-{name}"), settings)
        if name == "cold":
            tiering = Tiering(
                client=opensearch, store=store, prefix=prefix, state_index=state_index
            )
            run = run_tiering(tiering, hot_days=0, now=datetime(2025, 11, 27, tzinfo=UTC))
            assert all(d.action == "tiered" for d in run.days), run
        contexts[name] = QueryContext(
            opensearch=opensearch,
            store=store,
            index_prefix=prefix,
            state_index=state_index,
            limits=settings.query,
        )
        variants[name] = settings.model_copy(
            update={
                "opensearch": settings.opensearch.model_copy(
                    update={"index_prefix": prefix, "state_index": state_index}
                ),
                "cold": ColdSettings(uri=str(root / f"cold-{name}")),
                "api": ApiSettings(
                    keys=[ApiKey(name="r", sha256=key_digest(KEY), scopes=["read"])]
                ),
            }
        )
    yield Copies(contexts, variants)
    opensearch.indices.delete(index=f"{tag}-*", ignore=[404])
    for name in ("hot", "cold"):
        opensearch.indices.delete_index_template(name=f"{tag}-{name}-waf-logs", ignore=[404])


def test_numbers_by_hand_and_identical_in_both_tiers(copies: Copies) -> None:
    flt = build_filter({"from": WINDOW[0], "to": WINDOW[1]})
    hot = triage_rules(copies.contexts["hot"], flt, samples=3)
    cold = triage_rules(copies.contexts["cold"], flt, samples=3)
    assert cold.rules == hot.rules
    assert hot.total_blocks == 16
    assert hot.baseline == {"from": "2025-11-25T11:50:00.000Z", "to": "2025-11-25T12:00:00.000Z"}
    size, geo = hot.rules
    assert (size.webacl, size.webacl_arn, size.rule, size.sub_rule) == (
        "shop-prod",
        ARN,
        CRS,
        "SizeRestrictions_BODY",
    )
    assert (size.blocks, size.baseline_blocks, size.spike_ratio) == (12, 3, 4.0)
    assert (size.client_ips, size.countries) == (3, 2)
    assert size.top_client_ip is not None
    assert (size.top_client_ip.ip, size.top_client_ip.count, size.top_client_ip.share) == (
        "198.51.100.1",
        6,
        0.5,
    )
    assert [(v.value, v.count) for v in size.top_hosts] == [
        ("shop.example.com", 11),
        ("other.example.com", 1),
    ]
    assert [(v.value, v.count) for v in size.top_paths] == [("/checkout", 8), ("/cart", 4)]
    assert len(size.sample_request_ids) == 3
    assert (geo.rule, geo.sub_rule, geo.blocks, geo.baseline_blocks, geo.spike_ratio) == (
        "GeoBlock",
        None,
        4,
        0,
        None,
    )
    assert (geo.client_ips, geo.countries) == (1, 1)


def test_filters_and_a_longer_baseline(copies: Copies) -> None:
    flt = build_filter({"from": WINDOW[0], "to": WINDOW[1], "country": ["FR"]})
    for name in ("hot", "cold"):
        result = triage_rules(copies.contexts[name], flt, baseline=timedelta(minutes=20))
        assert result.baseline["from"] == "2025-11-25T11:40:00.000Z"
        [only] = result.rules
        assert (only.blocks, only.client_ips, only.baseline_blocks) == (3, 1, 0)
        assert only.top_client_ip is not None and only.top_client_ip.ip == "2001:db8::7"


@pytest.mark.parametrize("name", ["hot", "cold"])
def test_route(copies: Copies, name: str) -> None:
    app = create_app(copies.settings[name])
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {KEY}"}
        url = f"/api/v1/triage/rules?from={WINDOW[0]}&to={WINDOW[1]}&baseline=30m&size=1&samples=0"
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["baseline"] == {
            "from": "2025-11-25T11:30:00.000Z",
            "to": "2025-11-25T12:00:00.000Z",
        }
        [rule] = body["rules"]
        assert rule["sub_rule"] == "SizeRestrictions_BODY"
        assert (rule["blocks"], rule["baseline_blocks"], rule["spike_ratio"]) == (
            12,
            8,
            4.5,
        )  # 3 at 11:55, 5 at 11:49
        assert rule["sample_request_ids"] == []
        assert client.get(url + "&bogus=1", headers=auth).status_code == 422
        assert client.get(url.replace("30m", "soon"), headers=auth).status_code == 422
        assert client.get(url).status_code == 401

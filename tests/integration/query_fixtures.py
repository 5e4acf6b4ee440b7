"""Three copies of the same generated days for the query tests (no tests here):

- ``hot``: every day in OpenSearch;
- ``cold``: every day tiered to Parquet (ledger: cold);
- ``mixed``: the first day cold, the others hot.

Built once per module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.bulk import BulkIndexer
from ingest.generator.models import GenerateOptions, ScenarioSpec
from ingest.generator.service import generate
from ingest.generator.writers import LocalSink
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, ingest_files
from query.service import QueryContext
from tiering.service import Tiering, run_tiering
from tiering.store import open_store
from wafsiem.schema import index_template
from wafsiem.settings import Settings

from ..waf_records import ndjson, waf_record

START = datetime(2025, 11, 24, 22, 30, tzinfo=UTC)
HOURS = 3.0
DAYS = [date(2025, 11, 24), date(2025, 11, 25)]
HOSTILE_PATH = "/search'; DROP TABLE waf_logs; --"
HOSTILE_HOST = '"}}]}},{"match_all"{}}'  # no colon: a host's port would be split off
UNICODE_PATH = "/produkt/größe/ü-日本"


def edge_records() -> list[dict[str, Any]]:
    """Records the generator does not make: IPv6, IPv4-mapped, unicode and hostile text."""
    base = int(START.timestamp() * 1000) + 1_200_000
    out = []
    for n in range(40):
        record = waf_record(900_000 + n, ts=base + n * 60_000, action="BLOCK" if n % 2 else "ALLOW")
        request = record["httpRequest"]
        if n % 4 == 0:
            request["clientIp"] = f"2001:db8::{n + 1:x}"
        elif n % 4 == 1:
            request["clientIp"] = f"::ffff:10.9.{n}.1"
        if n % 5 == 0:
            request["uri"] = UNICODE_PATH + f"/{n}"
        if n == 7:
            request["uri"] = HOSTILE_PATH
            request["headers"][0]["value"] = HOSTILE_HOST
        if n % 3 == 0:
            record["labels"] = [{"name": "custom:edge*label"}, {"name": "awswaf:test:o'hara"}]
        out.append(record)
    return out


@dataclass
class Tiers:
    start: datetime
    end: datetime
    contexts: dict[str, QueryContext]
    edges: list[dict[str, Any]]


def _template(opensearch: Any, prefix: str) -> None:
    opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))


@pytest.fixture(scope="module")
def tiers(
    opensearch: Any, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tiers]:
    tag = f"q{uuid.uuid4().hex[:8]}"
    root: Path = tmp_path_factory.mktemp(tag)
    options = GenerateOptions(
        start=START,
        hours=HOURS,
        rps=0.25,
        domains=20,
        seed=11,
        scenarios=[
            ScenarioSpec.parse("fp-size-body@2025-11-24T23:40:00Z,minutes=20"),
            ScenarioSpec.parse("sqli-scanner@2025-11-25T00:20:00Z,minutes=20"),
        ],
    )
    generate(options, LocalSink(root / "logs"))
    edges = edge_records()
    (root / "logs" / "edges.json").write_bytes(ndjson(edges))
    prefixes = {name: f"{tag}-{name}-waf-logs" for name in ("hot", "cold", "mixed")}
    for prefix in prefixes.values():
        _template(opensearch, prefix)
    files = [*sorted((root / "logs").rglob("*.gz")), root / "logs" / "edges.json"]
    indexer = BulkIndexer(opensearch, max_bytes=2 * 1024 * 1024, concurrency=2)
    for prefix in prefixes.values():  # the integ-test distribution has no _reindex
        target = IngestTarget(index_prefix=prefix, deadletter_index=f"{tag}-deadletter")
        report = ingest_files(files, indexer=indexer, options=ParserOptions(), target=target)
        assert (report.dead_lettered, report.indexed > 2_000) == (0, True), report.records_in
        opensearch.indices.refresh(index=f"{prefix}-*")
    contexts: dict[str, QueryContext] = {}
    for name, prefix in prefixes.items():
        store = open_store(str(root / f"cold-{name}"), settings)
        state_index = f"{tag}-{name}-state"
        if name != "hot":
            cutoff_now = datetime.combine(
                DAYS[-1] + timedelta(days=1) if name == "cold" else DAYS[-1],
                datetime.min.time(),
                UTC,
            )
            ctx = Tiering(client=opensearch, store=store, prefix=prefix, state_index=state_index)
            run = run_tiering(ctx, hot_days=0, now=cutoff_now)
            assert all(d.action == "tiered" for d in run.days), run
        contexts[name] = QueryContext(
            opensearch=opensearch,
            store=store,
            index_prefix=prefix,
            state_index=state_index,
            limits=settings.query,
        )
    yield Tiers(START, START + timedelta(hours=HOURS), contexts, edges)
    opensearch.indices.delete(index=f"{tag}-*", ignore=[404])
    for prefix in prefixes.values():
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])

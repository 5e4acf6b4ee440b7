"""Fixtures and helpers for the tiering tests (no tests here): a hot tier of its own per
test (unique index prefix with the real template, unique state index) and a cold store
(a temporary directory or a fresh bucket)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ingest.bulk import BulkIndexer
from ingest.parser import ParserOptions
from ingest.service import IngestTarget, ingest_stream
from tiering.manifest import load_manifest
from tiering.parquet_io import read_partition
from tiering.service import Tiering
from tiering.store import ColdStore, open_store
from wafsiem.settings import Settings

from ..waf_records import BASE_MS, ndjson, waf_record

DAY_A = date(2025, 11, 25)
DAY_B = date(2025, 11, 26)
HOUR_MS = 3_600_000


def records_for(day_offset: int, start: int, n: int) -> list[dict[str, Any]]:
    """Records ``start`` .. ``start + n - 1`` on BASE day + ``day_offset``; the same number
    always gives the same record (so the same ``event.id``)."""
    base = BASE_MS + day_offset * 24 * HOUR_MS
    return [
        waf_record(k, ts=base + (k * 7919) % (10 * HOUR_MS), action="BLOCK" if k % 5 else "ALLOW")
        for k in range(start, start + n)
    ]


def load(
    opensearch: Any, target: IngestTarget, records: list[dict[str, Any]], shards: int = 1
) -> set[str]:
    """Index records (creating each day's index with ``shards`` first); returns their ids."""
    if shards > 1:
        for ts in {r["timestamp"] for r in records}:
            day = datetime.fromtimestamp(ts / 1000, tz=UTC).date()
            name = f"{target.index_prefix}-{day:%Y.%m.%d}"
            if not opensearch.indices.exists(index=name):
                opensearch.indices.create(
                    index=name, body={"settings": {"number_of_shards": shards}}
                )
    indexer = BulkIndexer(opensearch, max_bytes=256 * 1024, concurrency=2)
    report = ingest_stream(
        ndjson(records),
        origin="tiering-test",
        kind="file",
        indexer=indexer,
        options=ParserOptions(),
        target=target,
    )
    assert report.dead_lettered == 0
    opensearch.indices.refresh(index=f"{target.index_prefix}-*")
    return set(ids_in_index(opensearch, f"{target.index_prefix}-*"))


def ids_in_index(opensearch: Any, index: str) -> list[str]:
    opensearch.indices.refresh(index=index, ignore_unavailable=True)
    ids: list[str] = []
    body: dict[str, Any] = {"size": 5000, "_source": False, "sort": [{"event.id": "asc"}]}
    while True:
        hits = opensearch.search(index=index, body=body, ignore_unavailable=True)["hits"]["hits"]
        ids += [h["_id"] for h in hits]
        if len(hits) < body["size"]:
            return ids
        body["search_after"] = hits[-1]["sort"]


def cold_ids(store: ColdStore, day: date) -> list[str]:
    manifest = load_manifest(store, day)
    assert manifest is not None, f"{day} has no manifest"
    return list(read_partition(store, day, manifest.files)["event.id"].to_pylist())


def partition_names(store: ColdStore, day: date) -> set[str]:
    return {f.rel.split("/", 1)[1] for f in store.list_files(f"date={day.isoformat()}")}


def index_exists(opensearch: Any, target: IngestTarget, day: date) -> bool:
    return bool(opensearch.indices.exists(index=f"{target.index_prefix}-{day:%Y.%m.%d}"))


@pytest.fixture
def state_index(opensearch: Any, unique: str) -> Iterator[str]:
    name = f"{unique}-state"
    yield name
    opensearch.indices.delete(index=name, ignore=[404])


@pytest.fixture
def cold_local(tmp_path: Path, settings: Settings) -> ColdStore:
    return open_store(str(tmp_path / "cold"), settings)


@pytest.fixture
def cold_s3(s3: Any, bucket: str, settings: Settings) -> ColdStore:
    return open_store(f"s3://{bucket}/cold", settings, s3)


@pytest.fixture(params=["local", "s3"])
def cold(request: pytest.FixtureRequest) -> ColdStore:
    store: ColdStore = request.getfixturevalue(f"cold_{request.param}")
    return store


def tiering(
    opensearch: Any, store: ColdStore, target: IngestTarget, state_index: str, **kwargs: Any
) -> Tiering:
    return Tiering(
        client=opensearch,
        store=store,
        prefix=target.index_prefix,
        state_index=state_index,
        **kwargs,
    )


def cli_env(target: IngestTarget, state_index: str, store: ColdStore) -> dict[str, str]:
    return os.environ | {
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
        "WAFSIEM_OPENSEARCH__STATE_INDEX": state_index,
        "WAFSIEM_COLD__URI": store.uri,
    }

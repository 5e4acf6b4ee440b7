"""Late data merged into a cold day without duplicates; restore, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.bulk import BulkIndexer
from ingest.service import IngestTarget
from tiering.manifest import load_manifest
from tiering.service import run_tiering
from tiering.status import restore_day, tier_status
from tiering.store import ColdStore

from .ingest_fixtures import target
from .test_tiering_fixtures import (
    DAY_A,
    cold,
    cold_ids,
    cold_local,
    cold_s3,
    ids_in_index,
    index_exists,
    load,
    partition_names,
    records_for,
    state_index,
    tiering,
)

__all__ = ["cold", "cold_local", "cold_s3", "state_index", "target"]  # fixtures

NOW = datetime(2025, 12, 1, tzinfo=UTC)


def test_late_data_is_merged_without_duplicates(
    opensearch: Any, target: IngestTarget, cold: ColdStore, state_index: str
) -> None:
    first = load(opensearch, target, records_for(0, 0, 300))
    ctx = tiering(opensearch, cold, target, state_index, row_group_rows=100, file_rows=100)
    assert [d.action for d in run_tiering(ctx, hot_days=1, now=NOW).days] == ["tiered"]
    old_manifest = load_manifest(cold, DAY_A)
    assert old_manifest is not None

    # late: 50 records already cold (a replay) and 80 new ones
    late = load(opensearch, target, records_for(0, 250, 50) + records_for(0, 5000, 80))
    assert index_exists(opensearch, target, DAY_A)
    report = run_tiering(ctx, hot_days=1, now=NOW)
    assert [(d.action, d.rows, d.rows_added) for d in report.days] == [("merged", 380, 80)]

    found = cold_ids(cold, DAY_A)
    assert len(found) == len(set(found)) == 380
    assert set(found) == first | late
    manifest = load_manifest(cold, DAY_A)
    assert manifest is not None and manifest.rows == 380
    assert manifest.source_indices == [f"{target.index_prefix}-2025.11.25"] * 2
    names = partition_names(cold, DAY_A)
    assert names == {"_manifest.json"} | manifest.names()
    assert not names & old_manifest.names()  # old files and rollup replaced
    assert manifest.rollup is not None and old_manifest.rollup is not None
    assert not index_exists(opensearch, target, DAY_A)


def test_restore_is_idempotent_and_the_index_is_dropped_later(
    opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str
) -> None:
    ids = load(opensearch, target, records_for(0, 0, 120))
    before = {
        h["_id"]: h["_source"]
        for h in opensearch.search(index=f"{target.index_prefix}-*", body={"size": 200})["hits"][
            "hits"
        ]
    }
    ctx = tiering(opensearch, cold_local, target, state_index)
    run_tiering(ctx, hot_days=1, now=NOW)
    assert not index_exists(opensearch, target, DAY_A)
    indexer = BulkIndexer(opensearch, max_bytes=64 * 1024)

    restored = restore_day(
        opensearch,
        cold_local,
        DAY_A,
        prefix=target.index_prefix,
        state_index=state_index,
        indexer=indexer,
    )
    assert (restored.rows, restored.indexed, restored.duplicates) == (120, 120, 0)
    index = f"{target.index_prefix}-2025.11.25"
    assert set(ids_in_index(opensearch, index)) == ids
    after = {
        h["_id"]: h["_source"]
        for h in opensearch.search(index=index, body={"size": 200})["hits"]["hits"]
    }
    assert after == before  # the same documents, field for field

    again = restore_day(
        opensearch,
        cold_local,
        DAY_A,
        prefix=target.index_prefix,
        state_index=state_index,
        indexer=indexer,
    )
    assert (again.indexed, again.duplicates) == (0, 120)

    kept = run_tiering(ctx, hot_days=1, now=NOW)
    assert [d.action for d in kept.days] == ["skipped_restored"]
    day = tier_status(opensearch, cold_local, prefix=target.index_prefix, state_index=state_index)[
        0
    ]
    assert (day.state, day.hot_index, day.rows) == ("cold", True, 120)

    restore_day(
        opensearch,
        cold_local,
        DAY_A,
        prefix=target.index_prefix,
        state_index=state_index,
        indexer=indexer,
        keep_days=0,
    )  # expired at once
    dropped = run_tiering(ctx, hot_days=1, now=NOW)
    assert [(d.action, d.rows) for d in dropped.days] == [("index_dropped", 120)]
    assert not index_exists(opensearch, target, DAY_A)
    assert sorted(cold_ids(cold_local, DAY_A)) == sorted(ids)

"""`tier run` against the real OpenSearch and object store: export, verify, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq

from ingest.service import IngestTarget
from tiering.manifest import load_manifest
from tiering.service import run_tiering
from tiering.status import tier_status
from tiering.store import ColdStore
from wafsiem.schema import SCHEMA_VERSION

from .ingest_fixtures import target
from .test_tiering_fixtures import (
    DAY_A,
    DAY_B,
    cold,
    cold_ids,
    cold_local,
    cold_s3,
    index_exists,
    load,
    partition_names,
    records_for,
    state_index,
    tiering,
)

__all__ = ["cold", "cold_local", "cold_s3", "state_index", "target"]  # fixtures


def test_days_tiered_verified_and_deleted(
    opensearch: Any, target: IngestTarget, cold: ColdStore, state_index: str
) -> None:
    ids_a = load(opensearch, target, records_for(0, 0, 700), shards=3)
    ids_b = load(opensearch, target, records_for(1, 10_000, 40)) - ids_a
    ctx = tiering(
        opensearch, cold, target, state_index, page_size=100, row_group_rows=128, file_rows=256
    )

    report = run_tiering(ctx, hot_days=3, now=datetime(2025, 11, 30, 1, tzinfo=UTC))

    assert [(d.date, d.action, d.rows) for d in report.days] == [
        (DAY_A, "tiered", 700),
        (DAY_B, "tiered", 40),
    ]
    assert not index_exists(opensearch, target, DAY_A)
    assert not index_exists(opensearch, target, DAY_B)
    for day, ids in ((DAY_A, ids_a), (DAY_B, ids_b)):
        found = cold_ids(cold, day)
        assert len(found) == len(set(found)) == len(ids)
        assert set(found) == ids
        manifest = load_manifest(cold, day)
        assert manifest is not None and manifest.schema_version == SCHEMA_VERSION
        assert manifest.rows == len(ids)
        assert partition_names(cold, day) == {"_manifest.json"} | manifest.names()
    manifest_a = load_manifest(cold, DAY_A)
    assert manifest_a is not None and len(manifest_a.files) >= 3  # 3 slices, rolled files
    for entry in manifest_a.files:
        with cold.open_input(f"date={DAY_A.isoformat()}/{entry.name}") as handle:
            parquet = pq.ParquetFile(handle)
            assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
            stamps = parquet.read(columns=["@timestamp"])["@timestamp"].to_pylist()
        assert stamps == sorted(stamps)

    status = {
        d.date: d
        for d in tier_status(opensearch, cold, prefix=target.index_prefix, state_index=state_index)
    }
    assert status[DAY_A].state == "cold" and status[DAY_A].rows == 700
    assert status[DAY_A].bytes_hot and status[DAY_A].bytes_cold and status[DAY_A].ratio
    assert not status[DAY_A].hot_index

    again = run_tiering(ctx, hot_days=3, now=datetime(2025, 11, 30, 1, tzinfo=UTC))
    assert again.days == []


def test_hot_window_and_dry_run(
    opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str
) -> None:
    load(opensearch, target, records_for(0, 0, 30) + records_for(1, 100, 30))
    ctx = tiering(opensearch, cold_local, target, state_index)
    now = datetime(2025, 11, 28, 12, tzinfo=UTC)  # cutoff 2025-11-26: only DAY_A is old

    dry = run_tiering(ctx, hot_days=2, dry_run=True, now=now)
    assert [(d.date, d.action, d.rows) for d in dry.days] == [(DAY_A, "would_tier", 30)]
    assert index_exists(opensearch, target, DAY_A)
    assert cold_local.list_files() == []

    real = run_tiering(ctx, hot_days=2, now=now)
    assert [(d.date, d.action) for d in real.days] == [(DAY_A, "tiered")]
    assert index_exists(opensearch, target, DAY_B)
    assert not index_exists(opensearch, target, DAY_A)


def test_mismatch_on_read_back_keeps_the_index(
    opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str, tmp_path: Any
) -> None:
    ids = load(opensearch, target, records_for(0, 0, 50))
    now = datetime(2025, 11, 30, tzinfo=UTC)

    def drop_a_row(step: str) -> None:
        """Between writing and reading back, a part file loses its last row."""
        if step != "exported":
            return
        part = next(f for f in cold_local.list_files() if f.rel.endswith(".parquet"))
        table = pq.read_table(cold_local.open_input(part.rel))
        spooled = tmp_path / "short.parquet"
        pq.write_table(table.slice(0, table.num_rows - 1), spooled)
        cold_local.put_file(spooled, part.rel)

    ctx = tiering(opensearch, cold_local, target, state_index, checkpoint=drop_a_row)
    report = run_tiering(ctx, hot_days=1, now=now)
    assert [d.action for d in report.days] == ["failed"]
    assert "rows 49 != 50" in (report.days[0].error or "")
    assert index_exists(opensearch, target, DAY_A)
    assert load_manifest(cold_local, DAY_A) is None
    assert cold_local.list_files() == []  # the unverified files are gone
    status = tier_status(
        opensearch, cold_local, prefix=target.index_prefix, state_index=state_index
    )
    assert status[0].error and "rows 49 != 50" in status[0].error

    retry = run_tiering(tiering(opensearch, cold_local, target, state_index), hot_days=1, now=now)
    assert [d.action for d in retry.days] == ["tiered"]
    assert set(cold_ids(cold_local, DAY_A)) == ids
    assert (
        tier_status(opensearch, cold_local, prefix=target.index_prefix, state_index=state_index)[
            0
        ].error
        is None
    )

"""DuckDB over the cold tier: partition pruning, committed files only, locked down."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from ingest.service import IngestTarget
from tiering.cold_read import cold_connection
from tiering.service import run_tiering
from tiering.store import ColdStore

from .ingest_fixtures import target
from .test_tiering_fixtures import (
    DAY_A,
    DAY_B,
    cold,
    cold_local,
    cold_s3,
    load,
    records_for,
    state_index,
    tiering,
)

__all__ = ["cold", "cold_local", "cold_s3", "state_index", "target"]  # fixtures


def test_cold_days_queried_with_pruning_and_lockdown(
    opensearch: Any, target: IngestTarget, cold: ColdStore, state_index: str, tmp_path: Path
) -> None:
    ids_a = load(opensearch, target, records_for(0, 0, 250))
    load(opensearch, target, records_for(1, 1000, 60))
    ctx = tiering(opensearch, cold, target, state_index)
    run_tiering(ctx, hot_days=1, now=datetime(2025, 12, 1, tzinfo=UTC))
    # a crashed run's uncommitted part: never read
    stray = tmp_path / "stray.parquet"
    one = pq.read_table(
        cold.open_input(
            next(
                f.rel
                for f in cold.list_files(f"date={DAY_B.isoformat()}")
                if f.rel.endswith(".parquet")
            )
        )
    )
    pq.write_table(one, stray)
    cold.put_file(stray, f"date={DAY_B.isoformat()}/part-crashed-s0-0000.parquet")

    both = cold_connection(cold)
    con = both.connection
    assert (both.days, both.rows) == ([DAY_A, DAY_B], 310)
    assert con.execute("SELECT count(*) FROM waf_logs").fetchone() == (310,)
    rows = con.execute(
        'SELECT date, count(*), count(DISTINCT "event.id") FROM waf_logs '
        "WHERE date = ? GROUP BY date",
        [DAY_A],
    ).fetchall()
    assert rows == [(DAY_A, 250, 250)]
    blocked = con.execute(
        'SELECT count(*) FROM waf_logs WHERE date = ? AND "waf.action" = ?', [DAY_A, "BLOCK"]
    ).fetchone()
    assert blocked == (sum(1 for k in range(250) if k % 5),)
    found = {
        r[0]
        for r in con.execute(
            'SELECT "event.id" FROM waf_logs WHERE date BETWEEN ? AND ?', [DAY_A, DAY_A]
        ).fetchall()
    }
    assert found == ids_a

    with pytest.raises(duckdb.Error):
        con.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")
    with pytest.raises(duckdb.Error):
        con.execute("INSTALL httpfs")
    con.close()

    only_b = cold_connection(cold, start=DAY_B, end=DAY_B)
    assert only_b.days == [DAY_B] and only_b.files == 1
    assert only_b.connection.execute("SELECT count(*) FROM waf_logs").fetchone() == (60,)
    none = cold_connection(cold, start=datetime(2030, 1, 1, tzinfo=UTC).date())
    assert none.connection.execute("SELECT count(*) FROM waf_logs").fetchone() == (0,)


def test_local_pruning_reads_only_the_days_asked(
    opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str
) -> None:
    load(opensearch, target, records_for(0, 0, 40) + records_for(1, 1000, 30))
    run_tiering(
        tiering(opensearch, cold_local, target, state_index),
        hot_days=1,
        now=datetime(2025, 12, 1, tzinfo=UTC),
    )
    con = cold_connection(cold_local).connection
    plan = con.execute(
        "EXPLAIN ANALYZE SELECT count(*) FROM waf_logs WHERE date = DATE '2025-11-26'"
    ).fetchall()[0][1]
    assert "Scanning Files: 1/2" in plan

"""wafsiem.metrics: per-app registries, the query / override / detector / tiering counters,
the textfile for batch jobs; the health probe of a local cold directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rules_admin.ops import _local_dir_probe
from wafsiem.metrics import Metrics, query_tier


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def test_query_tier() -> None:
    assert query_tier(["2026-11-24"], []) == "hot"
    assert query_tier([], ["2026-11-01"]) == "cold"
    assert query_tier(["2026-11-24"], ["2026-11-01"]) == "mixed"
    assert query_tier([], []) == "none"


def test_counters_move_and_registries_are_separate() -> None:
    metrics, other = Metrics(), Metrics()
    metrics.record_query("top", "hot", 0.02)
    metrics.record_query("top", "hot", 0.5)
    metrics.record_query("events", "mixed", 1.0)
    metrics.record_override({"kind": "override", "result": "dry_run", "actor": "api:oncall"})
    metrics.record_override({"kind": "revert", "result": "reverted", "actor": "ttl"})
    metrics.record_override(None)  # no audit record: nothing counted
    metrics.record_decision("override", "dry_run")
    metrics.record_decision("keep", None)
    metrics.record_loop_round("detector", ok=False)
    metrics.record_tiering_day("tiered", 1200)
    text = metrics.exposition().decode()
    assert value(text, "wafsiem_query_requests_total", operation="top", tier="hot") == 2
    assert value(text, "wafsiem_query_requests_total", operation="events", tier="mixed") == 1
    assert value(text, "wafsiem_query_seconds_count", operation="top") == 2
    assert value(text, "wafsiem_query_seconds_bucket", operation="top", le="0.025") == 1
    assert (
        value(
            text, "wafsiem_overrides_total", kind="override", result="dry_run", actor="api:oncall"
        )
        == 1
    )
    assert value(text, "wafsiem_overrides_total", kind="revert", result="reverted", actor="ttl")
    assert value(text, "wafsiem_detector_decisions_total", action="keep", result="none") == 1
    assert value(text, "wafsiem_loop_rounds_total", loop="detector", outcome="failed") == 1
    assert value(text, "wafsiem_tiering_days_total", action="tiered") == 1
    assert value(text, "wafsiem_tiering_rows_total") == 1200
    assert value(other.exposition().decode(), "wafsiem_tiering_rows_total") == 0


def test_textfile_for_batch_jobs(tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.record_tiering_day("would_tier", 0)
    metrics.tiering_last_run.set(1_790_000_000)
    out = tmp_path / "wafsiem_tier.prom"
    metrics.record_query("top", "hot", 0.1)
    metrics.write_textfile(out, prefix="wafsiem_tiering_")
    text = out.read_text()
    assert "wafsiem_query" not in text and "wafsiem_firehose" not in text
    assert value(text, "wafsiem_tiering_days_total", action="would_tier") == 1
    assert value(text, "wafsiem_tiering_last_run_timestamp_seconds") == 1_790_000_000


def test_cold_directory_probe(tmp_path: Path) -> None:
    assert "writable" in _local_dir_probe(tmp_path)
    assert "not created yet" in _local_dir_probe(tmp_path / "state" / "cold")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError):
        _local_dir_probe(a_file)
    with pytest.raises(PermissionError):
        _local_dir_probe(a_file / "cold")  # its nearest existing ancestor is a file

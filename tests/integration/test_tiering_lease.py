"""Leases in the real state index; two `tier run`s at once never process the same day."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.service import IngestTarget
from tiering.lease import Lease, LeaseLost
from tiering.service import run_tiering
from tiering.store import ColdStore

from .ingest_fixtures import target
from .test_tiering_fixtures import (
    DAY_A,
    DAY_B,
    cli_env,
    cold_ids,
    cold_local,
    index_exists,
    load,
    records_for,
    state_index,
    tiering,
)

__all__ = ["cold_local", "state_index", "target"]  # fixtures


def test_lease_is_exclusive_expires_and_is_taken_over_once(
    opensearch: Any, state_index: str
) -> None:
    first = Lease(opensearch, state_index, "day", ttl_seconds=600)
    second = Lease(opensearch, state_index, "day", ttl_seconds=600)
    assert first.acquire()
    assert not second.acquire()
    first.renew()
    first.release()
    assert second.acquire()
    second.release()

    crashed = Lease(opensearch, state_index, "other", ttl_seconds=0)  # expires at once
    assert crashed.acquire()
    racers = [Lease(opensearch, state_index, "other", ttl_seconds=600) for _ in range(3)]
    assert [r.acquire() for r in racers].count(True) == 1
    with pytest.raises(LeaseLost):
        crashed.renew()  # a holder whose lease was taken over must stop
    crashed.release()  # does not delete the new holder's lease
    winner = next(r for r in racers if r.held)
    winner.renew()


def test_a_leased_day_is_skipped(
    opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str
) -> None:
    load(opensearch, target, records_for(0, 0, 20))
    other = Lease(opensearch, state_index, f"tiering:{target.index_prefix}:{DAY_A.isoformat()}")
    assert other.acquire()
    ctx = tiering(opensearch, cold_local, target, state_index)
    report = run_tiering(ctx, hot_days=1, now=datetime(2025, 12, 1, tzinfo=UTC))
    assert [d.action for d in report.days] == ["skipped_leased"]
    assert index_exists(opensearch, target, DAY_A)
    other.release()
    report = run_tiering(ctx, hot_days=1, now=datetime(2025, 12, 1, tzinfo=UTC))
    assert [d.action for d in report.days] == ["tiered"]


def test_two_runs_at_once_never_process_the_same_day(
    opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str
) -> None:
    expected = {}
    for offset, day in ((0, DAY_A), (1, DAY_B)):
        expected[day] = load(opensearch, target, records_for(offset, offset * 10_000, 400))
        expected[day] -= set().union(*(v for d, v in expected.items() if d != day))
    for offset in range(2, 6):  # four more days
        load(opensearch, target, records_for(offset, offset * 10_000, 150))
    argv = [
        sys.executable,
        "-m",
        "wafsiem",
        "tier",
        "run",
        "--hot-days",
        "0",
        "--json",
        "--page-size",
        "50",
    ]
    env = cli_env(target, state_index, cold_local)
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert all(r.returncode == 0 for r in runs), [o[1][-2000:] for o in outputs]
    tiered: list[str] = []
    for stdout, _ in outputs:
        for day in json.loads(stdout)["days"]:
            assert day["action"] in ("tiered", "skipped_leased", "finished"), day
            if day["action"] == "tiered":
                tiered.append(day["date"])
    assert len(tiered) == len(set(tiered)) == 6  # each day tiered once, by one of them
    for day, ids in expected.items():
        found = cold_ids(cold_local, day)
        assert len(found) == len(set(found)) and set(found) == ids
    assert not opensearch.indices.get(index=f"{target.index_prefix}-*")

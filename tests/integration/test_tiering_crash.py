"""Kill `tier run` at each step (os._exit at a named step), run again: rows and ids intact,
no duplicates, no stray files, the hot index gone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from ingest.service import IngestTarget
from tiering.manifest import load_manifest
from tiering.rollup import rollup_table
from tiering.service import CRASH_ENV, CRASH_EXIT_CODE, STEPS
from tiering.store import ColdStore

from .ingest_fixtures import target
from .test_tiering_fixtures import (
    DAY_A,
    cli_env,
    cold,
    cold_ids,
    cold_local,
    cold_s3,
    index_exists,
    load,
    partition_names,
    records_for,
    state_index,
)

__all__ = ["cold", "cold_local", "cold_s3", "state_index", "target"]  # fixtures

ARGV = [
    sys.executable,
    "-m",
    "wafsiem",
    "tier",
    "run",
    "--hot-days",
    "0",
    "--json",
    "--page-size",
    "100",
    "--lease-ttl",
    "1",
]


def _run(env: dict[str, str], crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    run_env = dict(env)
    if crash_at:
        run_env[CRASH_ENV] = crash_at
    else:
        time.sleep(1.2)  # the crashed run's lease (1 s) expires
    return subprocess.run(
        ARGV, env=run_env, capture_output=True, text=True, timeout=300, check=False
    )


def _check_cold(opensearch: Any, target: IngestTarget, store: ColdStore, ids: set[str]) -> None:
    found = cold_ids(store, DAY_A)
    assert len(found) == len(set(found)), "a row was written twice"
    assert set(found) == ids, f"lost {len(ids - set(found))} rows"
    manifest = load_manifest(store, DAY_A)
    assert manifest is not None and manifest.rows == len(ids)
    assert partition_names(store, DAY_A) == {"_manifest.json"} | manifest.names()
    assert manifest.rollup is not None  # written with the parts, replaced with them
    assert sum(rollup_table(store, DAY_A, manifest.files)["n"].to_pylist()) == len(ids)
    assert not index_exists(opensearch, target, DAY_A)


FRESH_STEPS = [s for s in STEPS if s != "old_files_deleted"]


@pytest.mark.parametrize("step", FRESH_STEPS)
def test_crash_while_tiering_a_day(
    step: str, opensearch: Any, target: IngestTarget, cold: ColdStore, state_index: str
) -> None:
    ids = load(opensearch, target, records_for(0, 0, 400), shards=2)
    env = cli_env(target, state_index, cold)

    crashed = _run(env, crash_at=step)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-2000:]
    if step in ("leased", "exported", "verified", "rolled_up"):  # nothing committed yet
        assert index_exists(opensearch, target, DAY_A)
        assert load_manifest(cold, DAY_A) is None

    final = _run(env)
    assert final.returncode == 0, final.stderr[-2000:]
    actions = [d["action"] for d in json.loads(final.stdout)["days"]]
    assert actions == [
        {
            "manifest": "index_dropped",
            "index_blocked": "index_dropped",
            "index_deleted": "finished",
        }.get(step, "tiered")
    ]
    _check_cold(opensearch, target, cold, ids)
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "wafsiem", "tier", "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert [(d["state"], d["rows"]) for d in status["days"]] == [("cold", 400)]


@pytest.mark.parametrize(
    "step", ["exported", "verified", "rolled_up", "manifest", "old_files_deleted", "index_deleted"]
)
def test_crash_while_merging_late_data(
    step: str, opensearch: Any, target: IngestTarget, cold_local: ColdStore, state_index: str
) -> None:
    env = cli_env(target, state_index, cold_local)
    ids = load(opensearch, target, records_for(0, 0, 200))
    assert _run(env).returncode == 0
    ids |= load(opensearch, target, records_for(0, 150, 100))  # 50 replayed, 50 new

    crashed = _run(env, crash_at=step)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-2000:]
    final = _run(env)
    assert final.returncode == 0, final.stderr[-2000:]
    _check_cold(opensearch, target, cold_local, ids)
    assert len(ids) == 250

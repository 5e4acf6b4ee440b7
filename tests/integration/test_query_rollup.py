"""The hourly rollup (tiering.rollup) behind the cold tier's ``top``: used when it can
be, never when it cannot, and the answers are the hot copy's either way — for partial
hours at both ends of the range, filters it cannot evaluate, and partitions without one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from query.cold import ColdTier
from query.filters import build_filter, iso
from query.service import timeline, top
from tiering.manifest import load_manifest, write_manifest
from tiering.store import LocalStore, open_store
from wafsiem.settings import Settings

from .query_fixtures import DAYS, Tiers, tiers

pytestmark = pytest.mark.integration
__all__ = ["tiers"]

ROLLED = ["rule", "client_ip", "webacl", "action"]
SERVED = [{}, {"action": "BLOCK"}, {"client_ip": "10.9.0.0/16"}, {"webacl": "x", "rule": "y"},
          {"rule": "AWS-AWSManagedRulesCommonRuleSet"}, {"client_ip": "2001:db8::/32"}]  # fmt: skip
NOT_SERVED = [{"country": "US"}, {"host": "nothing.invalid"}, {"label": "custom:edge*label"},
              {"path_prefix": "/"}, {"method": "GET", "action": "BLOCK"}]  # fmt: skip


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL text of every cold statement run."""
    seen: list[str] = []
    original = ColdTier.rows

    def spy(self: ColdTier, statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
        seen.append(statement)
        return original(self, statement, params)

    monkeypatch.setattr(ColdTier, "rows", spy)
    yield seen


def _flt(start: datetime, end: datetime, raw: dict[str, Any]) -> Any:
    return build_filter({"from": iso(start), "to": iso(end), **raw}, max_range=timedelta(days=9))


def _same(t: Tiers, names: list[str], flt: Any, by: str) -> int:
    hot = top(t.contexts["hot"], flt, by=by, size=25)  # type: ignore[arg-type]
    for name in names:
        other = top(t.contexts[name], flt, by=by, size=25)  # type: ignore[arg-type]
        assert (other.buckets, other.total, other.other) == (
            hot.buckets,
            hot.total,
            hot.other,
        ), (name, flt.describe(), by)
    return hot.total


def test_tiering_wrote_rollups(tiers: Tiers) -> None:
    store = tiers.contexts["cold"].store
    for day in DAYS:
        manifest = load_manifest(store, day)
        assert manifest is not None and manifest.rollup is not None
        assert 0 < manifest.rollup.rows < manifest.rows


@pytest.mark.parametrize("by", ROLLED)
def test_partial_hours_at_both_ends(tiers: Tiers, by: str, statements: list[str]) -> None:
    """Odd edges (milliseconds into an hour) around whole hours on both days."""
    start = datetime(2025, 11, 24, 22, 47, 13, 501000, tzinfo=UTC)
    end = datetime(2025, 11, 25, 1, 12, 0, 1000, tzinfo=UTC)
    totals = [_same(tiers, ["cold", "mixed"], _flt(start, end, raw), by) for raw in SERVED]
    assert totals[0] > totals[1] > 0 and totals[2] > 0
    assert any("waf_rollup" in s for s in statements)


@pytest.mark.parametrize("by", ["rule", "client_ip"])
def test_within_one_hour_and_exact_hours(tiers: Tiers, by: str) -> None:
    edges = [
        (datetime(2025, 11, 24, 23, 5, tzinfo=UTC), datetime(2025, 11, 24, 23, 55, tzinfo=UTC)),
        (datetime(2025, 11, 24, 23, 0, tzinfo=UTC), datetime(2025, 11, 25, 1, 0, tzinfo=UTC)),
        (datetime(2025, 11, 24, 23, 0, tzinfo=UTC), datetime(2025, 11, 25, 0, 0, tzinfo=UTC)),
        (datetime(2025, 11, 24, 23, 59, tzinfo=UTC), datetime(2025, 11, 25, 0, 1, tzinfo=UTC)),
    ]
    for start, end in edges:
        for raw in SERVED[:3]:
            _same(tiers, ["cold", "mixed"], _flt(start, end, raw), by)


@pytest.mark.parametrize("by", ["rule", "webacl", "country"])
def test_filters_the_rollup_cannot_serve(tiers: Tiers, by: str, statements: list[str]) -> None:
    for raw in NOT_SERVED:
        _same(tiers, ["cold", "mixed"], _flt(tiers.start, tiers.end, raw), by)
    assert statements and not any("waf_rollup" in s for s in statements)


@pytest.fixture(scope="module")
def old_data(tiers: Tiers, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Tiers:
    """Copies of the cold store: one without any rollup (data tiered before rollups),
    one with the first day's rollup only, and one whose rollup has an unknown version."""
    source = tiers.contexts["cold"].store
    assert isinstance(source, LocalStore)
    contexts = dict(tiers.contexts)
    for name, days in (("none", DAYS), ("half", DAYS[1:]), ("future", [])):
        root: Path = tmp_path_factory.mktemp(f"rollup-{name}")
        shutil.copytree(source.root, root, dirs_exist_ok=True)
        store = open_store(str(root), settings)
        for day in DAYS:
            manifest = load_manifest(store, day)
            assert manifest is not None and manifest.rollup is not None
            if name == "future":
                rollup = manifest.rollup.model_copy(update={"version": 99})
                write_manifest(store, manifest.model_copy(update={"rollup": rollup}))
            elif day in days:
                store.delete(f"date={day.isoformat()}/{manifest.rollup.name}")
                write_manifest(store, manifest.model_copy(update={"rollup": None}))
        contexts[name] = replace(tiers.contexts["cold"], store=store)
    return replace(tiers, contexts=contexts)


@pytest.mark.parametrize("by", ROLLED)
def test_manifests_without_rollup_are_read_raw(
    old_data: Tiers, by: str, statements: list[str]
) -> None:
    start = datetime(2025, 11, 24, 22, 47, 13, 501000, tzinfo=UTC)
    end = datetime(2025, 11, 25, 1, 12, 0, 1000, tzinfo=UTC)
    days = (datetime(2025, 11, 24, tzinfo=UTC), datetime(2025, 11, 26, tzinfo=UTC))
    for lo, hi in ((start, end), days, (old_data.start, old_data.end)):
        for raw in SERVED[:3]:
            statements.clear()
            _same(old_data, ["none", "future"], _flt(lo, hi, raw), by)
            assert not any("waf_rollup" in s for s in statements)
            _same(old_data, ["half"], _flt(lo, hi, raw), by)  # rollup for the 24th only
            assert any("waf_rollup" in s for s in statements)


@pytest.mark.parametrize("interval", ["1h", "6h", "1d", "15m"])
def test_timeline_over_the_rollup(old_data: Tiers, interval: str, statements: list[str]) -> None:
    start = datetime(2025, 11, 24, 22, 47, 13, 501000, tzinfo=UTC)
    end = datetime(2025, 11, 25, 1, 12, 0, 1000, tzinfo=UTC)
    for raw in [*SERVED[:3], NOT_SERVED[0]]:
        flt = _flt(start, end, raw)
        hot = timeline(old_data.contexts["hot"], flt, interval=interval)  # type: ignore[arg-type]
        for name in ("cold", "mixed", "none", "half"):
            other = timeline(old_data.contexts[name], flt, interval=interval)  # type: ignore[arg-type]
            assert (other.buckets, other.total) == (hot.buckets, hot.total), (name, raw)
    assert any("waf_rollup" in s for s in statements) == (interval != "15m")

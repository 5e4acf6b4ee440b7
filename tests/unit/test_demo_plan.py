"""The demo's plan: when a second run reuses the first one's scenario times, and which
day each scenario is generated in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from demo.models import DemoOptions
from demo.plan import choose_plan, day_options, demo_days, detector_moment, save_plan

NOW = datetime(2026, 11, 26, 14, 7, 31, tzinfo=UTC)


def test_new_plan_places_the_spike_half_an_hour_ago(tmp_path: Path) -> None:
    plan, reused = choose_plan(tmp_path / "plan.json", DemoOptions(), NOW)
    assert not reused
    assert plan.onset == datetime(2026, 11, 26, 13, 35, tzinfo=UTC)
    assert detector_moment(plan) == datetime(2026, 11, 26, 13, 40, tzinfo=UTC)
    assert demo_days(DemoOptions(), NOW) == [date(2026, 11, 24), date(2026, 11, 25), NOW.date()]


def test_a_second_run_reuses_the_plan_while_it_fits(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    first, _ = choose_plan(path, DemoOptions(), NOW)
    save_plan(path, first)
    later = NOW + timedelta(hours=5)
    again, reused = choose_plan(path, DemoOptions(), later)
    assert reused and again == first
    # a day later, or other traffic options: a new plan
    assert not choose_plan(path, DemoOptions(), NOW + timedelta(hours=25))[1]
    assert not choose_plan(path, DemoOptions(rps=2), later)[1]
    assert not choose_plan(path, DemoOptions(seed=8), later)[1]


def test_days_are_whole_and_carry_only_their_scenarios(tmp_path: Path) -> None:
    plan, _ = choose_plan(tmp_path / "plan.json", DemoOptions(), NOW)
    today = day_options(plan, NOW.date())
    assert today.start == datetime(2026, 11, 26, tzinfo=UTC) and today.hours == 24
    assert {s.name for s in today.scenarios} == {"fp-size-body", "sqli-scanner"}
    assert [s.name for s in day_options(plan, date(2026, 11, 24)).scenarios] == ["bad-bots"]
    assert day_options(plan, date(2026, 11, 25)).scenarios == []
    # the same plan gives the same options: the same records
    assert day_options(plan, NOW.date()) == today


def test_both_tiers_need_an_older_day() -> None:
    with pytest.raises(ValueError, match="hot_days"):
        DemoOptions(days=2, hot_days=1)
    DemoOptions(days=2, hot_days=0)

"""When the demo's scenarios happen, and the generator options for each day.

Every day is generated on its own, always as a whole UTC day (``start`` = midnight,
24 hours), so a day's records depend only on the day, the seed, the rate and the
scenarios placed in it — never on when the demo runs. Today is generated whole too, and
only the 5-minute buffers Firehose would have delivered by now are sent. The scenario
times are remembered in a plan file; a second run reuses them, so it generates the very
same records (each a duplicate by its ``event.id``) plus the traffic of the minutes
since, and no second spike.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from demo.models import ATTACK_SCENARIO, FP_SCENARIO, DemoOptions, DemoPlan
from ingest.generator.models import GenerateOptions, ScenarioSpec

PLAN_FILE = "plan.json"
ONSET_BEFORE_NOW = timedelta(minutes=30)  # the spike ends 10 minutes before the run
FP_MINUTES = 20
ATTACK_MINUTES = 10
DETECT_AFTER_ONSET = timedelta(minutes=5)  # the detector judges the spike's first window
PLAN_MAX_AGE = timedelta(hours=24)


def plan_path(state_dir: Path) -> Path:
    return state_dir / "demo" / PLAN_FILE


def floor_minutes(moment: datetime, minutes: int = 5) -> datetime:
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=moment.minute % minutes)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def demo_days(options: DemoOptions, now: datetime) -> list[date]:
    """The UTC days of traffic, oldest first; the last is today."""
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(options.days - 1, -1, -1)]


def new_plan(options: DemoOptions, now: datetime) -> DemoPlan:
    """The false-positive spike and the attack 30 minutes ago; background bad bots on
    the oldest day (so the cold tier has blocks of its own)."""
    onset = floor_minutes(now) - ONSET_BEFORE_NOW
    oldest = day_start(demo_days(options, now)[0]) + timedelta(hours=14)
    specs = [
        f"{FP_SCENARIO}@{onset.isoformat()},minutes={FP_MINUTES},intensity={options.fp_intensity}",
        f"{ATTACK_SCENARIO}@{onset.isoformat()},minutes={ATTACK_MINUTES}",
        f"bad-bots@{oldest.isoformat()},minutes=30,intensity=0.5",
    ]
    return DemoPlan(
        onset=onset,
        seed=options.seed,
        rps=options.rps,
        domains=options.domains,
        fp_intensity=options.fp_intensity,
        scenarios=specs,
        created=now,
    )


def load_plan(path: Path) -> DemoPlan | None:
    with contextlib.suppress(OSError, ValueError):
        return DemoPlan.model_validate_json(path.read_text())
    return None


def choose_plan(path: Path, options: DemoOptions, now: datetime) -> tuple[DemoPlan, bool]:
    """The remembered plan when it fits (same traffic options, spike within the last
    24 hours), else a new one; ``(plan, reused)``. The caller saves it."""
    plan = load_plan(path)
    if (
        plan is not None
        and plan.matches(options)
        and now - PLAN_MAX_AGE <= plan.onset <= now - DETECT_AFTER_ONSET
    ):
        return plan, True
    return new_plan(options, now), False


def save_plan(path: Path, plan: DemoPlan) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(plan.model_dump_json(indent=2))
    tmp.replace(path)


def day_options(plan: DemoPlan, day: date) -> GenerateOptions:
    """The whole UTC day with the plan's scenarios that start in it."""
    start = day_start(day)
    specs = [ScenarioSpec.parse(text) for text in plan.scenarios]
    mine = [s for s in specs if s.start is not None and start <= s.start < start + timedelta(1)]
    return GenerateOptions(
        start=start,
        hours=24,
        rps=plan.rps,
        domains=plan.domains,
        seed=plan.seed,
        scenarios=mine,
    )


def detector_moment(plan: DemoPlan) -> datetime:
    return plan.onset + DETECT_AFTER_ONSET

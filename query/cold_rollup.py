"""When and how the cold tier answers from the hourly rollup (:mod:`tiering.rollup`).

A ``top`` whose key fields are rollup columns and whose filter uses only
:data:`query.sql.ROLLUP_WORDS` is split by time: the whole UTC hours of the days that have
a rollup come from ``waf_rollup`` (``sum(n)``), the rest — partial hours at the edges of
the range, days without a rollup — from the raw rows (``count(*)``). The two are added in
one statement, so counts and distinct client IPs stay exact.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from query import sql
from query.filters import Filter
from query.sql import col
from tiering.rollup import HOUR_MS, ROLLUP_FIELDS, ROLLUP_VIEW

RAW_VIEW = "waf_logs"
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Split:
    """The filter's range as raw ranges and whole-hour rollup ranges (no overlap)."""

    raw: list[Filter]
    rolled: list[Filter]


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + _HOUR


def _merged(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def split(
    flt: Filter, fields: tuple[str, ...], days: Collection[date], rollup_days: Collection[date]
) -> Split | None:
    """How to answer ``flt`` over the cold ``days``, or None when the rollup cannot help
    (a key or a filter word it lacks, no whole hour of a day that has a rollup)."""
    if not set(fields) <= set(ROLLUP_FIELDS) or sql.words(flt) - sql.ROLLUP_WORDS:
        return None
    start, end = flt.start.astimezone(UTC), flt.end.astimezone(UTC)
    raw: list[tuple[datetime, datetime]] = []
    rolled: list[tuple[datetime, datetime]] = []
    have = set(rollup_days)
    for day in sorted(set(days)):
        midnight = datetime.combine(day, time(), UTC)
        lo, hi = max(start, midnight), min(end, midnight + _DAY)
        if lo >= hi:
            continue
        first, last = _ceil_hour(lo), _floor_hour(hi)
        if day in have and first < last:
            raw += [(lo, first), (last, hi)]
            rolled.append((first, last))
        else:
            raw.append((lo, hi))
    if not rolled:
        return None
    return Split(
        [flt.with_range(lo, hi) for lo, hi in _merged(raw)],
        [flt.with_range(lo, hi) for lo, hi in _merged(rolled)],
    )


def branches(
    parts: Split,
    select: str,
    condition: str = "",
    extra: list[Any] | None = None,
    select_params: list[Any] | None = None,
) -> tuple[list[str], list[Any]]:
    """``SELECT <select>, <count> AS n FROM <view> WHERE ...`` per range (not grouped) and
    their params in order; ``condition`` (with ``extra`` params) is AND-ed to each.
    ``{time}`` in ``select`` is the view's time column (``@timestamp`` or ``hour``), and
    ``select_params`` are its params."""
    out: list[str] = []
    params: list[Any] = []
    sources = [(RAW_VIEW, "@timestamp", "count(*)", f, sql.where) for f in parts.raw]
    sources += [
        (ROLLUP_VIEW, "hour", f"sum({col('n')})", f, sql.rollup_where) for f in parts.rolled
    ]
    for view, time_column, count, flt, where in sources:
        clause, values = where(flt)
        if condition:
            clause += f" AND {condition}"
            values += list(extra or [])
        lead = select.replace("{time}", col(time_column)) + ", " if select else ""
        out.append(f"SELECT {lead}{count} AS n FROM {view} WHERE {clause}")
        params += [*(select_params or []), *values]
    return out, params


def grouped_statement(
    parts: Split, keyed: str, names: list[str], condition: str, distinct: bool
) -> tuple[str, list[Any]]:
    """Counts (and exact distinct client IPs) per key over the raw and rolled-up ranges."""
    select = f"{keyed}, {col('source.ip')} AS ip" if distinct else keyed
    found, params = branches(parts, select, condition)
    union = " UNION ALL ".join(f"{text} GROUP BY ALL" for text in found)
    keys = ", ".join(names)
    if not distinct:
        return f"SELECT {keys}, sum(n), 0 FROM ({union}) GROUP BY ALL", params
    # one row per (key, address) over all ranges, then per key: sum and count
    per_ip = f"SELECT {keys}, ip, sum(n) AS n FROM ({union}) GROUP BY ALL"
    return f"SELECT {keys}, sum(n), count(ip) FROM ({per_ip}) GROUP BY ALL", params


def total_statement(parts: Split) -> tuple[str, list[Any]]:
    found, params = branches(parts, "")
    union = " UNION ALL ".join(found)
    return f"SELECT sum(n) FROM ({union})", params


def timeline_statement(parts: Split, interval_ms: int) -> tuple[str, list[Any]]:
    """Documents per (interval bucket, action); ``interval_ms`` a multiple of an hour, so
    every rollup hour falls in one bucket."""
    if interval_ms % HOUR_MS:
        raise ValueError("the rollup holds whole hours only")
    bucket = "(epoch_ms({time}) // ?) * ? AS t"
    found, params = branches(
        parts, f"{bucket}, {col('waf.action')} AS action", select_params=[interval_ms] * 2
    )
    union = " UNION ALL ".join(f"{text} GROUP BY ALL" for text in found)
    return f"SELECT t, action, sum(n) FROM ({union}) GROUP BY ALL", params

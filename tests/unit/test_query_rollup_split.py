"""query.cold_rollup.split: which ranges come from the hourly rollup, which from raw rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from query import sql
from query.cold_rollup import split
from query.filters import build_filter, iso
from query.models import TOP_FIELDS

D1, D2, D3 = date(2025, 11, 24), date(2025, 11, 25), date(2025, 11, 26)


def _flt(start: datetime, end: datetime, **words: str) -> object:
    return build_filter({"from": iso(start), "to": iso(end), **words}, max_range=timedelta(9))


def _ranges(filters: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(iso(f.start), iso(f.end)) for f in filters]


def test_partial_hours_at_both_ends_are_raw() -> None:
    flt = _flt(
        datetime(2025, 11, 24, 22, 30, tzinfo=UTC), datetime(2025, 11, 25, 1, 30, tzinfo=UTC)
    )
    parts = split(flt, TOP_FIELDS["rule"], [D1, D2], [D1, D2])  # type: ignore[arg-type]
    assert parts is not None
    assert _ranges(parts.rolled) == [("2025-11-24T23:00:00.000Z", "2025-11-25T01:00:00.000Z")]
    assert _ranges(parts.raw) == [
        ("2025-11-24T22:30:00.000Z", "2025-11-24T23:00:00.000Z"),
        ("2025-11-25T01:00:00.000Z", "2025-11-25T01:30:00.000Z"),
    ]


def test_days_without_rollup_are_raw_and_whole_days_rolled() -> None:
    flt = _flt(datetime(2025, 11, 24, tzinfo=UTC), datetime(2025, 11, 27, tzinfo=UTC))
    parts = split(flt, TOP_FIELDS["client_ip"], [D1, D2, D3], [D1, D3])  # type: ignore[arg-type]
    assert parts is not None
    assert _ranges(parts.raw) == [("2025-11-25T00:00:00.000Z", "2025-11-26T00:00:00.000Z")]
    assert [f.start.date() for f in parts.rolled] == [D1, D3]


@pytest.mark.parametrize(
    ("by", "words"),
    [("path", {}), ("label", {}), ("rule", {"country": "US"}), ("rule", {"label": "x"})],
)
def test_keys_and_words_the_rollup_lacks(by: str, words: dict[str, str]) -> None:
    flt = _flt(datetime(2025, 11, 24, tzinfo=UTC), datetime(2025, 11, 25, tzinfo=UTC), **words)
    assert split(flt, TOP_FIELDS[by], [D1], [D1]) is None  # type: ignore[arg-type]


def test_no_whole_hour_means_raw() -> None:
    flt = _flt(datetime(2025, 11, 24, 5, 1, tzinfo=UTC), datetime(2025, 11, 24, 5, 59, tzinfo=UTC))
    assert split(flt, TOP_FIELDS["rule"], [D1], [D1]) is None  # type: ignore[arg-type]


def test_rollup_where_is_parameterised_and_refuses_what_it_cannot_do() -> None:
    start = datetime(2025, 11, 24, 1, tzinfo=UTC)
    flt = _flt(
        start, start + timedelta(hours=2), action="x'; DROP TABLE t --", client_ip="10.0.0.0/8"
    )
    text, params = sql.rollup_where(flt)  # type: ignore[arg-type]
    assert "DROP" not in text and "X'; DROP TABLE T --" in params and '"hour" >= ?' in text
    with pytest.raises(ValueError, match="whole hours"):
        sql.rollup_where(flt.with_range(start, start + timedelta(minutes=90)))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="cannot filter"):
        sql.rollup_where(_flt(start, start + timedelta(hours=1), host="a"))  # type: ignore[arg-type]

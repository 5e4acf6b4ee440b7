"""Hot, cold and mixed copies of the same days give identical answers to every operation.

The data: generated traffic over midnight (with a false-positive spike and an SQL
injection scan) plus edge records (IPv6, IPv4-mapped IPv6, unicode paths, hostile text).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from query.filters import build_filter, iso
from query.service import events, timeline, top

from .query_fixtures import HOSTILE_HOST, HOSTILE_PATH, UNICODE_PATH, Tiers, tiers

pytestmark = pytest.mark.integration
__all__ = ["tiers"]

FILTERS: dict[str, dict[str, Any]] = {
    "all": {},
    "blocked": {"action": "BLOCK"},
    "allow-or-count": {"action": ["ALLOW", "count"]},
    "cidr-v4": {"client_ip": "198.51.100.0/25"},
    "cidr-wide-v4": {"client_ip": "0.0.0.0/1"},
    "ipv6": {"client_ip": "2001:db8::/32"},
    "ipv6-host": {"client_ip": "2001:db8::5"},
    "v4-mapped-net": {"client_ip": "::ffff:10.9.0.0/112"},
    "v4-from-mapped": {"client_ip": "10.9.0.0/16"},
    "unicode-path": {"path_prefix": "/produkt/größe"},
    "label": {"label": "custom:edge*label"},
    "label-quote": {"label": "awswaf:test:o'hara"},
    "rule": {"rule": "AWS-AWSManagedRulesCommonRuleSet"},
    "rule-sub": {"rule": "AWS-AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY"},
    "group-rule": {"rule": "SizeRestrictions_BODY"},
    "country-method": {"country": ["DE", "US"], "method": "post"},
    "empty": {"host": "nothing.invalid"},
    "hostile-path": {"path_prefix": HOSTILE_PATH},
    "hostile-host": {"host": HOSTILE_HOST},
    "sql-in-value": {"host": "x' OR '1'='1", "label": "') OR 1=1 --"},
    "wildcard-literal": {"path_prefix": "*"},
}


def _filter(t: Tiers, raw: dict[str, Any], **times: Any) -> Any:
    words = {"from": iso(t.start), "to": iso(t.end), **raw, **times}
    return build_filter(words, max_range=timedelta(days=400))


def _pages(t: Tiers, name: str, flt: Any, limit: int, fields: list[str] | None) -> list[Any]:
    out: list[Any] = []
    cursor = None
    while True:
        page = events(t.contexts[name], flt, limit=limit, cursor=cursor, fields=fields)
        out.append(page.events)
        cursor = page.next_cursor
        if cursor is None:
            return out


@pytest.mark.parametrize("case", ["all", "blocked"])
def test_events_every_field_paged_across_tiers(tiers: Tiers, case: str) -> None:
    """Every field of every event, page by page: the pages of the mixed copy cross from
    the hot day into the cold one and still equal the other copies' pages."""
    flt = _filter(tiers, FILTERS[case])
    hot = _pages(tiers, "hot", flt, 1000, ["*"])
    assert len(hot) > 1  # the cursor is exercised
    assert _pages(tiers, "cold", flt, 1000, ["*"]) == hot
    assert _pages(tiers, "mixed", flt, 1000, ["*"]) == hot
    flat = [e for page in hot for e in page]
    stamps = [(e["@timestamp"], e["event.id"]) for e in flat]
    assert stamps == sorted(stamps, reverse=True)
    assert len({e["event.id"] for e in flat}) == len(flat)


@pytest.mark.parametrize("case", sorted(set(FILTERS) - {"all"}))
def test_events_identical(tiers: Tiers, case: str) -> None:
    """The newest 1,000 (default fields) and the next page, for every filter."""
    flt = _filter(tiers, FILTERS[case])
    hot = events(tiers.contexts["hot"], flt, limit=1000)
    for name in ("cold", "mixed"):
        other = events(tiers.contexts[name], flt, limit=1000)
        assert (other.events, other.next_cursor) == (hot.events, hot.next_cursor), name
        if hot.next_cursor:
            after = events(tiers.contexts[name], flt, limit=1000, cursor=hot.next_cursor)
            expected = events(tiers.contexts["hot"], flt, limit=1000, cursor=hot.next_cursor)
            assert after.events == expected.events, name


def test_a_long_range_over_many_hot_days(tiers: Tiers) -> None:
    """Over 300 days the hot tier searches its indices by pattern (the request line would
    be too long otherwise) and still counts only its own days."""
    flt = _filter(tiers, {}, **{"from": "2025-01-01T00:00:00Z", "to": "2025-11-26T00:00:00Z"})
    narrow = _filter(tiers, {})
    for name in ("hot", "cold", "mixed"):
        ctx = tiers.contexts[name]
        assert top(ctx, flt, by="rule").buckets == top(ctx, narrow, by="rule").buckets
        assert timeline(ctx, flt, interval="1d").total == timeline(ctx, narrow, interval="1d").total


@pytest.mark.parametrize("by", ["rule", "label", "client_ip", "host"])
def test_whole_days(tiers: Tiers, by: str) -> None:
    """Midnight to midnight: the cold tier reads the partition date alone (no timestamp
    predicate) and folds the total into its one scan; the answers stay the hot ones."""
    days = {"from": "2025-11-24T00:00:00Z", "to": "2025-11-26T00:00:00Z"}
    for raw in ({}, {"action": "BLOCK"}, {"client_ip": "2001:db8::/32"}):
        flt = _filter(tiers, raw, **days)
        hot = top(tiers.contexts["hot"], flt, by=by, size=20)  # type: ignore[arg-type]
        for name in ("cold", "mixed"):
            other = top(tiers.contexts[name], flt, by=by, size=20)  # type: ignore[arg-type]
            assert (other.buckets, other.total, other.other) == (
                hot.buckets,
                hot.total,
                hot.other,
            ), (name, raw)
        assert hot.total > 0


@pytest.mark.parametrize("case", sorted(FILTERS))
@pytest.mark.parametrize(
    "by", ["rule", "client_ip", "path", "host", "country", "label", "webacl", "ja4"]
)
def test_top_identical(tiers: Tiers, case: str, by: str) -> None:
    flt = _filter(tiers, FILTERS[case])
    hot = top(tiers.contexts["hot"], flt, by=by, size=15)  # type: ignore[arg-type]
    for name in ("cold", "mixed"):
        other = top(tiers.contexts[name], flt, by=by, size=15)  # type: ignore[arg-type]
        assert other.buckets == hot.buckets, name
        assert (other.total, other.other) == (hot.total, hot.other), name


@pytest.mark.parametrize("case", sorted(FILTERS))
@pytest.mark.parametrize("interval", ["1m", "1h", "1d"])
def test_timeline_identical(tiers: Tiers, case: str, interval: str) -> None:
    flt = _filter(tiers, FILTERS[case])
    hot = timeline(tiers.contexts["hot"], flt, interval=interval)  # type: ignore[arg-type]
    for name in ("cold", "mixed"):
        other = timeline(tiers.contexts[name], flt, interval=interval)  # type: ignore[arg-type]
        assert other.buckets == hot.buckets, name


def test_the_data_covers_the_cases(tiers: Tiers) -> None:
    """The filters above are not vacuous: most of them match something."""
    ctx = tiers.contexts["cold"]
    matched = {
        case: top(ctx, _filter(tiers, raw), by="action").total for case, raw in FILTERS.items()
    }
    for case in ("empty", "sql-in-value", "wildcard-literal"):
        assert matched.pop(case) == 0, case
    assert matched["hostile-path"] == 1 and matched["hostile-host"] == 1
    assert matched["ipv6"] == 10 and matched["ipv6-host"] == 1
    assert matched["v4-mapped-net"] == matched["v4-from-mapped"] == 10
    assert all(n > 0 for n in matched.values()), matched
    plans = {name: ctx_plan(tiers, name) for name in tiers.contexts}
    assert plans["hot"] == (2, 0) and plans["cold"] == (0, 2) and plans["mixed"] == (1, 1)


def ctx_plan(t: Tiers, name: str) -> tuple[int, int]:
    plan = t.contexts[name].plan(_filter(t, {}))
    return len(plan.hot), len(plan.cold)


def test_range_edges_are_half_open(tiers: Tiers) -> None:
    """A record exactly at ``from`` is in, one exactly at ``to`` is out — in every tier."""
    edge = tiers.edges[10]
    request_id = edge["httpRequest"]["requestId"]
    at = datetime.fromtimestamp(edge["timestamp"] / 1000, UTC)
    just_after, minute_before = at + timedelta(milliseconds=1), at - timedelta(minutes=1)
    for name in ("hot", "cold", "mixed"):
        ctx = tiers.contexts[name]
        starting = events(ctx, _filter(tiers, {}, **{"from": iso(at), "to": iso(just_after)}))
        ending = events(ctx, _filter(tiers, {}, **{"from": iso(minute_before), "to": iso(at)}))
        assert request_id in {e.get("http.request.id") for e in starting.events}, name
        assert request_id not in {e.get("http.request.id") for e in ending.events}, name
        assert all(e["@timestamp"] < iso(at) for e in ending.events), name


def test_unicode_and_ipv6_values_come_back_verbatim(tiers: Tiers) -> None:
    flt = _filter(tiers, {"path_prefix": UNICODE_PATH})
    for name in ("hot", "cold"):
        found = events(tiers.contexts[name], flt, limit=100).events
        assert found and all(e["url.path"].startswith(UNICODE_PATH) for e in found)
        ips = {e["source.ip"] for e in found}
        assert "2001:db8::1" in ips and "10.9.5.1" in ips

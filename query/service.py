"""Query operations over both tiers: events, top, timeline.

Every operation plans the filter's days (:mod:`query.planner`), asks each tier for its
exact part and merges: events by ``(@timestamp, event.id)`` descending, counts by adding,
distinct client IPs by the union of the tiers' sets when a bucket spans both. Clients are
passed in through a :class:`QueryContext`; nothing is cached between calls.
"""

from __future__ import annotations

import base64
import binascii
import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opensearchpy import OpenSearch

from query.cold import ColdTier
from query.filters import Filter, FilterError, iso
from query.hot import HotTier, Key
from query.models import (
    INTERVAL_MS,
    TOP_FIELDS,
    EventsPage,
    Interval,
    TimelineBucket,
    TimelineResult,
    TopBucket,
    TopBy,
    TopResult,
)
from query.planner import TierPlan, ledger_cold_days, split_days
from wafsiem.schema import FIELDS, FIELDS_BY_NAME
from wafsiem.settings import QuerySettings, Settings

DEFAULT_FIELDS = (
    "@timestamp",
    "event.id",
    "waf.action",
    "waf.webacl.name",
    "waf.terminating_rule.id",
    "waf.terminating_rule.group_rule",
    "waf.labels",
    "source.ip",
    "source.geo.country_iso_code",
    "http.request.method",
    "url.domain",
    "url.path",
    "url.query",
    "user_agent.original",
    "http.request.id",
)


@dataclass
class QueryContext:
    opensearch: OpenSearch
    store: Any  # tiering.store.ColdStore
    index_prefix: str
    state_index: str
    limits: QuerySettings

    @classmethod
    def from_settings(cls, settings: Settings, opensearch: OpenSearch, store: Any) -> QueryContext:
        return cls(
            opensearch=opensearch,
            store=store,
            index_prefix=settings.opensearch.index_prefix,
            state_index=settings.opensearch.state_index,
            limits=settings.query,
        )

    def plan(self, flt: Filter) -> TierPlan:
        cold = ledger_cold_days(self.opensearch, self.state_index, self.index_prefix)
        return split_days(flt.days(), cold)

    def tiers(self, plan: TierPlan) -> tuple[HotTier, ColdTier]:
        return (
            HotTier(self.opensearch, self.index_prefix, plan.hot),
            ColdTier(self.store, plan.cold, self.limits.cold_threads),
        )


# --- events ------------------------------------------------------------------------------


def encode_cursor(stamp_ms: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([stamp_ms, event_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, event_id = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(stamp, int) or not isinstance(event_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise FilterError("cursor: not a cursor this API returned") from None
    return stamp, event_id


def select_fields(requested: list[str] | None) -> list[str] | None:
    """The fields to return (``None``: all); unknown names are a 422."""
    if not requested:
        return list(DEFAULT_FIELDS)
    if requested == ["*"]:
        return None
    unknown = [name for name in requested if name not in FIELDS_BY_NAME]
    if unknown:
        raise FilterError(
            f"fields: unknown field {unknown[0][:80]!r}",
            hint="fields are schema names such as url.path, source.ip (see docs/schema.md)",
        )
    return list(dict.fromkeys(requested))


def flat_fields(document: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """The dotted fields of a nested document; absent, null and empty values left out."""
    names = fields if fields is not None else [spec.name for spec in FIELDS]
    out: dict[str, Any] = {}
    for name in names:
        node: Any = document
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if node is None or node == []:
            continue
        if FIELDS_BY_NAME[name].multi and not isinstance(node, list):
            node = [node]
        out[name] = node
    return out


def events(
    ctx: QueryContext,
    flt: Filter,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    fields: list[str] | None = None,
) -> EventsPage:
    """Newest first; ``next_cursor`` continues with older events across both tiers."""
    limit = limit or ctx.limits.default_limit
    if not 1 <= limit <= ctx.limits.max_limit:
        raise FilterError(f"limit: must be between 1 and {ctx.limits.max_limit}")
    after = decode_cursor(cursor) if cursor else None
    wanted = select_fields(fields)
    plan = ctx.plan(flt)
    hot, cold = ctx.tiers(plan)
    with cold:  # one DuckDB view for the whole operation
        source = None if wanted is None else sorted({*wanted, "@timestamp", "event.id"})
        found = heapq.merge(
            hot.events(flt, limit, after, source),
            cold.events(flt, limit, after, source),
            key=lambda item: (item[0], item[1]),
            reverse=True,
        )
        page = list(found)[:limit]
        next_cursor = encode_cursor(page[-1][0], page[-1][1]) if len(page) == limit else None
        return EventsPage(
            events=[flat_fields(doc, wanted) for _, _, doc in page],
            next_cursor=next_cursor,
            filter=flt.describe(),
            plan=plan.model(),
        )


# --- top ---------------------------------------------------------------------------------


def _key_text(key: Key) -> str:
    return ":".join(part for part in key if part is not None)


def _rank(item: tuple[Key, int]) -> tuple[int, str, tuple[str, ...]]:
    key, n = item
    return -n, _key_text(key), tuple(part or "" for part in key)


def top(ctx: QueryContext, flt: Filter, *, by: TopBy = "rule", size: int = 10) -> TopResult:
    """Exact counts per key, largest first (ties by key), with distinct client IPs."""
    if by not in TOP_FIELDS:
        raise FilterError(f"by: {by!r} is not one of {', '.join(TOP_FIELDS)}")
    if not 1 <= size <= ctx.limits.max_top_size:
        raise FilterError(f"size: must be between 1 and {ctx.limits.max_top_size}")
    fields = TOP_FIELDS[by]
    plan = ctx.plan(flt)
    hot, cold = ctx.tiers(plan)
    with cold:  # one DuckDB view for the whole operation
        with_ips = by != "client_ip"  # a client_ip bucket has exactly one
        counts: dict[Key, int] = {}
        ips: dict[Key, int] = {}
        total: int | None = None
        if plan.cold and not plan.hot:
            found, total = cold.counts_ips_total(flt, fields)
            for key, (n, distinct) in found.items():
                counts[key], ips[key] = n, distinct
        else:
            for tier_counts in (hot.counts(flt, fields), cold.counts(flt, fields)):
                for key, n in tier_counts.items():
                    counts[key] = counts.get(key, 0) + n
        ranked = sorted(counts.items(), key=_rank)[:size]
        chosen = [key for key, _ in ranked]
        if with_ips and chosen and plan.hot:
            # exact: the union of the tiers' address sets (a cardinality sketch is not)
            union = hot.ip_sets(flt, fields, chosen)
            for key, values in cold.ip_sets(flt, fields, chosen).items():
                union.setdefault(key, set()).update(values)
            ips = {key: len(values) for key, values in union.items()}
        if total is None:
            total = hot.total(flt) + cold.total(flt)
        buckets = [
            TopBucket(
                key=_key_text(key),
                values=list(key),
                count=n,
                client_ips=ips.get(key, 0) if with_ips else 1,
            )
            for key, n in ranked
        ]
        return TopResult(
            by=by,
            fields=list(fields),
            buckets=buckets,
            total=total,
            other=sum(counts.values()) - sum(n for _, n in ranked),
            filter=flt.describe(),
            plan=plan.model(),
        )


# --- timeline ----------------------------------------------------------------------------


def timeline(ctx: QueryContext, flt: Filter, *, interval: Interval = "1h") -> TimelineResult:
    """Documents per interval (aligned to the epoch, UTC) split by action, zero-filled."""
    if interval not in INTERVAL_MS:
        raise FilterError(f"interval: {interval!r} is not one of {', '.join(INTERVAL_MS)}")
    step = INTERVAL_MS[interval]
    first = int(flt.start.timestamp() * 1000) // step * step
    end = int(flt.end.timestamp() * 1000)
    count = -(-(end - first) // step)
    if count > ctx.limits.max_timeline_buckets:
        raise FilterError(
            f"interval: {interval} over this range is {count} buckets, more than "
            f"{ctx.limits.max_timeline_buckets}",
            hint="use a larger interval or a shorter range",
        )
    plan = ctx.plan(flt)
    hot, cold = ctx.tiers(plan)
    with cold:  # one DuckDB view for the whole operation
        merged: dict[int, dict[str, int]] = {}
        for part in (hot.timeline(flt, step), cold.timeline(flt, step)):
            for (stamp, action), n in part.items():
                actions = merged.setdefault(stamp, {})
                actions[action] = actions.get(action, 0) + n
        buckets = []
        for i in range(count):
            stamp = first + i * step
            actions = dict(sorted(merged.get(stamp, {}).items()))
            when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=stamp)
            buckets.append(
                TimelineBucket(time=iso(when), total=sum(actions.values()), actions=actions)
            )
        return TimelineResult(
            interval=interval,
            buckets=buckets,
            total=sum(b.total for b in buckets),
            filter=flt.describe(),
            plan=plan.model(),
        )

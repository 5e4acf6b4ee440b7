"""Pydantic models of query answers, shared by the CLI, the API and the detector."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TopBy = Literal[
    "rule", "client_ip", "path", "host", "country", "label", "webacl", "action", "method", "ja4"
]
Interval = Literal["1m", "5m", "15m", "1h", "6h", "1d"]

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "6h": 21_600_000,
    "1d": 86_400_000,
}

# `top --by` word -> the key field(s); a bucket's key joins them with ':'
TOP_FIELDS: dict[str, tuple[str, ...]] = {
    "rule": ("waf.terminating_rule.id", "waf.terminating_rule.group_rule"),
    "client_ip": ("source.ip",),
    "path": ("url.path",),
    "host": ("url.domain",),
    "country": ("source.geo.country_iso_code",),
    "label": ("waf.labels",),
    "webacl": ("waf.webacl.name",),
    "action": ("waf.action",),
    "method": ("http.request.method",),
    "ja4": ("tls.client.ja4",),
}


class Plan(BaseModel):
    """Which tier answers which day: never both for the same day."""

    hot_days: list[str] = Field(default_factory=list)
    cold_days: list[str] = Field(default_factory=list)


class EventsPage(BaseModel):
    events: list[dict[str, Any]]
    next_cursor: str | None = Field(
        default=None, description="pass as cursor for the next (older) page; null at the end"
    )
    filter: dict[str, Any]
    plan: Plan


class TopBucket(BaseModel):
    key: str
    values: list[str | None] = Field(description="the key's field values, in TOP_FIELDS order")
    count: int
    client_ips: int = Field(description="distinct source.ip in the bucket")


class TopResult(BaseModel):
    by: TopBy
    fields: list[str]
    buckets: list[TopBucket]
    total: int = Field(description="documents matching the filter")
    other: int = Field(description="documents counted in buckets beyond the size")
    filter: dict[str, Any]
    plan: Plan


class TimelineBucket(BaseModel):
    time: str
    total: int
    actions: dict[str, int]


class TimelineResult(BaseModel):
    interval: Interval
    buckets: list[TimelineBucket]
    total: int
    filter: dict[str, Any]
    plan: Plan

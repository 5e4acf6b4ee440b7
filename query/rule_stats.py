"""Per-rule statistics over both tiers, for triage and the detector.

A rule key is ``(web ACL ARN, web ACL name, terminating rule, group rule)``. Every answer
is exact and made the same way in both tiers: documents per (key, value) of one
dimension — composite aggregations paged to the end in OpenSearch, ``GROUP BY`` in
DuckDB — added up across the planner's days, so the hot and the cold tier give the
same numbers for the same documents. Derived figures (distinct client IPs, countries,
top shares) are computed from those exact counts in Python.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple

from query.filters import Filter, RuleRef
from query.service import QueryContext, events

KEY_FIELDS = (
    "waf.webacl.arn",
    "waf.webacl.name",
    "waf.terminating_rule.id",
    "waf.terminating_rule.group_rule",
)
# dimension word -> schema field
DIMENSIONS: dict[str, str] = {
    "client_ip": "source.ip",
    "country": "source.geo.country_iso_code",
    "host": "url.domain",
    "path": "url.path",
    "query": "url.query",
    "user_agent": "user_agent.original",
    "ja4": "tls.client.ja4",
    "method": "http.request.method",
}
IP_CHUNK = 10_000  # addresses per terms query / IN list


class RuleKey(NamedTuple):
    webacl_arn: str
    webacl: str | None
    rule: str | None
    sub_rule: str | None

    def ref(self) -> RuleRef:
        return RuleRef(self.rule or "", self.sub_rule)

    def label(self) -> str:
        return f"{self.rule}:{self.sub_rule}" if self.sub_rule else str(self.rule)


Breakdown = dict[RuleKey, Counter[str | None]]


def _key(values: Iterable[str | None]) -> RuleKey:
    arn, name, rule, sub_rule = values
    return RuleKey(str(arn), name, rule, sub_rule)


def normalise_ip(value: str | None) -> str | None:
    """One spelling per address (both tiers' sets are compared and joined)."""
    if value is None:
        return None
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return value


def rule_counts(ctx: QueryContext, flt: Filter) -> dict[RuleKey, int]:
    """Documents per rule key (documents without a web ACL ARN are not counted)."""
    plan = ctx.plan(flt)
    hot, cold = ctx.tiers(plan)
    out: Counter[RuleKey] = Counter()
    with cold:
        for tier in (hot, cold):
            for values, n in tier.counts(flt, KEY_FIELDS).items():
                out[_key(values)] += n
    return dict(out)


def rule_breakdowns(
    ctx: QueryContext, flt: Filter, dimensions: Iterable[str]
) -> dict[str, Breakdown]:
    """For each dimension word, documents per (rule key, value); absent values are None."""
    plan = ctx.plan(flt)
    hot, cold = ctx.tiers(plan)
    out: dict[str, Breakdown] = {}
    with cold:  # one DuckDB view for all dimensions
        for word in dimensions:
            field = DIMENSIONS[word]
            found: Breakdown = {}
            for tier in (hot, cold):
                for values, n in tier.counts(flt, (*KEY_FIELDS, field)).items():
                    value = values[-1]
                    if word == "client_ip":
                        value = normalise_ip(value)
                    found.setdefault(_key(values[:-1]), Counter())[value] += n
            out[word] = found
    return out


def ips_matching(ctx: QueryContext, flt: Filter, ips: Iterable[str]) -> set[str]:
    """Those of ``ips`` with at least one document matching ``flt`` (e.g. ALLOW before)."""
    wanted = sorted({ip for ip in (normalise_ip(i) for i in ips) if ip is not None})
    if not wanted:
        return set()
    plan = ctx.plan(flt)
    hot, cold = ctx.tiers(plan)
    found: set[str] = set()
    with cold:
        for start in range(0, len(wanted), IP_CHUNK):
            chunk = wanted[start : start + IP_CHUNK]
            found.update(hot.values_among(flt, "source.ip", chunk))
            found.update(cold.values_among(flt, "source.ip", chunk))
    return {ip for ip in (normalise_ip(i) for i in found) if ip is not None}


def sample_request_ids(ctx: QueryContext, flt: Filter, key: RuleKey, size: int) -> list[str]:
    """The newest ``size`` request ids the rule key terminated within ``flt``."""
    narrowed = replace(flt, webacl=(key.webacl_arn,), rule=(key.ref(),))
    page = events(ctx, narrowed, limit=size, fields=["http.request.id", "waf.terminating_rule.id"])
    out = []
    for event in page.events:
        if event.get("waf.terminating_rule.id") != key.rule:
            continue  # the rule word also matches group rules of that name
        if event.get("http.request.id"):
            out.append(str(event["http.request.id"]))
    return out

"""Triage: which rules block what, right now, against their own baseline.

For each (web ACL, rule, group rule) that terminated requests in the filter's window:
blocks, blocks in a baseline window (by default the same length immediately before),
the spike ratio (rates per second, so baselines of another length compare), distinct
client IPs and countries, the top client IP's share, top hosts and paths, and a few
sample request ids. Everything comes from :mod:`query.rule_stats`, so hot and cold days
give the same, exact numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from query.filters import Filter, FilterError, iso
from query.rule_stats import RuleKey, rule_breakdowns, rule_counts, sample_request_ids
from query.service import QueryContext
from rules_admin.models import TopClient, TriageResult, TriageRule, ValueCount

BLOCKING = ("BLOCK",)
DIMENSIONS = ("client_ip", "country", "host", "path")
_DURATION = re.compile(r"^(\d{1,6})\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str, *, word: str = "duration") -> timedelta:
    """``90s``, ``5m``, ``24h``, ``7d`` (a positive whole number and a unit)."""
    match = _DURATION.match(value.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise FilterError(f"{word}: {value[:40]!r} is not a duration", hint="e.g. 30m, 24h, 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def blocking(flt: Filter) -> Filter:
    """The filter with ``action=BLOCK`` unless it names actions itself (e.g. CAPTCHA)."""
    return flt if flt.action else replace(flt, action=BLOCKING)


def baseline_of(flt: Filter, length: timedelta | None = None) -> Filter:
    """The window of ``length`` (default: the filter's own length) right before ``flt``."""
    length = length or (flt.end - flt.start)
    return flt.with_range(flt.start - length, flt.start)


def spike_ratio(
    blocks: int, seconds: float, baseline_blocks: int, baseline_seconds: float
) -> float | None:
    if baseline_blocks <= 0 or seconds <= 0 or baseline_seconds <= 0:
        return None
    return round((blocks / seconds) / (baseline_blocks / baseline_seconds), 3)


def top_values(counts: Counter[str | None], size: int) -> list[ValueCount]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    return [ValueCount(value=v, count=n) for v, n in ranked[:size]]


def top_client(counts: Counter[str | None], blocks: int) -> TopClient | None:
    ranked = top_values(counts, 1)
    if not ranked or blocks <= 0:
        return None
    ip, n = ranked[0].value, ranked[0].count
    return TopClient(ip=ip, count=n, share=round(n / blocks, 4))


def _rank(item: tuple[RuleKey, int]) -> tuple[int, str, str, str]:
    key, n = item
    return -n, key.webacl or key.webacl_arn, key.rule or "", key.sub_rule or ""


def triage_rules(
    ctx: QueryContext,
    flt: Filter,
    *,
    baseline: timedelta | None = None,
    size: int = 20,
    top: int = 5,
    samples: int = 5,
) -> TriageResult:
    """The ``size`` rules with the most blocks in ``flt``'s window, with their breadth."""
    window = blocking(flt)
    before = baseline_of(window, baseline)
    counts = rule_counts(ctx, window)
    baseline_counts = rule_counts(ctx, before)
    chosen = sorted(counts.items(), key=_rank)[:size]
    parts = rule_breakdowns(ctx, window, DIMENSIONS) if chosen else {}
    seconds = (window.end - window.start).total_seconds()
    baseline_seconds = (before.end - before.start).total_seconds()
    rules = []
    for key, blocks in chosen:
        by = {word: parts[word].get(key, Counter()) for word in DIMENSIONS}
        base = baseline_counts.get(key, 0)
        rules.append(
            TriageRule(
                webacl=key.webacl,
                webacl_arn=key.webacl_arn,
                rule=key.rule,
                sub_rule=key.sub_rule,
                blocks=blocks,
                baseline_blocks=base,
                spike_ratio=spike_ratio(blocks, seconds, base, baseline_seconds),
                client_ips=sum(1 for ip in by["client_ip"] if ip is not None),
                countries=sum(1 for c in by["country"] if c is not None),
                top_client_ip=top_client(by["client_ip"], blocks),
                top_hosts=top_values(by["host"], top),
                top_paths=top_values(by["path"], top),
                sample_request_ids=sample_request_ids(ctx, window, key, samples) if samples else [],
            )
        )
    return TriageResult(
        filter=window.describe(),
        baseline={"from": iso(before.start), "to": iso(before.end)},
        total_blocks=sum(counts.values()),
        rules=rules,
    )
